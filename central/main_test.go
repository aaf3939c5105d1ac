package central_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"nrfline/central"
	"nrfline/central/pgtest"
	"nrfline/records"
	"nrfline/records/seed"
	"nrfline/station"
)

// cluster is the package's throwaway PostgreSQL; nil when the binaries are
// missing (the tests then skip).
var cluster *pgtest.Cluster

func TestMain(m *testing.M) {
	c, err := pgtest.Start("fsync=off")
	switch {
	case errors.Is(err, pgtest.ErrMissing):
	case err != nil:
		fmt.Fprintln(os.Stderr, "start PostgreSQL:", err)
		os.Exit(1)
	default:
		cluster = c
	}
	code := m.Run()
	if cluster != nil {
		cluster.Close()
	}
	os.Exit(code)
}

var dbSeq atomic.Int64

// mustDB returns the URL of a new, empty database.
func mustDB(t testing.TB) string {
	t.Helper()
	if cluster == nil {
		t.Skip("PostgreSQL binaries (initdb, pg_ctl) not installed")
	}
	url, err := cluster.NewDB(context.Background(), fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	return url
}

func mustConn(t testing.TB, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func mustStore(t testing.TB, path string) *records.Store {
	t.Helper()
	s, err := records.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// stationRuns generates n finished runs of one station, with IMEIs of its
// own range (units) so stations can share or not share units.
func stationRuns(stationID string, n int, seedN uint64, start time.Time) []records.Run {
	var out []records.Run
	for r := range seed.Runs(seed.Config{Runs: n, Seed: seedN, Start: start, End: start.Add(time.Duration(n) * 60 * time.Second), Slots: 8}) {
		r.Start.StationID = stationID
		out = append(out, r)
	}
	return out
}

// record feeds runs to the store as the engine would, event by event.
func record(t testing.TB, s *records.Store, runs []records.Run) {
	t.Helper()
	for _, r := range runs {
		for _, ev := range seed.Events(r) {
			if err := s.Record(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// startRun records only the start of a run: it stays RUNNING.
func startRun(t testing.TB, s *records.Store, r records.Run) {
	t.Helper()
	evs := seed.Events(r)
	if err := s.Record(context.Background(), evs[0]); err != nil {
		t.Fatal(err)
	}
}

// finishRun records the rest of a run started by startRun.
func finishRun(t testing.TB, s *records.Store, r records.Run) {
	t.Helper()
	for _, ev := range seed.Events(r)[1:] {
		if err := s.Record(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
}

// runReplicator runs rep in the background until the test ends.
func runReplicator(t testing.TB, rep *central.Replicator) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rep.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("replicator stopped: %v", err)
		}
	})
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// centralRuns reads the central store's runs: id → outcome.
func centralRuns(t testing.TB, conn *pgx.Conn) map[string]string {
	t.Helper()
	rows, err := conn.Query(context.Background(), "SELECT id, outcome FROM runs")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for rows.Next() {
		var id, o string
		if err := rows.Scan(&id, &o); err != nil {
			t.Fatal(err)
		}
		out[id] = o
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// localRuns reads a station's own finished runs: id → outcome.
func localRuns(t testing.TB, r *records.Reader) map[string]string {
	t.Helper()
	page, err := r.Finished(context.Background(), 0, 1<<30, false)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, fr := range page.Runs {
		out[fr.Run.ID] = string(fr.Run.Outcome)
	}
	return out
}

func count(t testing.TB, conn *pgx.Conn, q string, args ...any) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func tempPath(t testing.TB, name string) string { return filepath.Join(t.TempDir(), name) }

// localHistory is the station's own history read from its records (what
// records.Store.UnitHistory answers on main).
type localHistory struct{ r *records.Reader }

func (h localHistory) UnitHistory(ctx context.Context, imei string) (station.UnitHistory, error) {
	runs, err := h.r.Unit(ctx, imei)
	if err != nil {
		return station.UnitHistory{}, err
	}
	var u station.UnitHistory
	for _, r := range runs {
		if r.Outcome == station.Running {
			continue
		}
		u.Attempts++
		u.Passed = u.Passed || r.Outcome == station.Pass
	}
	u.Source = "local"
	return u, nil
}
