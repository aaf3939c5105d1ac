package records_test

import (
	"context"
	"math"
	"reflect"
	"testing"
	"time"

	"nrfline/records"
	"nrfline/station"
)

// The hand-checked line: 11 runs over three days, two slots, two operators.
//
//	run day time  slot op   unit  outcome
//	r1  1   08:00 A1   Anna U1    PASS
//	r2  1   08:10 A2   Anna U2    FAIL CRED_MEMORY_FULL at inject
//	r3  1   09:00 A1   Ben  U3    FAIL BOOTSTRAP_TIMEOUT at bootstrap
//	r4  1   09:30 A2   Ben  -     FAIL FLASH_JLINK at flash (before identify)
//	r5  2   08:00 A1   Anna U2    PASS (retest)
//	r6  2   08:30 A2   Anna U4    FAIL BOOTSTRAP_TIMEOUT at bootstrap
//	r7  2   09:00 A1   Anna -     ERROR PORT_UNAVAILABLE at connect
//	r8  3   08:00 A1   Ben  U4    FAIL BOOTSTRAP_TIMEOUT at bootstrap (retest)
//	r9  3   08:30 A2   Ben  U6    PASS
//	r10 3   09:00 A2   Ben  U3    PASS (retest)
//	r11 3   09:30 A1   Ben  U7    ABORTED at inject
func lineFixture() []fixture {
	at := func(day int, hh, mm int) time.Time {
		return t0.Truncate(24*time.Hour).AddDate(0, 0, day-1).Add(time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute)
	}
	u := func(n int) string { return "35265610000000" + string(rune('0'+n)) }
	bt, bs := station.BootstrapTimeout, station.StepBootstrap
	return []fixture{
		{id: runID(1), started: at(1, 8, 0), slot: "A1", operator: "Anna", imei: u(1)},
		{id: runID(2), started: at(1, 8, 10), slot: "A2", operator: "Anna", imei: u(2), code: station.CredMemoryFull, step: station.StepInject},
		{id: runID(3), started: at(1, 9, 0), slot: "A1", operator: "Ben", imei: u(3), code: bt, step: bs},
		{id: runID(4), started: at(1, 9, 30), slot: "A2", operator: "Ben", code: station.FlashJLink, step: station.StepFlash},
		{id: runID(5), started: at(2, 8, 0), slot: "A1", operator: "Anna", imei: u(2)},
		{id: runID(6), started: at(2, 8, 30), slot: "A2", operator: "Anna", imei: u(4), code: bt, step: bs},
		{id: runID(7), started: at(2, 9, 0), slot: "A1", operator: "Anna", code: station.PortUnavailable, step: station.StepConnect},
		{id: runID(8), started: at(3, 8, 0), slot: "A1", operator: "Ben", imei: u(4), code: bt, step: bs},
		{id: runID(9), started: at(3, 8, 30), slot: "A2", operator: "Ben", imei: u(6)},
		{id: runID(10), started: at(3, 9, 0), slot: "A2", operator: "Ben", imei: u(3)},
		{id: runID(11), started: at(3, 9, 30), slot: "A1", operator: "Ben", imei: u(7), code: station.Interrupted, step: station.StepInject},
	}
}

func day(n int, hh, mm int) time.Time {
	return t0.Truncate(24*time.Hour).AddDate(0, 0, n-1).Add(time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute)
}

