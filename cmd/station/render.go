package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"nrfline/station"
)

// renderer prints the event stream for people (one line per step
// boundary and verdict) or as JSON lines for integrators.
type renderer struct {
	w       *errWriter
	json    bool
	verbose bool
	enc     *json.Encoder
	last    map[string]string // last printed progress mark (phase and quarter) per slot
	zoned   bool              // the time zone line was printed
	tally   map[station.Outcome]int
	backlog func() int // runs not yet shipped to [central]; nil without it
}

// verdictLine is a verdict event of `batch --json` with the central backlog.
type verdictLine struct {
	station.Event
	CentralBacklog int `json:"central_backlog"`
}

func newRenderer(w io.Writer, asJSON, verbose bool) *renderer {
	ew := &errWriter{w: w}
	return &renderer{w: ew, json: asJSON, verbose: verbose, enc: json.NewEncoder(ew), last: map[string]string{}, tally: map[station.Outcome]int{}}
}

// errWriter keeps the first write error: an integrator reading --json from
// a pipe that broke must learn from the exit code that it missed events.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

// Err is the first error writing the output, if any.
func (r *renderer) Err() error { return r.w.err }

func (r *renderer) render(ev station.Event) {
	if ev.Kind == station.VerdictReached {
		r.tally[ev.Verdict.Outcome]++
	}
	if r.json {
		var v any = ev
		if ev.Kind == station.VerdictReached && r.backlog != nil {
			// An integrator sees after every verdict how many runs still
			// wait for the line-wide records.
			v = verdictLine{Event: ev, CentralBacklog: r.backlog()}
		}
		if err := r.enc.Encode(v); err != nil && r.w.err == nil {
			r.w.err = err // not a write error: an event that cannot be encoded
		}
		return
	}
	if !r.zoned {
		// Times on screen are local; say which zone once, up front.
		r.zoned = true
		fmt.Fprintf(r.w, "times are local: %s\n", ev.Time.Local().Format("MST (UTC-07:00)"))
	}
	ts := ev.Time.Local().Format("15:04:05")
	switch ev.Kind {
	case station.SlotAttached:
		fmt.Fprintf(r.w, "%s %-4s unit present (probe %s)\n", ts, ev.Slot, dash(ev.Text))
	case station.SlotDetached:
		fmt.Fprintf(r.w, "%s %-4s unit removed\n", ts, ev.Slot)
	case station.SlotChanged:
		if st := ev.Status; st.State == station.SlotLockedSt || st.State == station.SlotDisabled {
			fmt.Fprintf(r.w, "%s %-4s slot %s: %s\n", ts, ev.Slot, st.State, st.Reason)
		}
	case station.DeviceIgnored:
		fmt.Fprintf(r.w, "%s      %s\n", ts, ev.Text)
	// A few lines per unit: step starts and progress only with -v (the
	// flash tool's percentages were 40% of a demo's output).
	case station.StepStarted:
		delete(r.last, ev.Slot)
		if r.verbose {
			fmt.Fprintf(r.w, "%s %-4s %-9s ...\n", ts, ev.Slot, ev.Step)
		}
	case station.StepProgress:
		// One line per phase and quarter: enough to see it move.
		if mark := fmt.Sprintf("%s/%d", ev.Text, ev.Percent/25); r.verbose && mark != r.last[ev.Slot] {
			r.last[ev.Slot] = mark
			fmt.Fprintf(r.w, "%s %-4s %-9s %3d%% %s\n", ts, ev.Slot, ev.Step, ev.Percent, ev.Text)
		}
	case station.UnitIdentified:
		id := ev.Identity
		fmt.Fprintf(r.w, "%s %-4s %-9s IMEI %s  modem %s  ICCID %s\n", ts, ev.Slot, ev.Step, id.IMEI, id.ModemFW, dash(id.ICCID))
	case station.StepFinished:
		res := ev.Result
		line := fmt.Sprintf("%s %-4s %-9s %s in %s", ts, ev.Slot, ev.Step, res.Outcome, res.Duration().Round(10*time.Millisecond))
		if res.Code != "" {
			line += "  " + string(res.Code)
		}
		fmt.Fprintln(r.w, line)
	case station.Note:
		fmt.Fprintf(r.w, "%s %-4s %-9s note: %s\n", ts, ev.Slot, ev.Step, ev.Text)
	case station.VerdictReached:
		r.verdict(ts, ev.Verdict)
	case station.ToolOutput, station.DeviceLine:
		if r.verbose {
			fmt.Fprintf(r.w, "%s %-4s %-9s %s %s\n", ts, ev.Slot, ev.Step, arrow(ev), strings.TrimRight(ev.Text, "\r\n"))
		}
	}
}

