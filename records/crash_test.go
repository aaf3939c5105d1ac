package records_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"nrfline/records"
	"nrfline/records/seed"
	"nrfline/station"
)

const crashChildEnv = "RECORDS_CRASH_CHILD"

func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		os.Exit(crashChild(path))
	}
	os.Exit(m.Run())
}

// crashChild records runs on 8 slots as fast as it can and reports on
// stdout what Record confirmed: "S run" started, "P run step" step started,
// "V run outcome" verdict committed. The parent kills it with SIGKILL.
func crashChild(path string) int {
	s, err := records.Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 3
	}
	round, _ := strconv.Atoi(os.Getenv("RECORDS_CRASH_ROUND"))
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		fmt.Fprintf(os.Stdout, format+"\n", args...)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for slot := range 8 {
		wg.Go(func() {
			day := t0.Add(time.Duration(round) * time.Hour)
			cfg := seed.Config{Runs: 100000, Seed: uint64(round*100 + slot + 1), Start: day, End: day.Add(time.Hour), Slots: 1, FailRate: 0.2}
			for r := range seed.Runs(cfg) {
				r.Start.Slot.Name = fmt.Sprintf("S%d", slot)
				for _, ev := range seed.Events(r) {
					if err := s.Record(context.Background(), ev); err != nil {
						fmt.Fprintln(os.Stderr, "child: record:", err)
						os.Exit(3)
					}
					switch ev.Kind {
					case station.RunStarted:
						say("S %s", ev.Run)
					case station.StepStarted:
						say("P %s %s", ev.Run, ev.Step)
					case station.VerdictReached:
						say("V %s %s", ev.Run, ev.Verdict.Outcome)
					}
				}
			}
		})
	}
	wg.Wait()
	return 0
}

// A station killed with SIGKILL in the middle of runs, again and again:
// after each restart every run has an outcome, nothing the station was
// told was committed is lost, runs cut short are ABORTED at the step they
// were in (or later), and the rollups agree with the runs.
func TestCrashRecoveryAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns and kills child processes")
	}
	path := dbPath(t)
	rng := rand.New(rand.NewPCG(1, 2))
	seenVerdicts := map[string]station.Outcome{}
	for round := range 6 {
		started, lastStep, verdicts := runAndKill(t, path, round, 5+rng.IntN(60))
		for id, o := range verdicts {
			seenVerdicts[id] = o
		}
		s := mustOpen(t, path) // crash recovery happens here
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		runs := map[string]records.RunRow{}
		for _, r := range exportRuns(t, mustReader(t, path), records.Filter{}) {
			runs[r.ID] = r
		}
		aborted := 0
		for id := range started {
			r, ok := runs[id]
			if !ok {
				t.Fatalf("round %d: run %s was confirmed started but is not in the database", round, id)
			}
			if r.Outcome == station.Aborted && r.Code == station.Interrupted {
				aborted++
				if want := lastStep[id]; stepIndex(r.Step) < stepIndex(string(want)) {
					t.Errorf("round %d: run %s ABORTED at step %q, but it had reached %q", round, id, r.Step, want)
				}
			}
		}
		for id, o := range seenVerdicts {
			if r, ok := runs[id]; !ok || r.Outcome != o {
				t.Fatalf("round %d: run %s was committed as %s, database has %+v", round, id, o, r)
			}
		}
		for id, r := range runs {
			if r.Outcome == station.Running || r.Ended == nil {
				t.Fatalf("round %d: run %s is still %s after recovery", round, id, r.Outcome)
			}
		}
		if aborted == 0 {
			t.Logf("round %d: the kill caught no run in flight", round)
		}
		checkRollups(t, path, len(runs))
	}
	t.Logf("%d verdicts confirmed over 6 kills", len(seenVerdicts))
}

func stepIndex(s string) int { return slices.Index(station.Steps, station.StepName(s)) }

// runAndKill runs the child until it confirmed n verdicts, kills it, and
// returns what it confirmed.
func runAndKill(t *testing.T, path string, round, n int) (started map[string]bool, lastStep map[string]station.StepName, verdicts map[string]station.Outcome) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path, "RECORDS_CRASH_ROUND="+strconv.Itoa(round))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started, lastStep, verdicts = map[string]bool{}, map[string]station.StepName{}, map[string]station.Outcome{}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "S":
			started[f[1]] = true
		case len(f) == 3 && f[0] == "P":
			lastStep[f[1]] = station.StepName(f[2])
		case len(f) == 3 && f[0] == "V":
			verdicts[f[1]] = station.Outcome(f[2])
		}
		if len(verdicts) >= n {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if len(verdicts) < n {
		t.Fatalf("round %d: the child stopped after %d verdicts", round, len(verdicts))
	}
	return started, lastStep, verdicts
}

// checkRollups compares the rollups (what summary reads) with the runs
// counted one by one.
func checkRollups(t *testing.T, path string, runs int) {
	t.Helper()
	db := rawDB(t, path)
	var raw, rolled, firstRaw, firstRolled int
	q := func(query string, dst *int) {
		if err := db.QueryRow(query).Scan(dst); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	q(`SELECT count(*) FROM runs`, &raw)
	q(`SELECT coalesce(sum(runs), 0) FROM daily`, &rolled)
	q(`SELECT count(*) FROM runs WHERE attempt = 1`, &firstRaw)
	q(`SELECT coalesce(sum(first_tested), 0) FROM daily`, &firstRolled)
	if raw != runs || rolled != raw || firstRolled != firstRaw {
		t.Errorf("runs %d (report %d), daily rollup %d; first tested %d, rollup %d", raw, runs, rolled, firstRaw, firstRolled)
	}
	rows, err := db.Query(`SELECT r.outcome, r.n, coalesce(d.n, 0) FROM
		(SELECT outcome, count(*) n FROM runs GROUP BY outcome) r LEFT JOIN
		(SELECT outcome, sum(runs) n FROM daily GROUP BY outcome) d USING (outcome)`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var o string
		var a, b int
		rows.Scan(&o, &a, &b)
		if a != b {
			t.Errorf("%s: %d runs, rollup says %d", o, a, b)
		}
	}
}
