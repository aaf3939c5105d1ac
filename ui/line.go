package ui

import (
	"time"

	"nrfline/station"
)

// line is the TUI's picture of the fixture, built from events only.
type line struct {
	slots []*slotView
	index map[string]int
	// ignored is the last probe that belongs to no slot, for the footer.
	ignored string
}

// slotView is one slot: its state as the engine last described it plus
// what the detail view shows of the current (or last) run.
type slotView struct {
	st       station.SlotStatus
	progress string // the text of the last progress report
	steps    []station.StepResult
	at       ring // AT transcript (tx/rx), secrets redacted by the engine
	log      ring // the unit's log lines, tool output and notes
}

// How many lines of a run the detail view keeps.
const (
	atLines  = 200
	logLines = 200
)

func newLine() *line { return &line{index: map[string]int{}} }

// slot returns the named slot, adding it at the end when it is new (the
// engine's first snapshot comes in configuration order).
func (l *line) slot(name string) *slotView {
	if i, ok := l.index[name]; ok {
		return l.slots[i]
	}
	s := &slotView{st: station.SlotStatus{Slot: station.Slot{Name: name}, State: station.SlotEmpty},
		at: newRing(atLines), log: newRing(logLines)}
	l.index[name] = len(l.slots)
	l.slots = append(l.slots, s)
	return s
}

// running counts the slots with a run going on.
func (l *line) running() int {
	n := 0
	for _, s := range l.slots {
		if s.st.State == station.SlotRunning {
			n++
		}
	}
	return n
}

// apply folds one event into the picture and reports whether it was a
// verdict (the bell rings for it).
func (l *line) apply(ev station.Event) (verdict bool) {
	if ev.Kind == station.DeviceIgnored {
		if ev.Device != nil {
			l.ignored = ev.Device.Probe
		}
		return false
	}
	if ev.Slot == "" {
		return false
	}
	s := l.slot(ev.Slot)
	switch ev.Kind {
	case station.SlotChanged:
		if ev.Status != nil {
			s.setStatus(*ev.Status)
		}
	case station.SlotAttached:
		if s.st.State == station.SlotEmpty {
			s.st.State, s.st.Since = station.SlotPresent, ev.Time
		}
	case station.SlotDetached:
		s.st.State, s.st.Since, s.st.Device, s.st.Identity = station.SlotEmpty, ev.Time, nil, nil
	case station.RunStarted:
		s.newRun(ev.Run)
		s.st.State, s.st.Started, s.st.Since = station.SlotRunning, ev.Time, ev.Time
	case station.UnitIdentified:
		s.st.Identity = ev.Identity
	case station.StepStarted:
		s.st.Step, s.st.Since, s.st.Percent, s.progress = ev.Step, ev.Time, 0, ""
	case station.StepProgress:
		s.st.Percent, s.progress = ev.Percent, ev.Text
	case station.ToolOutput:
		s.log.add(ev.Time, "tool", ev.Text)
	case station.DeviceLine:
		if ev.Dir == station.DirLog {
			s.log.add(ev.Time, "log", ev.Text)
		} else {
			s.at.add(ev.Time, ev.Dir, ev.Text)
		}
	case station.Note:
		s.log.add(ev.Time, "note", ev.Text)
	case station.StepFinished:
		if ev.Result != nil {
			s.steps = append(s.steps, *ev.Result)
		}
	case station.VerdictReached:
		if ev.Verdict != nil {
			v := *ev.Verdict
			s.st.Last, s.st.State, s.st.Since = &v, station.SlotDone, ev.Time
			return true
		}
	}
	return false
}

// setStatus takes the engine's whole description of the slot; a new run
// clears the previous run's detail.
func (s *slotView) setStatus(st station.SlotStatus) {
	if st.Run != "" && st.Run != s.st.Run {
		s.newRun(st.Run)
	}
	if st.Step != s.st.Step {
		s.progress = ""
	}
	s.st = st
}

func (s *slotView) newRun(run string) {
	if run == s.st.Run && run != "" {
		return
	}
	s.st.Run = run
	s.steps = s.steps[:0]
	s.progress = ""
	s.at.reset()
	s.log.reset()
}

// elapsed is how long the slot's run took or has taken so far.
func (s *slotView) elapsed(now time.Time) time.Duration {
	switch {
	case s.st.State == station.SlotRunning && !s.st.Started.IsZero():
		return now.Sub(s.st.Started)
	case s.st.Last != nil && !s.st.Last.Started.IsZero() && !s.st.Last.Ended.IsZero():
		return s.st.Last.Ended.Sub(s.st.Last.Started)
	}
	return 0
}

// imei is the unit's IMEI, from the run or its verdict.
func (s *slotView) imei() string {
	if s.st.Identity != nil && s.st.Identity.IMEI != "" {
		return s.st.Identity.IMEI
	}
	if s.st.Last != nil && s.showsVerdict() {
		return s.st.Last.IMEI
	}
	return ""
}

// showsVerdict says whether the card shows the last verdict: it stays
// until the next unit arrives (PRESENT) or runs, also after the unit is
// taken out.
func (s *slotView) showsVerdict() bool {
	if s.st.Last == nil {
		return false
	}
	return s.st.State == station.SlotDone || s.st.State == station.SlotEmpty
}

// ring keeps the last n lines.
type ring struct {
	lines []logLine
	next  int
	full  bool
}

type logLine struct {
	at   time.Time
	kind string // tx, rx, log, tool, note
	text string
}

func newRing(n int) ring { return ring{lines: make([]logLine, n)} }

func (r *ring) add(at time.Time, kind, text string) {
	r.lines[r.next] = logLine{at, kind, text}
	r.next++
	if r.next == len(r.lines) {
		r.next, r.full = 0, true
	}
}

func (r *ring) reset() { r.next, r.full = 0, false }

// last returns up to n of the newest lines, oldest first.
func (r *ring) last(n int) []logLine {
	size := r.next
	if r.full {
		size = len(r.lines)
	}
	n = min(n, size)
	out := make([]logLine, 0, n)
	for i := size - n; i < size; i++ {
		j := i
		if r.full {
			j = (r.next + i) % len(r.lines)
		}
		out = append(out, r.lines[j])
	}
	return out
}
