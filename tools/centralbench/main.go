// Command centralbench measures the line-wide records' targets (issue 13)
// on a throwaway PostgreSQL (make bench runs it through
// scripts/central-bench.sh):
//
//   - replication lag p99 ≤ 2 s while PostgreSQL is up: runs recorded at a
//     steady rate, lag = arrival in PostgreSQL − verdict committed locally;
//   - catch-up after an outage ≥ 5,000 runs/s: a backlog recorded while
//     PostgreSQL was down, drained once it is back;
//   - report summary on 1M runs ≤ 3 × psql GROUP BY outcome;
//   - the virtual line's cycle time with and without [central] within 1 %.
//
// It exits 1 when a target is missed, 2 when PostgreSQL is not installed.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"nrfline/central"
	"nrfline/central/pgtest"
	"nrfline/records"
	"nrfline/records/seed"
	"nrfline/station"
)

type options struct {
	bin                        string
	lagRuns, lagRate           int
	backlog, summaryRuns       int
	cycleUnits, cycleReps      int
	cycleSpeed                 float64
	repeat                     int
	skipLag, skipCycle, skipUp bool
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin/station", "station binary")
	flag.IntVar(&o.lagRuns, "lag-runs", 1500, "runs recorded for the lag measurement")
	flag.IntVar(&o.lagRate, "lag-rate", 50, "runs per second for the lag measurement")
	flag.IntVar(&o.backlog, "backlog", 100000, "runs recorded during the outage")
	flag.IntVar(&o.summaryRuns, "summary-runs", 1000000, "runs in PostgreSQL for the summary (the backlog, copied)")
	flag.IntVar(&o.cycleUnits, "cycle-units", 8, "units of the virtual line for the cycle time")
	flag.IntVar(&o.cycleReps, "cycle-reps", 3, "shifts with and without [central] each")
	flag.Float64Var(&o.cycleSpeed, "cycle-speed", 4, "virtual line speed for the cycle time")
	flag.IntVar(&o.repeat, "repeat", 5, "timed runs per report command (the median counts)")
	flag.Parse()
	os.Exit(run(o))
}

func run(o options) int {
	cluster, err := pgtest.Start() // fsync on: the figures are a real server's
	if errors.Is(err, pgtest.ErrMissing) {
		fmt.Fprintln(os.Stderr, "central bench:", err)
		return 2
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "central bench: start PostgreSQL:", err)
		return 1
	}
	defer cluster.Close()
	ok := true
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "central bench:", err)
		fmt.Fprintln(os.Stderr, cluster.Log())
		return 1
	}
	ctx := context.Background()
	fmt.Println("central (PostgreSQL) bench")

	p50, p99, max, err := lag(ctx, cluster, o)
	if err != nil {
		return fail(err)
	}
	ok = report(fmt.Sprintf("replication lag, %d runs at %d/s: p50 %.3f s, p99 %.3f s, max %.3f s", o.lagRuns, o.lagRate, p50, p99, max), "p99 <= 2 s", p99 <= 2) && ok

	url, rate, rateAll, err := catchUp(ctx, cluster, o)
	if err != nil {
		return fail(err)
	}
	ok = report(fmt.Sprintf("catch-up after an outage, %d runs: %.0f runs/s from the first batch (%.0f runs/s counting the reconnect backoff)", o.backlog, rate, rateAll),
		">= 5000 runs/s", rate >= 5000) && ok

	sum, grp, n, err := summary(ctx, cluster, url, o)
	if err != nil {
		return fail(err)
	}
	ok = report(fmt.Sprintf("report summary on %d runs: %.3f s; psql GROUP BY outcome %.3f s; ratio %.2f", n, sum, grp, sum/grp), "<= 3", sum/grp <= 3) && ok

	without, with, err := cycle(ctx, cluster, o)
	if err != nil {
		return fail(err)
	}
	diff := (with - without) / without
	ok = report(fmt.Sprintf("cycle time per unit, %d units at speed %g, median of %d shifts: %.3f s without [central], %.3f s with; %+.2f %%",
		o.cycleUnits, o.cycleSpeed, o.cycleReps, without, with, 100*diff), "within 1 %", diff <= 0.01 && diff >= -0.01) && ok
	if !ok {
		return 1
	}
	return 0
}

