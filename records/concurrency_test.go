package records_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"nrfline/records"
	"nrfline/station"
)

// 32 slots record at once, their events interleaved: no run loses or
// borrows a step, an identity or a transcript line.
func TestThirtyTwoSlotsNeverMixRecords(t *testing.T) {
	const slots, perSlot = 32, 6
	path := dbPath(t)
	s := mustOpen(t, path)
	var wg sync.WaitGroup
	for slot := range slots {
		wg.Go(func() {
			for i := range perSlot {
				n := slot*perSlot + i
				f := fixture{id: runID(n), slot: fmt.Sprintf("S%02d", slot), imei: fmt.Sprintf("3526561%08d", n),
					started: t0.Add(time.Duration(n) * time.Minute)}
				if i%3 == 2 {
					f.code, f.step = station.BootstrapTimeout, station.StepBootstrap
				}
				for _, ev := range f.events() {
					if err := s.Record(context.Background(), ev); err != nil {
						t.Errorf("slot %d: %v", slot, err)
						return
					}
					if ev.Kind == station.StepStarted {
						line := station.Event{Kind: station.DeviceLine, Run: f.id, Slot: f.slot, Dir: station.DirRx, Time: ev.Time,
							Text: "marker " + f.id + " " + string(ev.Step)}
						if err := s.Record(context.Background(), line); err != nil {
							t.Errorf("slot %d: %v", slot, err)
							return
						}
					}
				}
			}
		})
	}
	wg.Wait()
	r := mustReader(t, path)
	runs := exportRuns(t, r, records.Filter{})
	if len(runs) != slots*perSlot {
		t.Fatalf("%d runs, want %d", len(runs), slots*perSlot)
	}
	for _, run := range runs {
		var n int
		fmt.Sscanf(run.ID[len(run.ID)-12:], "%d", &n)
		wantIMEI := fmt.Sprintf("3526561%08d", n)
		wantSlot := fmt.Sprintf("S%02d", n/perSlot)
		if run.IMEI != wantIMEI || run.Slot != wantSlot {
			t.Errorf("run %s: imei %s slot %s, want %s %s", run.ID, run.IMEI, run.Slot, wantIMEI, wantSlot)
		}
		wantSteps := 8
		if n%perSlot%3 == 2 {
			wantSteps = 7
		}
		steps, err := records.StepsOf(context.Background(), r, run.ID)
		if err != nil || len(steps) != wantSteps {
			t.Errorf("run %s: %d steps (%v), want %d", run.ID, len(steps), err, wantSteps)
		}
		tr, err := r.Transcript(context.Background(), run.ID)
		if err != nil {
			t.Fatal(err)
		}
		markers := 0
		for _, l := range strings.Split(tr, "\n") {
			if i := strings.Index(l, "marker "); i >= 0 {
				markers++
				if !strings.HasPrefix(l[i+len("marker "):], run.ID+" ") {
					t.Errorf("run %s has a line of another run: %s", run.ID, l)
				}
			}
		}
		if markers != wantSteps {
			t.Errorf("run %s: %d transcript markers, want %d", run.ID, markers, wantSteps)
		}
	}
	checkRollups(t, path, slots*perSlot)
}
