package records_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"nrfline/records"
	"nrfline/records/seed"
	"nrfline/station"
)

func mustOpen(tb testing.TB, path string, opts ...records.Option) *records.Store {
	tb.Helper()
	s, err := records.Open(path, opts...)
	if err != nil {
		tb.Fatalf("open %s: %v", path, err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func mustReader(tb testing.TB, path string) *records.Reader {
	tb.Helper()
	r, err := records.OpenReader(path)
	if err != nil {
		tb.Fatalf("open reader %s: %v", path, err)
	}
	tb.Cleanup(func() { r.Close() })
	return r
}

func dbPath(tb testing.TB) string { return filepath.Join(tb.TempDir(), "station.db") }

// recordAll feeds every event to the store; each must succeed.
func recordAll(tb testing.TB, s *records.Store, evs []station.Event) {
	tb.Helper()
	for _, ev := range evs {
		if err := s.Record(context.Background(), ev); err != nil {
			tb.Fatalf("record %s of run %s: %v", ev.Kind, ev.Run, err)
		}
	}
}

// fixture describes one run of a hand-made test line.
type fixture struct {
	id       string
	slot     string
	operator string
	imei     string // empty: failed before identify
	started  time.Time
	code     station.Code // CodeNone: PASS
	step     station.StepName
	detail   string
}

var t0 = time.Date(2025, 3, 3, 8, 0, 0, 0, time.UTC)

// run builds a whole run like the engine would see it: every step up to the
// failing one, one second each except flash (20 s) and bootstrap (40 s).
func (f fixture) run() records.Run {
	if f.operator == "" {
		f.operator = "Anna"
	}
	r := records.Run{ID: f.id, Start: station.RunStart{StationID: "st1", StationVersion: "test", Operator: f.operator,
		Slot: station.Slot{Name: f.slot, Probe: "1051202135"}, Firmware: station.Firmware{Name: "app.hex", SHA256: "ABCD"},
		FlashTool: "nrfjprog", FlashVersion: "10.24.2", Started: f.started}}
	t := f.started
	for _, name := range station.Steps {
		d := time.Second
		switch name {
		case station.StepFlash:
			d = 20 * time.Second
		case station.StepBootstrap:
			d = 40 * time.Second
		}
		res := station.StepResult{Step: name, Started: t, Ended: t.Add(d), Outcome: station.Pass,
			Measurements: map[string]float64{"seconds": d.Seconds()}}
		t = res.Ended
		if f.code != station.CodeNone && f.step == name {
			res.Outcome, res.Code, res.Detail = f.code.Outcome(), f.code, f.detail
		}
		r.Steps = append(r.Steps, res)
		if name == station.StepIdentify && f.imei != "" {
			r.Identity = station.Identity{IMEI: f.imei, ModemFW: "mfw_nrf91x1_2.0.2", Model: "nRF9151"}
		}
		if res.Outcome != station.Pass {
			break
		}
	}
	v := station.Verdict{Run: f.id, Slot: f.slot, IMEI: f.imei, Outcome: station.Pass, Started: f.started, Ended: t}
	if f.code != station.CodeNone {
		v.Outcome, v.Code, v.Step, v.Detail = f.code.Outcome(), f.code, f.step, f.detail
	}
	r.Verdict = v
	return r
}

func (f fixture) events() []station.Event { return seed.Events(f.run()) }

func runID(i int) string { return fmt.Sprintf("0190a000-0000-7000-8000-%012d", i) }

// exportRuns reads the runs report as JSON.
func exportRuns(tb testing.TB, r *records.Reader, f records.Filter) []records.RunRow {
	tb.Helper()
	var buf bytes.Buffer
	if _, err := r.ExportRuns(context.Background(), &buf, f, records.JSON, records.ExportOptions{}); err != nil {
		tb.Fatalf("export runs: %v", err)
	}
	var out []records.RunRow
	if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
		tb.Fatalf("runs JSON: %v\n%s", err, buf.Bytes())
	}
	return out
}
