package ui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/viewport"

	"nrfline/station"
)

// detail is one slot's run: the verdict with its hint, the step timeline
// with durations, the AT transcript (secrets redacted by the engine) and
// the unit's last log lines. It scrolls.
type detail struct {
	slot string
	vp   viewport.Model
}

// How many transcript and log lines the detail shows.
const (
	detailAT  = 40
	detailLog = 40
)

func newDetail() detail { return detail{vp: viewport.New()} }

func (d *detail) open(slot string) {
	d.slot = slot
	d.vp.SetYOffset(0)
}

func (d *detail) setSize(w, h int) {
	d.vp.SetWidth(w)
	d.vp.SetHeight(h)
}

func (d *detail) view(s *slotView, st *styles, now time.Time) string {
	d.vp.SetContentLines(detailLines(s, st, now, d.vp.Width()))
	return d.vp.View()
}

func detailLines(s *slotView, st *styles, now time.Time, w int) []string {
	var out []string
	add := func(l ...string) { out = append(out, l...) }
	lk := lookOf(s)
	head := st.sel.on(" " + s.st.Slot.Name + " ")
	head += "  " + st.state[lk].on(stateWord(s, lk))
	if imei := s.imei(); imei != "" {
		head += "  IMEI " + imei
	}
	if s.st.Run != "" {
		head += st.dim.on("  run " + s.st.Run)
	}
	add(head, "")

	add(st.title.on("VERDICT"))
	if v := s.st.Last; v != nil && (lk != lookRunning) {
		line := st.state[lookOf(s)].on(verdictWord(v.Outcome))
		if v.Code != "" {
			line += "  " + string(v.Code)
		}
		if v.Step != "" {
			line += " at " + string(v.Step)
		}
		if !v.Started.IsZero() && !v.Ended.IsZero() {
			line += "  (" + clock(v.Ended.Sub(v.Started)) + ")"
		}
		add(line)
		hint := v.Hint
		if hint == "" {
			hint = v.Code.Hint()
		}
		if hint != "" {
			add(wrapLines("Hint: "+hint, w-2, 6)...)
		}
		if v.Detail != "" {
			add(st.dim.on(fit("detail: "+v.Detail, w-2)))
		}
	} else if lk == lookRunning {
		add(fmt.Sprintf("running: %s, %s", stepWord(s.st.Step), clock(s.elapsed(now))))
	} else {
		add(st.dim.on("no verdict yet"))
	}
	add("", st.title.on("STEPS"))
	for _, r := range s.steps {
		mark := "✔"
		if r.Outcome != station.Pass {
			mark = "✘"
		}
		l := fmt.Sprintf("%s %-10s %8s", mark, r.Step, seconds(r.Duration()))
		if r.Code != "" {
			l += "  " + string(r.Code)
		}
		if r.Detail != "" {
			l += "  " + r.Detail
		}
		add(fit(l, w-2))
	}
	if s.st.State == station.SlotRunning && s.st.Step != "" {
		add(fmt.Sprintf("▶ %-10s %8s  running", s.st.Step, seconds(now.Sub(s.st.Since))))
	}
	if len(s.steps) == 0 && s.st.State != station.SlotRunning {
		add(st.dim.on("no steps"))
	}
	add("", st.title.on(fmt.Sprintf("AT TRANSCRIPT (last %d lines, secrets redacted)", detailAT)))
	add(transcript(s.at.last(detailAT), w)...)
	add("", st.title.on(fmt.Sprintf("DEVICE LOG (last %d lines)", detailLog)))
	add(transcript(s.log.last(detailLog), w)...)
	return out
}

func transcript(lines []logLine, w int) []string {
	if len(lines) == 0 {
		return []string{"  —"}
	}
	out := make([]string, len(lines))
	arrow := map[string]string{station.DirTx: "→", station.DirRx: "←", "log": "·", "tool": "⚙", "note": "!"}
	for i, l := range lines {
		out[i] = fit(fmt.Sprintf("  %s %s %s", l.at.Format("15:04:05.000"), arrow[l.kind], l.text), w)
	}
	return out
}

func verdictWord(o station.Outcome) string {
	switch o {
	case station.Pass:
		return "✔ PASS"
	case station.Fail:
		return "✘ FAIL"
	case station.Aborted:
		return "■ ABORTED"
	}
	return "! " + string(o)
}

func seconds(d time.Duration) string {
	return fmt.Sprintf("%.1fs", d.Seconds())
}

// helpLines is the '?' screen: every key, and what the cards mean.
func helpLines(st *styles, k keyMap) string {
	var b strings.Builder
	b.WriteString(st.title.on("KEYS") + "\n")
	st.help.ShowAll = true
	b.WriteString(st.help.View(gridKeys{k}) + "\n\n")
	b.WriteString(st.title.on("CARDS") + "\n")
	for _, l := range []string{
		"✔ PASS      the unit is provisioned and recorded: take it out",
		"✘ FAIL      the unit failed: code and hint on the card, Enter for the detail",
		"! ERROR     the station or the fixture failed, not the unit: see the hint",
		"■ ABORTED   the run was stopped: re-test the unit",
		"FLASHING …  a run is going on; IMEI and time below",
		"LOCKED      the slot failed several units in a row: check it, then d",
		"DISABLED    taken out of service: d enables it",
		"",
		"A verdict stays on the card until the next unit arrives.",
	} {
		b.WriteString(l + "\n")
	}
	return b.String()
}