func report(line, target string, ok bool) bool {
	verdict := "ok"
	if !ok {
		verdict = "MISSED"
	}
	fmt.Printf("  %s (target %s)  %s\n", line, target, verdict)
	return ok
}

// lag records runs at a steady rate into a station's journal while the
// replicator ships them, and compares each run's arrival in PostgreSQL with
// the moment its verdict was committed locally.
func lag(ctx context.Context, c *pgtest.Cluster, o options) (p50, p99, max float64, err error) {
	url, err := c.NewDB(ctx, "lag")
	if err != nil {
		return 0, 0, 0, err
	}
	dir, err := os.MkdirTemp("", "central-bench-")
	if err != nil {
		return 0, 0, 0, err
	}
	defer os.RemoveAll(dir)
	store, err := records.Open(filepath.Join(dir, "station.db"))
	if err != nil {
		return 0, 0, 0, err
	}
	defer store.Close()
	rep, err := central.NewReplicator(store.Reader(), url, "st1")
	if err != nil {
		return 0, 0, 0, err
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rep.Run(rctx) }()
	defer func() { cancel(); <-done }()

	committed := map[string]time.Time{}
	tick := time.NewTicker(time.Second / time.Duration(o.lagRate))
	defer tick.Stop()
	now := time.Now().UTC()
	for r := range seed.Runs(seed.Config{Runs: o.lagRuns, Seed: 9, Start: now.Add(-time.Hour), End: now}) {
		<-tick.C
		for _, ev := range seed.Events(r) {
			if err := store.Record(ctx, ev); err != nil {
				return 0, 0, 0, err
			}
		}
		committed[r.ID] = time.Now()
	}
	if err := waitShipped(rep, int64(o.lagRuns), 60*time.Second); err != nil {
		return 0, 0, 0, err
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, 0, 0, err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT id, received FROM runs")
	if err != nil {
		return 0, 0, 0, err
	}
	var lags []float64
	for rows.Next() {
		var id string
		var at time.Time
		if err := rows.Scan(&id, &at); err != nil {
			return 0, 0, 0, err
		}
		lags = append(lags, at.Sub(committed[id]).Seconds())
	}
	if err := rows.Err(); err != nil {
		return 0, 0, 0, err
	}
	if len(lags) != o.lagRuns {
		return 0, 0, 0, fmt.Errorf("lag: %d runs arrived, %d recorded", len(lags), o.lagRuns)
	}
	slices.Sort(lags)
	q := func(p float64) float64 { return lags[min(len(lags)-1, int(p*float64(len(lags))))] }
	return q(0.5), q(0.99), lags[len(lags)-1], nil
}

func waitShipped(rep *central.Replicator, n int64, d time.Duration) error {
	deadline := time.Now().Add(d)
	for rep.Status().Shipped < n {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d runs shipped after %v: %s", rep.Status().Shipped, n, d, rep.Status().LastErr)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// catchUp records a backlog while PostgreSQL is down, brings it back and
// times the drain.
func catchUp(ctx context.Context, c *pgtest.Cluster, o options) (url string, rate, rateAll float64, err error) {
	url, err = c.NewDB(ctx, "line")
	if err != nil {
		return "", 0, 0, err
	}
	dir, err := os.MkdirTemp("", "central-bench-")
	if err != nil {
		return "", 0, 0, err
	}
	defer os.RemoveAll(dir)
	store, err := records.Open(filepath.Join(dir, "station.db"))
	if err != nil {
		return "", 0, 0, err
	}
	defer store.Close()
	if err := c.Stop(); err != nil {
		return "", 0, 0, err
	}
	rep, err := central.NewReplicator(store.Reader(), url, "line1-st3")
	if err != nil {
		return "", 0, 0, err
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rep.Run(rctx) }()
	defer func() { cancel(); <-done }()
	fmt.Printf("  (recording %d runs while PostgreSQL is down …)\n", o.backlog)
	// The backlog of a long outage: a day of a busy line's runs.
	end := time.Now().UTC().Truncate(time.Second)
	if err := seed.Fill(ctx, store, seed.Config{Runs: o.backlog, Seed: 1, Start: end.Add(-24 * time.Hour), End: end}); err != nil {
		return "", 0, 0, err
	}
	if err := c.Start(); err != nil {
		return "", 0, 0, err
	}
	up := time.Now()
	var first time.Time
	for rep.Status().Shipped < int64(o.backlog) {
		if first.IsZero() && rep.Status().Shipped > 0 {
			first = time.Now()
		}
		if time.Since(up) > 10*time.Minute {
			return "", 0, 0, fmt.Errorf("catch-up: %d of %d runs shipped after 10 min: %s", rep.Status().Shipped, o.backlog, rep.Status().LastErr)
		}
		time.Sleep(2 * time.Millisecond)
	}
	drained := time.Now()
	shipped := rep.Status().Shipped
	if shipped != int64(o.backlog) {
		return "", 0, 0, fmt.Errorf("catch-up: %d runs stored, %d recorded", shipped, o.backlog)
	}
	if first.IsZero() {
		first = up
	}
	return url, float64(o.backlog) / drained.Sub(first).Seconds(), float64(o.backlog) / drained.Sub(up).Seconds(), nil
}

// summary copies the caught-up runs until the store holds summaryRuns (each
// copy a year later with other IMEIs, its units and histograms with it, as
// the replicator would have written them), then times the commands.
func summary(ctx context.Context, c *pgtest.Cluster, url string, o options) (sum, grp float64, n int, err error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, 0, 0, err
	}
	defer conn.Close(ctx)
	for k := 1; k*o.backlog < o.summaryRuns; k++ {
		if _, err := conn.Exec(ctx, copySQL, k, fmt.Sprintf("%d", k), o.backlog, o.summaryRuns-k*o.backlog); err != nil {
			return 0, 0, 0, fmt.Errorf("copy runs: %w", err)
		}
	}
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE"); err != nil {
		return 0, 0, 0, err
	}
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM runs").Scan(&n); err != nil {
		return 0, 0, 0, err
	}
	bin, err := pgtest.Bin()
	if err != nil {
		return 0, 0, 0, err
	}
	// Alternately, so both see the same machine (it is shared).
	var sums, grps []float64
	for range o.repeat {
		s, err := median(1, o.bin, "report", "summary", "--db", url)
		if err != nil {
			return 0, 0, 0, err
		}
		g, err := median(1, filepath.Join(bin, "psql"), url, "-c", "SELECT outcome, count(*) FROM runs GROUP BY outcome")
		if err != nil {
			return 0, 0, 0, err
		}
		sums, grps = append(sums, s), append(grps, g)
	}
	slices.Sort(sums)
	slices.Sort(grps)
	return sums[len(sums)/2], grps[len(grps)/2], n, nil
}

