package main

import (
	"strings"
	"testing"
	"time"

	"nrfline/station"
)

// The headless output is a few lines per unit: the flash tool's
// percentages and step starts only with -v; the time zone is named once.
func TestHumanOutputIsAFewLinesPerUnit(t *testing.T) {
	at := time.Date(2026, 12, 6, 8, 0, 0, 0, time.Local)
	events := []station.Event{
		{Time: at, Kind: station.StepStarted, Slot: "A1", Step: "flash"},
		{Time: at, Kind: station.StepProgress, Slot: "A1", Step: "flash", Percent: 30, Text: "Erase file"},
		{Time: at, Kind: station.StepProgress, Slot: "A1", Step: "flash", Percent: 10, Text: "Erasing non-volatile memory"},
		{Time: at, Kind: station.StepProgress, Slot: "A1", Step: "flash", Percent: 50, Text: "Programming image"},
		{Time: at, Kind: station.StepFinished, Slot: "A1", Step: "flash", Result: &station.StepResult{Outcome: station.Pass}},
	}
	for _, verbose := range []bool{false, true} {
		var b strings.Builder
		r := newRenderer(&b, false, verbose)
		for _, ev := range events {
			r.render(ev)
		}
		out := b.String()
		if zone := at.Format("MST"); !strings.HasPrefix(out, "times are local: "+zone) {
			t.Errorf("zone not named first:\n%s", out)
		}
		if got := strings.Contains(out, "%"); got != verbose {
			t.Errorf("verbose=%v: percentages shown=%v:\n%s", verbose, got, out)
		}
		if !strings.Contains(out, "08:00:00 A1   flash     PASS") {
			t.Errorf("step result missing:\n%s", out)
		}
	}
}

// With [central], every verdict line of --json and the summary say how many
// finished runs still wait to be shipped to the line-wide records.
func TestJSONVerdictsCarryTheCentralBacklog(t *testing.T) {
	var b strings.Builder
	r := newRenderer(&b, true, false)
	backlog := 7
	r.backlog = func() int { return backlog }
	v := station.Verdict{Run: "r1", Slot: "A1", Outcome: station.Pass}
	r.render(station.Event{Kind: station.StepStarted, Slot: "A1", Step: "flash"})
	r.render(station.Event{Kind: station.VerdictReached, Slot: "A1", Verdict: &v})
	backlog = 0
	r.summary([]station.Verdict{v}, exitOK)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || strings.Contains(lines[0], "central_backlog") ||
		!strings.Contains(lines[1], `"central_backlog":7`) || !strings.Contains(lines[2], `"central_backlog":0`) {
		t.Fatalf("--json lines:\n%s", b.String())
	}
}