func (r *renderer) verdict(ts string, v *station.Verdict) {
	fmt.Fprintf(r.w, "%s %-4s ==> %s", ts, v.Slot, v.Outcome)
	if v.IMEI != "" {
		fmt.Fprintf(r.w, "  IMEI %s", v.IMEI)
	}
	if v.Outcome != station.Pass {
		fmt.Fprintf(r.w, "  %s at %s\n%s %-4s     %s\n%s %-4s     detail: %s", v.Code, v.Step, ts, v.Slot, v.Hint, ts, v.Slot, v.Detail)
	} else {
		fmt.Fprintf(r.w, "  in %s  (recorded as run %s)", v.Ended.Sub(v.Started).Round(100*time.Millisecond), v.Run)
	}
	fmt.Fprintln(r.w)
}

func arrow(ev station.Event) string {
	switch ev.Dir {
	case station.DirTx:
		return ">>"
	case station.DirRx:
		return "<<"
	case station.DirLog:
		return "  "
	}
	return "|"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func printSummary(w io.Writer, verdicts []station.Verdict) {
	if len(verdicts) == 0 {
		return
	}
	counts := map[station.Outcome]int{}
	for _, v := range verdicts {
		counts[v.Outcome]++
	}
	fmt.Fprintf(w, "\n%d unit(s): %d PASS, %d FAIL, %d ERROR, %d ABORTED\n", len(verdicts),
		counts[station.Pass], counts[station.Fail], counts[station.Errored], counts[station.Aborted])
	for _, v := range verdicts {
		fmt.Fprintf(w, "  %s\n", v.Describe())
	}
}

// summaryEvent is the last JSON line of `batch --json` (docs/events.md).
type summaryEvent struct {
	Kind     string            `json:"kind"` // always "summary"
	Time     time.Time         `json:"time"`
	Units    int               `json:"units"`
	Pass     int               `json:"pass"`
	Fail     int               `json:"fail"`
	Error    int               `json:"error"`
	Aborted  int               `json:"aborted"`
	ExitCode int               `json:"exit_code"`
	Verdicts []station.Verdict `json:"verdicts"`
	// CentralBacklog is how many finished runs were not yet shipped to the
	// line-wide records when batch ended (absent without [central]).
	CentralBacklog *int `json:"central_backlog,omitempty"`
}

// summary ends the output: one summary event in JSON, else the human
// table. The counts are of every verdict shown; verdicts lists them for
// --once and --count (a continuous run does not keep them all).
func (r *renderer) summary(verdicts []station.Verdict, exit int) {
	t := r.tally
	if !r.json {
		printSummary(r.w, verdicts)
		return
	}
	s := summaryEvent{Kind: "summary", Time: time.Now(), Units: t[station.Pass] + t[station.Fail] + t[station.Errored] + t[station.Aborted],
		Pass: t[station.Pass], Fail: t[station.Fail], Error: t[station.Errored], Aborted: t[station.Aborted],
		ExitCode: exit, Verdicts: verdicts}
	if s.Verdicts == nil {
		s.Verdicts = []station.Verdict{}
	}
	if r.backlog != nil {
		n := r.backlog()
		s.CentralBacklog = &n
	}
	if err := r.enc.Encode(s); err != nil && r.w.err == nil {
		r.w.err = err
	}
}