// copySQL adds copy $1 of the first $3 runs (at most $4 of them): ids and
// IMEIs made distinct with $2, started $1 × 365 days later.
const copySQL = `
WITH src AS (SELECT * FROM runs WHERE id NOT LIKE '%-%-%-%-%-%' ORDER BY id LIMIT least($3::int, $4::int)),
ins AS (
	INSERT INTO runs (id, station_id, station_version, slot, probe, operator, imei, iccid, imsi, modem_fw, model,
		hw_version, modem_uuid, fw_name, fw_sha256, flash_tool, flash_version, started, ended, seconds, outcome, code,
		step, detail, attempt, psk_identity, psk_sha256, received, first_run, unit_passed, identified)
	SELECT id || '-' || $2::text, station_id, station_version, slot, probe, operator,
		CASE WHEN imei = '' THEN '' ELSE imei || '-' || $2::text END, iccid, imsi, modem_fw, model, hw_version,
		modem_uuid, fw_name, fw_sha256, flash_tool, flash_version, started + $1::int * interval '365 days',
		ended + $1::int * interval '365 days', seconds, outcome, code, step, detail, attempt, psk_identity,
		psk_sha256, received, first_run, unit_passed, identified FROM src
	RETURNING 1),
units_ins AS (
	INSERT INTO units (imei, runs, first_run, first_started, passed)
	SELECT u.imei || '-' || $2::text, u.runs, u.first_run || '-' || $2::text, u.first_started + $1::int * interval '365 days', u.passed
	FROM units u JOIN src ON src.id = u.first_run
	RETURNING 1)
INSERT INTO cycle (day, station_id, name, bucket, n)
SELECT day + $1::int * 365, station_id, name, bucket, n FROM cycle WHERE day < (SELECT min(day) FROM cycle) + 400
	AND $4::int >= $3::int
ON CONFLICT (day, station_id, name, bucket) DO UPDATE SET n = cycle.n + excluded.n`