func TestSummaryArithmetic(t *testing.T) {
	path := dbPath(t)
	s := mustOpen(t, path)
	for _, f := range lineFixture() {
		recordAll(t, s, f.events())
	}
	r := mustReader(t, path)
	whole := records.Summary{Runs: 11, Pass: 4, Fail: 5, Error: 1, Aborted: 1, Units: 6, FirstTested: 6, FirstPass: 2,
		EventuallyPassed: 4, FirstPassYield: 2.0 / 6, Yield: 4.0 / 6, Retests: 3, Unidentified: 2,
		Pareto: []records.ParetoRow{
			{Code: station.BootstrapTimeout, Outcome: station.Fail, Step: station.StepBootstrap, Count: 3, Share: 3.0 / 7, Cumulative: 3.0 / 7},
			{Code: station.Interrupted, Outcome: station.Aborted, Step: station.StepInject, Count: 1, Share: 1.0 / 7, Cumulative: 4.0 / 7},
			{Code: station.CredMemoryFull, Outcome: station.Fail, Step: station.StepInject, Count: 1, Share: 1.0 / 7, Cumulative: 5.0 / 7},
			{Code: station.FlashJLink, Outcome: station.Fail, Step: station.StepFlash, Count: 1, Share: 1.0 / 7, Cumulative: 6.0 / 7},
			{Code: station.PortUnavailable, Outcome: station.Errored, Step: station.StepConnect, Count: 1, Share: 1.0 / 7, Cumulative: 1},
		},
		Slots: []records.GroupRow{
			{Name: "A1", Runs: 6, Pass: 2, Fail: 2, Error: 1, Aborted: 1, FirstTested: 3, FirstPass: 1, EventuallyPassed: 2, FirstPassYield: 1.0 / 3, Yield: 2.0 / 3},
			{Name: "A2", Runs: 5, Pass: 2, Fail: 3, FirstTested: 3, FirstPass: 1, EventuallyPassed: 2, FirstPassYield: 1.0 / 3, Yield: 2.0 / 3},
		},
		Operators: []records.GroupRow{
			{Name: "Anna", Runs: 5, Pass: 2, Fail: 2, Error: 1, FirstTested: 3, FirstPass: 1, EventuallyPassed: 2, FirstPassYield: 1.0 / 3, Yield: 2.0 / 3},
			{Name: "Ben", Runs: 6, Pass: 2, Fail: 3, Aborted: 1, FirstTested: 3, FirstPass: 1, EventuallyPassed: 2, FirstPassYield: 1.0 / 3, Yield: 2.0 / 3},
		},
	}
	for _, tc := range []struct {
		name string
		f    records.Filter
		want records.Summary
	}{
		{"all time (rollups only)", records.Filter{}, whole},
		{"unaligned window around everything (rollups and raw edges)", records.Filter{Since: day(1, 7, 0), Until: day(3, 23, 0)}, whole},
		{"whole days", records.Filter{Since: day(1, 0, 0), Until: day(4, 0, 0)}, whole},
		{"day 2", records.Filter{Since: day(2, 0, 0), Until: day(3, 0, 0)}, records.Summary{
			Runs: 3, Pass: 1, Fail: 1, Error: 1, Units: 2, FirstTested: 1, Retests: 1, Unidentified: 1,
			Pareto: []records.ParetoRow{
				{Code: station.BootstrapTimeout, Outcome: station.Fail, Step: station.StepBootstrap, Count: 1, Share: 0.5, Cumulative: 0.5},
				{Code: station.PortUnavailable, Outcome: station.Errored, Step: station.StepConnect, Count: 1, Share: 0.5, Cumulative: 1},
			},
			Slots: []records.GroupRow{
				{Name: "A1", Runs: 2, Pass: 1, Error: 1},
				{Name: "A2", Runs: 1, Fail: 1, FirstTested: 1},
			},
			Operators: []records.GroupRow{{Name: "Anna", Runs: 3, Pass: 1, Fail: 1, Error: 1, FirstTested: 1}},
		}},
		{"part of day 1 (raw only)", records.Filter{Since: day(1, 8, 5), Until: day(1, 9, 15)}, records.Summary{
			Runs: 2, Fail: 2, Units: 2, FirstTested: 2, EventuallyPassed: 2, Yield: 1,
			Pareto: []records.ParetoRow{
				{Code: station.BootstrapTimeout, Outcome: station.Fail, Step: station.StepBootstrap, Count: 1, Share: 0.5, Cumulative: 0.5},
				{Code: station.CredMemoryFull, Outcome: station.Fail, Step: station.StepInject, Count: 1, Share: 0.5, Cumulative: 1},
			},
			Slots: []records.GroupRow{
				{Name: "A1", Runs: 1, Fail: 1, FirstTested: 1, EventuallyPassed: 1, Yield: 1},
				{Name: "A2", Runs: 1, Fail: 1, FirstTested: 1, EventuallyPassed: 1, Yield: 1},
			},
			Operators: []records.GroupRow{{Name: "Anna", Runs: 1, Fail: 1, FirstTested: 1, EventuallyPassed: 1, Yield: 1}, {Name: "Ben", Runs: 1, Fail: 1, FirstTested: 1, EventuallyPassed: 1, Yield: 1}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.Summary(context.Background(), tc.f)
			if err != nil {
				t.Fatal(err)
			}
			cycle := got.Cycle
			got.Cycle, got.Since, got.Until = nil, time.Time{}, time.Time{}
			tc.want.Pareto = roundShares(tc.want.Pareto)
			got.Pareto = roundShares(got.Pareto)
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("summary\n got %+v\nwant %+v", *got, tc.want)
			}
			checkCycle(t, cycle, tc.want.Pass)
		})
	}
}

func roundShares(p []records.ParetoRow) []records.ParetoRow {
	out := append([]records.ParetoRow(nil), p...)
	for i := range out {
		out[i].Share = math.Round(out[i].Share*1e9) / 1e9
		out[i].Cumulative = math.Round(out[i].Cumulative*1e9) / 1e9
	}
	return out
}

// checkCycle: every passing fixture run takes 66 s; flash 20 s, bootstrap
// 40 s, every other step 1 s. Percentiles come from histograms: within 1 %.
func checkCycle(t *testing.T, rows []records.CycleRow, passes int) {
	t.Helper()
	if passes == 0 {
		if len(rows) != 0 {
			t.Errorf("cycle rows %+v without a passing run", rows)
		}
		return
	}
	want := map[string]float64{"unit": 66, "flash": 20, "bootstrap": 40, "connect": 1, "verify": 1}
	seen := 0
	for _, c := range rows {
		w, ok := want[c.Name]
		if !ok {
			continue
		}
		seen++
		if c.N != int64(passes) {
			t.Errorf("cycle %s: n %d, want %d", c.Name, c.N, passes)
		}
		for _, v := range []float64{c.P50, c.P90, c.P99} {
			if math.Abs(v-w) > 0.01*w {
				t.Errorf("cycle %s: %v, want %v ± 1%%", c.Name, c, w)
			}
		}
	}
	if seen != len(want) || rows[0].Name != "unit" {
		t.Errorf("cycle rows %+v", rows)
	}
}

// Import (seeding) goes through the same bookkeeping as live recording.
func TestImportAndRecordAgree(t *testing.T) {
	live, imported := dbPath(t), dbPath(t)
	s := mustOpen(t, live)
	var runs []records.Run
	for _, f := range lineFixture() {
		recordAll(t, s, f.events())
		runs = append(runs, f.run())
	}
	if err := mustOpen(t, imported).Import(context.Background(), runs); err != nil {
		t.Fatal(err)
	}
	a, err := mustReader(t, live).Summary(context.Background(), records.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := mustReader(t, imported).Summary(context.Background(), records.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("recorded %+v\nimported %+v", a, b)
	}
}
