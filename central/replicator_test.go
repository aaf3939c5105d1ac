package central_test

import (
	"context"
	"maps"
	"os"
	"sync"
	"testing"
	"time"

	"nrfline/central"
	"nrfline/records"
	"nrfline/station"
)

func TestMigrateTwoStationsAtOnce(t *testing.T) {
	url := mustDB(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			conn := mustConn(t, url)
			_, _, errs[i] = central.Migrate(context.Background(), conn)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("station %d: %v", i, err)
		}
	}
	conn := mustConn(t, url)
	if n := count(t, conn, "SELECT count(*) FROM schema_version"); n != central.SchemaVersion() {
		t.Errorf("schema_version has %d rows, want %d", n, central.SchemaVersion())
	}
	from, to, err := central.Migrate(context.Background(), conn)
	if err != nil || from != to || to != central.SchemaVersion() {
		t.Errorf("migrating again: %d→%d, %v", from, to, err)
	}
	if _, err := conn.Exec(context.Background(), "INSERT INTO schema_version (version) VALUES (999)"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := central.Migrate(context.Background(), conn); err == nil {
		t.Error("a central schema newer than the station's was accepted")
	}
}

// A run that finishes late, behind runs that started after it, is shipped
// when it finishes; every run is stored once; a restarted replicator
// resumes from its cursor and ships nothing twice.
func TestReplicatorShipsEveryFinishedRunOnce(t *testing.T) {
	url := mustDB(t)
	dbPath := tempPath(t, "station.db")
	store := mustStore(t, dbPath)
	runs := stationRuns("st1", 1200, 1, time.Date(2026, 11, 2, 6, 0, 0, 0, time.UTC))
	slow := runs[10]
	record(t, store, runs[:10])
	startRun(t, store, slow)
	record(t, store, runs[11:])

	cursor := dbPath + ".central"
	rep, err := central.NewReplicator(store.Reader(), url, "st1", central.WithCursorFile(cursor), central.WithBatch(100), central.WithPoll(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	conn := mustConn(t, url)
	if _, _, err := central.Migrate(context.Background(), conn); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rep.Run(ctx) }()
	waitFor(t, 20*time.Second, "1199 runs shipped", func() bool { return count(t, conn, "SELECT count(*) FROM runs") == 1199 })
	waitFor(t, 5*time.Second, "an empty backlog", func() bool { return rep.Backlog() == 0 })
	if got := centralRuns(t, conn); got[slow.ID] != "" {
		t.Fatalf("a RUNNING run was shipped as %s", got[slow.ID])
	}
	finishRun(t, store, slow)
	waitFor(t, 10*time.Second, "the late run shipped", func() bool { return count(t, conn, "SELECT count(*) FROM runs") == 1200 })
	cancel()
	<-done

	if got, want := centralRuns(t, conn), localRuns(t, store.Reader()); !maps.Equal(got, want) {
		t.Fatalf("central store differs from the journal: %d vs %d runs", len(got), len(want))
	}
	if n, want := count(t, conn, "SELECT count(*) FROM steps"), stepCount(t, store.Reader()); n != want {
		t.Errorf("steps: %d central, %d local", n, want)
	}
	if _, err := os.Stat(cursor); err != nil {
		t.Fatalf("no cursor file: %v", err)
	}

	// Restart: nothing new to store, and the cursor is past every run.
	rep2, err := central.NewReplicator(store.Reader(), url, "st1", central.WithCursorFile(cursor))
	if err != nil {
		t.Fatal(err)
	}
	for caughtUp := false; !caughtUp; {
		if caughtUp, err = rep2.Pass(context.Background()); err != nil {
			t.Fatalf("pass after restart: %v", err)
		}
	}
	if st := rep2.Status(); st.Shipped != 0 || st.Backlog != 0 || st.Position != 1201 {
		t.Errorf("after restart: %+v, want nothing shipped, position 1201", st)
	}
	if n := count(t, conn, "SELECT runs FROM stations WHERE station_id = 'st1'"); n != 1200 {
		t.Errorf("station st1 shipped %d runs, want 1200", n)
	}
}

func stepCount(t testing.TB, r *records.Reader) int {
	page, err := r.Finished(context.Background(), 0, 1<<30, false)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fr := range page.Runs {
		n += len(fr.Steps)
	}
	return n
}

// A station that crashed mid-run reopens its journal with the run ABORTED:
// the central store gets it as ABORTED, with the steps it finished.
func TestReplicatorShipsCrashAbortedRuns(t *testing.T) {
	url := mustDB(t)
	dbPath := tempPath(t, "station.db")
	store, err := records.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	runs := stationRuns("st1", 3, 2, time.Date(2026, 11, 2, 6, 0, 0, 0, time.UTC))
	record(t, store, runs[:2])
	evs := seedEvents(runs[2])
	for _, ev := range evs[:len(evs)/2] {
		if err := store.Record(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	store.Close() // the station dies with runs[2] RUNNING
	store = mustStore(t, dbPath)

	rep, err := central.NewReplicator(store.Reader(), url, "st1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rep.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	conn := mustConn(t, url)
	var outcome string
	var steps int
	if err := conn.QueryRow(context.Background(), `SELECT outcome, (SELECT count(*) FROM steps WHERE run_id = $1)
		FROM runs WHERE id = $1`, runs[2].ID).Scan(&outcome, &steps); err != nil {
		t.Fatal(err)
	}
	if outcome != string(station.Aborted) || steps == 0 {
		t.Errorf("crashed run: %s with %d steps, want ABORTED with its finished steps", outcome, steps)
	}
}

// A run that finishes after the replicator's last pass is in the backlog at
// once, not at the next pass: a backlog of 0 means the central store holds
// every finished run (the header's "synced", batch --json's count).
func TestBacklogCountsRunsFinishedSinceThePass(t *testing.T) {
	url := mustDB(t)
	store := mustStore(t, tempPath(t, "station.db"))
	runs := stationRuns("st1", 5, 4, time.Date(2026, 11, 4, 6, 0, 0, 0, time.UTC))
	record(t, store, runs[:2])
	rep, err := central.NewReplicator(store.Reader(), url, "st1")
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b := rep.Backlog(); b != 0 {
		t.Fatalf("backlog %d after draining, want 0", b)
	}
	record(t, store, runs[2:3])
	if b := rep.Backlog(); b != 1 {
		t.Errorf("backlog %d right after a run finished, want 1", b)
	}
	if err := store.Import(context.Background(), runs[3:]); err != nil {
		t.Fatal(err)
	}
	if b := rep.Backlog(); b != 3 {
		t.Errorf("backlog %d after importing 2 more runs, want 3", b)
	}
	if err := rep.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b := rep.Backlog(); b != 0 {
		t.Errorf("backlog %d after draining again, want 0", b)
	}
	if n := count(t, mustConn(t, url), "SELECT count(*) FROM runs"); n != 5 {
		t.Errorf("the central store holds %d runs, want 5", n)
	}
}