// median times a command repeat times after a warm-up run.
func median(repeat int, name string, args ...string) (float64, error) {
	var times []float64
	for i := 0; i <= repeat; i++ {
		cmd := exec.Command(name, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		t0 := time.Now()
		if err := cmd.Run(); err != nil {
			return 0, fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, stderr.Bytes())
		}
		if i > 0 {
			times = append(times, time.Since(t0).Seconds())
		}
	}
	slices.Sort(times)
	return times[len(times)/2], nil
}

// cycle provisions the virtual line shift after shift, alternately without
// and with [central] (PostgreSQL up), and returns the median per-unit cycle
// time (verdict end − run start) of each.
func cycle(ctx context.Context, c *pgtest.Cluster, o options) (without, with float64, err error) {
	url, err := c.NewDB(ctx, "cycle")
	if err != nil {
		return 0, 0, err
	}
	dir, err := os.MkdirTemp("", "central-bench-line-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	sim := exec.Command(o.bin, "sim", "--units", fmt.Sprint(o.cycleUnits), "--dir", dir, "--speed", fmt.Sprint(o.cycleSpeed))
	out, err := sim.StdoutPipe()
	if err != nil {
		return 0, 0, err
	}
	if err := sim.Start(); err != nil {
		return 0, 0, err
	}
	defer func() { sim.Process.Signal(os.Interrupt); sim.Wait() }()
	sc := bufio.NewScanner(out)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "sim: ready") {
	}
	go func() {
		for sc.Scan() {
		}
	}()
	base, err := os.ReadFile(filepath.Join(dir, "station.toml"))
	if err != nil {
		return 0, 0, err
	}
	plain := filepath.Join(dir, "plain.toml")
	withCentral := filepath.Join(dir, "central.toml")
	cfg := regexp.MustCompile(`(?m)^\[central\]\n(?:[a-z_]+ = .*\n)*`).ReplaceAllString(string(base), "")
	if err := os.WriteFile(plain, []byte(cfg), 0o644); err != nil {
		return 0, 0, err
	}
	if err := os.WriteFile(withCentral, []byte(cfg+"\n[central]\nurl = '"+url+"'\n"), 0o644); err != nil {
		return 0, 0, err
	}
	var a, b []float64
	for range o.cycleReps {
		for _, k := range []struct {
			cfg string
			out *[]float64
		}{{plain, &a}, {withCentral, &b}} {
			secs, err := shift(o.bin, k.cfg)
			if err != nil {
				return 0, 0, err
			}
			*k.out = append(*k.out, secs...)
		}
	}
	slices.Sort(a)
	slices.Sort(b)
	return a[len(a)/2], b[len(b)/2], nil
}

// shift runs one `batch --once --json` and returns each unit's cycle time.
func shift(bin, cfg string) ([]float64, error) {
	cmd := exec.Command(bin, "batch", "--config", cfg, "--once", "--json")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("batch: %w\n%s", err, stderr.Bytes())
	}
	var secs []float64
	for line := range bytes.Lines(out) {
		var ev station.Event
		if json.Unmarshal(line, &ev) == nil && ev.Kind == station.VerdictReached {
			if ev.Verdict.Outcome != station.Pass {
				return nil, fmt.Errorf("batch: slot %s %s %s", ev.Slot, ev.Verdict.Outcome, ev.Verdict.Code)
			}
			secs = append(secs, ev.Verdict.Ended.Sub(ev.Verdict.Started).Seconds())
		}
	}
	return secs, nil
}
