package central_test

import (
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"nrfline/central"
	"nrfline/central/pgtest"
)

// PostgreSQL down at start, killed mid-shift and restarted, and a network
// that stalls: the station records every run without waiting, and the
// central store ends with each run exactly once.
func TestReplicatorRidesOutOutages(t *testing.T) {
	direct := mustDB(t)
	proxy, err := pgtest.NewProxy(fmt.Sprintf("127.0.0.1:%d", cluster.Port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	url := strings.Replace(direct, fmt.Sprintf(":%d/", cluster.Port), fmt.Sprintf(":%d/", proxy.Port()), 1)

	store := mustStore(t, tempPath(t, "station.db"))
	runs := stationRuns("st1", 1000, 3, time.Date(2026, 11, 3, 6, 0, 0, 0, time.UTC))
	shift := func(from, to int) time.Duration { // records runs as a bench would, and times it
		t0 := time.Now()
		record(t, store, runs[from:to])
		return time.Since(t0)
	}
	baseline := shift(0, 100)

	// Down at start.
	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			cluster.Start()
		}
	})
	rep, err := central.NewReplicator(store.Reader(), url, "st1", central.WithTimeout(time.Second),
		central.WithBackoff(20*time.Millisecond, 200*time.Millisecond), central.WithPoll(20*time.Millisecond), central.WithBatch(64))
	if err != nil {
		t.Fatal(err)
	}
	runReplicator(t, rep)
	waitFor(t, 5*time.Second, "a failure reported", func() bool { return rep.Status().LastErr != "" })
	if d := shift(100, 200); d > 3*baseline+time.Second {
		t.Errorf("recording 100 runs took %v with PostgreSQL down, %v with it up", d, baseline)
	}
	waitFor(t, 5*time.Second, "a backlog of 200", func() bool { return rep.Backlog() == 200 })
	if err := cluster.Start(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	waitFor(t, 20*time.Second, "the backlog drained", func() bool { return rep.Backlog() == 0 })

	// Killed mid-shift, then restarted.
	go func() {
		time.Sleep(50 * time.Millisecond)
		cluster.Kill()
	}()
	shift(200, 500)
	if err := cluster.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the backlog drained after the kill", func() bool { return rep.Backlog() == 0 })

	// A network that drops every packet for a while.
	proxy.Stall()
	d := shift(500, 700)
	time.Sleep(1500 * time.Millisecond) // longer than the replicator's timeout
	if b := rep.Backlog(); b == 0 {
		t.Error("the backlog is empty while the network stalls")
	}
	proxy.Resume()
	if d > 3*baseline+time.Second {
		t.Errorf("recording 200 runs took %v with the network stalled, 100 took %v before", d, baseline)
	}
	shift(700, 1000)
	waitFor(t, 20*time.Second, "the backlog drained after the stall", func() bool { return rep.Backlog() == 0 })

	conn := mustConn(t, direct)
	got, want := centralRuns(t, conn), localRuns(t, store.Reader())
	if len(want) != 1000 || !maps.Equal(got, want) {
		t.Fatalf("central store holds %d runs, the journal %d: they differ", len(got), len(want))
	}
	// Each run counted once: a batch whose reply was lost is shipped again
	// and must add nothing.
	if n := count(t, conn, "SELECT runs FROM stations WHERE station_id = 'st1'"); n != 1000 {
		t.Errorf("the store counted %d new runs, want 1000", n)
	}
	if n, want := count(t, conn, "SELECT count(*) FROM steps"), stepCount(t, store.Reader()); n != want {
		t.Errorf("steps: %d central, %d local", n, want)
	}
	if n, want := count(t, conn, "SELECT coalesce(sum(runs), 0) FROM units"), count(t, conn, "SELECT count(*) FROM runs WHERE imei <> ''"); n != want {
		t.Errorf("units count %d runs, the runs table %d", n, want)
	}
}
