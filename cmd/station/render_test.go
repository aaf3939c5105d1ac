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
