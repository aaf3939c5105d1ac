package records

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteSummary renders a summary as text tables for people.
func WriteSummary(w io.Writer, s *Summary) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "Runs started %s\n\n", windowText(s.Since, s.Until))
	tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "runs\t%d\t(%d PASS, %d FAIL, %d ERROR, %d ABORTED; %d still running)\n", s.Runs, s.Pass, s.Fail, s.Error, s.Aborted, s.Running)
	if s.Units == 0 && s.Unidentified > 0 {
		// Every run failed before the IMEI was read: no unit is known.
		fmt.Fprintf(tw, "units\t0\t(no run got as far as reading an IMEI: %d run(s) failed before identify)\n", s.Unidentified)
	} else {
		fmt.Fprintf(tw, "units\t%d\t(%d first tested in this window; %d runs before identify, not counted as units)\n", s.Units, s.FirstTested, s.Unidentified)
	}
	fmt.Fprintf(tw, "first-pass yield\t%s\t(%d of %d units passed their first run)\n", pct(s.FirstPassYield), s.FirstPass, s.FirstTested)
	fmt.Fprintf(tw, "yield\t%s\t(%d of %d units have passed, retests included)\n", pct(s.Yield), s.EventuallyPassed, s.FirstTested)
	fmt.Fprintf(tw, "retests\t%d\t\n", s.Retests)
	tw.Flush()

	if len(s.Pareto) > 0 {
		fmt.Fprintf(bw, "\nFailures by code (%d runs did not pass)\n", s.Runs-s.Pass)
		tw = tabwriter.NewWriter(bw, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "code\toutcome\tstep\tcount\tshare\tcumulative\t")
		for _, p := range s.Pareto {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t\n", p.Code, p.Outcome, p.Step, p.Count, pct(p.Share), pct(p.Cumulative))
		}
		tw.Flush()
	}
	if len(s.Cycle) > 0 {
		fmt.Fprintln(bw, "\nCycle time of passing units and steps (seconds)")
		tw = tabwriter.NewWriter(bw, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "\tn\tp50\tp90\tp99\t")
		for _, c := range s.Cycle {
			fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%.2f\t\n", c.Name, c.N, c.P50, c.P90, c.P99)
		}
		tw.Flush()
	}
	writeGroups(bw, "slot", s.Slots)
	writeGroups(bw, "operator", s.Operators)
	return bw.Flush()
}

func writeGroups(w io.Writer, what string, rows []GroupRow) {
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "\nBy %s\n", what)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, what+"\truns\tPASS\tFAIL\tERROR\tABORTED\tfirst-pass yield\tyield\t")
	for _, r := range rows {
		name := r.Name
		if name == "" {
			name = "(none)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t\n", name, r.Runs, r.Pass, r.Fail, r.Error, r.Aborted,
			pct(r.FirstPassYield), pct(r.Yield))
	}
	tw.Flush()
}

func pct(f float64) string { return fmt.Sprintf("%.2f%%", 100*f) }

func windowText(since, until time.Time) string {
	switch {
	case since.IsZero() && until.IsZero():
		return "at any time"
	case since.IsZero():
		return "before " + until.Format(time.RFC3339)
	case until.IsZero():
		return "since " + since.Format(time.RFC3339)
	}
	return "from " + since.Format(time.RFC3339) + " until " + until.Format(time.RFC3339)
}

// WriteUnit renders the history of one unit for people; transcripts, when
// given (by run id), follow each run.
func WriteUnit(w io.Writer, imei string, runs []UnitRun, transcripts map[string]string) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "Unit %s: %d run(s); times in local time\n", imei, len(runs))
	for _, r := range runs {
		// Only fields that hold something: an empty one reads as a
		// rendering fault ("operator " with nothing after it).
		fmt.Fprintf(bw, "\n%s\n", fields("run", r.ID, "attempt", optInt(r.Attempt), "slot", r.Slot, "operator", r.Operator))
		fmt.Fprintf(bw, "  %s → %s  %s", localTime(r.Started), endText(r.Ended), r.Outcome)
		if r.Code != "" {
			fmt.Fprintf(bw, " %s at %s", r.Code, r.Step)
		}
		fmt.Fprintln(bw)
		if r.Detail != "" {
			fmt.Fprintf(bw, "  %s\n", oneLine(r.Detail))
		}
		if line := fields("modem", strings.TrimSpace(r.Model+" "+r.ModemFW), "firmware", firmwareText(r.FirmwareName, r.FirmwareSHA256),
			"psk identity", r.PSKIdentity, "psk sha256", strings.ToLower(r.PSKSHA256)); line != "" {
			fmt.Fprintf(bw, "  %s\n", line)
		}
		tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
		for _, s := range r.Steps {
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%.3fs\t%s\t%s\n", s.Seq, s.Name, s.Outcome, s.Seconds, s.Code, oneLine(s.Detail))
		}
		tw.Flush()
		if t, ok := transcripts[r.ID]; ok {
			fmt.Fprintln(bw, "  transcript (times RFC 3339, UTC):")
			for _, l := range strings.Split(strings.TrimRight(t, "\n"), "\n") {
				fmt.Fprintf(bw, "    %s\n", l)
			}
		}
	}
	return bw.Flush()
}

// fields joins name/value pairs, leaving out the empty values.
func fields(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		if v := kv[i+1]; v != "" && v != "-" {
			parts = append(parts, kv[i]+" "+v)
		}
	}
	return strings.Join(parts, "  ")
}

func firmwareText(name, sha string) string {
	switch {
	case name == "":
		return ""
	case sha == "":
		return name
	}
	return fmt.Sprintf("%s (%s)", name, short(strings.ToLower(sha)))
}

// localTime shows a stored RFC 3339 time in this machine's zone, with the
// zone: the rule for everything people read.
func localTime(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return t.Local().Format("2006-01-02 15:04:05 MST")
}

func endText(p *string) string {
	if p == nil {
		return "(running)"
	}
	return localTime(*p)
}

func optInt(p *int64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprint(*p)
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12] + "…"
	}
	return s
}

func oneLine(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r", ""), "\n", " ⏎ ")
}
