package central_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"nrfline/central"
	"nrfline/records"
	"nrfline/station"
)

// A unit's runs at another station count against it here; with PostgreSQL
// down the station answers from its own records and says so, quickly.
func TestHistorySpansTheLineAndFallsBack(t *testing.T) {
	url := mustDB(t)
	ctx := context.Background()
	st1 := mustStore(t, tempPath(t, "st1.db"))
	st2 := mustStore(t, tempPath(t, "st2.db"))
	// A unit that failed at st1 twice, among other units' runs.
	runs := stationRuns("st1", 50, 4, time.Date(2026, 11, 4, 6, 0, 0, 0, time.UTC))
	const imei = "352656109999994"
	for _, i := range []int{10, 30} {
		failAs(&runs[i], imei)
	}
	record(t, st1, runs)
	at1, err := localHistory{st1.Reader()}.UnitHistory(ctx, imei)
	if err != nil {
		t.Fatal(err)
	}
	// st2 tried it once too.
	again := stationRuns("st2", 1, 5, time.Date(2026, 11, 5, 6, 0, 0, 0, time.UTC))[0]
	failAs(&again, imei)
	record(t, st2, []records.Run{again})

	rep, err := central.NewReplicator(st1.Reader(), url, "st1")
	if err != nil {
		t.Fatal(err)
	}
	for caughtUp := false; !caughtUp; {
		if caughtUp, err = rep.Pass(ctx); err != nil {
			t.Fatal(err)
		}
	}
	h, err := central.NewHistory(url, "st2", localHistory{st2.Reader()}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	got, err := h.UnitHistory(ctx, imei)
	if err != nil {
		t.Fatal(err)
	}
	if want := (station.UnitHistory{Attempts: at1.Attempts + 1, Source: "central"}); got != want {
		t.Errorf("line-wide history %+v, want %+v", got, want)
	}

	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	defer func() {
		if !restarted {
			cluster.Start()
		}
	}()
	t0 := time.Now()
	got, err = h.UnitHistory(ctx, imei)
	if err != nil {
		t.Fatal(err)
	}
	if got.Attempts != 1 || !strings.HasPrefix(got.Source, "local: central store unreachable") {
		t.Errorf("with PostgreSQL down: %+v, want st2's own attempt and a note", got)
	}
	t1 := time.Now()
	got, _ = h.UnitHistory(ctx, imei)
	if d := time.Since(t1); d > 100*time.Millisecond || !strings.HasPrefix(got.Source, "local:") {
		t.Errorf("second question with PostgreSQL down took %v (%+v); the first took %v", d, got, t1.Sub(t0))
	}
	// Back up: the line rules use the whole line again, found by a probe,
	// not by a unit waiting.
	if err := cluster.Start(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	waitFor(t, 10*time.Second, "the central store back for the line rules", func() bool {
		got, err := h.UnitHistory(ctx, imei)
		return err == nil && got.Source == "central"
	})
}

// failAs turns a run that identified its unit into a failed run of imei.
func failAs(r *records.Run, imei string) {
	r.Identity.IMEI, r.Verdict.IMEI = imei, imei
	r.Verdict.Outcome, r.Verdict.Code, r.Verdict.Step = station.Fail, "BOOTSTRAP_TIMEOUT", station.StepBootstrap
}
