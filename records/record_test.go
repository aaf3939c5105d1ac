package records_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"nrfline/records"
	"nrfline/station"
)

func TestRecordKeepsTheWholeRun(t *testing.T) {
	for _, tc := range []struct {
		name    string
		f       fixture
		steps   int
		attempt bool
	}{
		{"pass", fixture{slot: "A1", imei: "352656100367872"}, 8, true},
		{"fail at bootstrap", fixture{slot: "B2", imei: "352656100367880", code: station.BootstrapTimeout, step: station.StepBootstrap,
			detail: "no bootstrap before the timeout"}, 7, true},
		{"fail before identify", fixture{slot: "C3", code: station.FlashVerify, step: station.StepFlash,
			detail: "nrfjprog exited 55"}, 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := dbPath(t)
			s := mustOpen(t, path)
			f := tc.f
			f.id, f.started, f.operator = runID(1), t0, "Dana"
			run := f.run()
			evs := f.events()
			note := station.Event{Kind: station.Note, Run: f.id, Slot: f.slot, Time: t0.Add(time.Second), Text: "a note for the transcript"}
			evs = append(evs[:2:2], append([]station.Event{note}, evs[2:]...)...)
			run.Verdict.PSKIdentity, run.Verdict.PSKSHA256 = "urn:imei:"+f.imei, strings.Repeat("AB", 32)
			evs[len(evs)-1].Verdict = &run.Verdict
			recordAll(t, s, evs)

			r := mustReader(t, path)
			units, err := r.Unit(context.Background(), f.imei)
			if f.imei == "" {
				all := exportRuns(t, r, records.Filter{})
				units = []records.UnitRun{{RunRow: all[0]}}
				units[0].Steps, err = unitSteps(r, f.id)
			}
			if err != nil || len(units) != 1 {
				t.Fatalf("unit: %d runs, %v", len(units), err)
			}
			got := units[0]
			v := run.Verdict
			if got.ID != f.id || got.Slot != f.slot || got.Operator != "Dana" || got.IMEI != f.imei ||
				got.Outcome != v.Outcome || got.Code != v.Code || got.Step != string(v.Step) || got.Detail != v.Detail ||
				got.PSKIdentity != v.PSKIdentity || got.PSKSHA256 != v.PSKSHA256 || got.FirmwareName != "app.hex" ||
				got.FlashTool != "nrfjprog" || got.StationID != "st1" || got.Probe != "1051202135" {
				t.Errorf("run row %+v does not match verdict %+v", got.RunRow, v)
			}
			if got.Ended == nil || *got.Ended != v.Ended.UTC().Format("2006-01-02T15:04:05.000Z") || got.Seconds == nil ||
				*got.Seconds != v.Ended.Sub(v.Started).Seconds() {
				t.Errorf("ended %v seconds %v", got.Ended, got.Seconds)
			}
			if (got.Attempt != nil) != tc.attempt || got.Attempt != nil && *got.Attempt != 1 {
				t.Errorf("attempt %v, want set=%v", got.Attempt, tc.attempt)
			}
			if len(got.Steps) != tc.steps {
				t.Fatalf("%d steps, want %d", len(got.Steps), tc.steps)
			}
			for i, st := range got.Steps {
				want := run.Steps[i]
				if st.Seq != i+1 || st.Name != string(want.Step) || st.Outcome != want.Outcome || st.Code != want.Code ||
					st.Seconds != want.Duration().Seconds() || st.Measurements["seconds"] != want.Duration().Seconds() {
					t.Errorf("step %d: %+v, want %+v", i, st, want)
				}
			}
			tr, err := r.Transcript(context.Background(), f.id)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"a note for the transcript", "connect started", string(v.Outcome)} {
				if !strings.Contains(tr, want) {
					t.Errorf("transcript lacks %q:\n%s", want, tr)
				}
			}
		})
	}
}

func unitSteps(r *records.Reader, run string) ([]records.StepRow, error) {
	// a run without IMEI has no unit history; read its steps through a
	// one-run unit query on the empty IMEI is not possible, so go by id.
	return records.StepsOf(context.Background(), r, run)
}

func TestAttemptsCountPerIMEI(t *testing.T) {
	path := dbPath(t)
	s := mustOpen(t, path)
	const imei = "352656100367872"
	for i, code := range []station.Code{station.FlashVerify, station.BootstrapTimeout, station.CodeNone} {
		step := station.StepFlash
		if code == station.BootstrapTimeout {
			step = station.StepBootstrap
		}
		if code == station.FlashVerify {
			// flash fails before identify: no IMEI, not an attempt of this unit
			recordAll(t, s, fixture{id: runID(i), slot: "A1", started: t0.Add(time.Duration(i) * time.Hour), code: code, step: step}.events())
			continue
		}
		recordAll(t, s, fixture{id: runID(i), slot: "A1", imei: imei, started: t0.Add(time.Duration(i) * time.Hour), code: code, step: step}.events())
	}
	recordAll(t, s, fixture{id: runID(9), slot: "A2", imei: imei, started: t0.Add(9 * time.Hour)}.events())
	runs, err := mustReader(t, path).Unit(context.Background(), imei)
	if err != nil {
		t.Fatal(err)
	}
	var attempts []int64
	for _, r := range runs {
		attempts = append(attempts, *r.Attempt)
	}
	if len(attempts) != 3 || attempts[0] != 1 || attempts[1] != 2 || attempts[2] != 3 {
		t.Errorf("attempts %v, want [1 2 3]", attempts)
	}
}

func TestVerdictIsVisibleToOthersWhenRecordReturns(t *testing.T) {
	path := dbPath(t)
	s := mustOpen(t, path)
	evs := fixture{id: runID(1), slot: "A1", imei: "352656100367872", started: t0}.events()
	recordAll(t, s, evs[:len(evs)-1])
	other := rawDB(t, path)
	var outcome string
	if err := other.QueryRow(`SELECT outcome FROM runs WHERE id = ?`, runID(1)).Scan(&outcome); err != nil || outcome != "RUNNING" {
		t.Fatalf("before the verdict: %q %v, want RUNNING", outcome, err)
	}
	recordAll(t, s, evs[len(evs)-1:])
	if err := other.QueryRow(`SELECT outcome FROM runs WHERE id = ?`, runID(1)).Scan(&outcome); err != nil || outcome != "PASS" {
		t.Fatalf("after Record returned: %q %v, want PASS", outcome, err)
	}
}

func TestRecordRejectsWhatItCannotPlace(t *testing.T) {
	s := mustOpen(t, dbPath(t))
	for _, ev := range []station.Event{
		{Kind: station.StepStarted, Run: runID(7), Step: station.StepFlash, Time: t0},
		{Kind: station.RunStarted, Run: runID(8), Time: t0}, // no Start
		{Kind: station.VerdictReached, Run: runID(7), Time: t0, Verdict: &station.Verdict{Outcome: station.Pass}},
	} {
		err := s.Record(context.Background(), ev)
		if station.CodeOf(err) != station.RecordFailed {
			t.Errorf("%s of unknown run: %v, want RECORD_FAILED", ev.Kind, err)
		}
	}
	// Slot events belong to no run and are not an error.
	if err := s.Record(context.Background(), station.Event{Kind: station.SlotAttached, Slot: "A1"}); err != nil {
		t.Errorf("slot event: %v", err)
	}
}
