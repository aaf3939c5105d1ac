package linetest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"nrfline/station"
)

// The database deleted while a station runs (a cleanup script, a
// supervisor "resetting" the line): no run is shown as recorded PASS into
// a file nobody will open again, and the next start refuses (exit 3)
// instead of creating an empty database next to the lost history.
func TestDatabaseDeletedMidRunIsNeverPass(t *testing.T) {
	l := startLine(t, lineSpec{units: 2, speed: 4})
	if res := l.batch(t); res.exit != 0 {
		t.Fatalf("first batch: exit %d\n%s", res.exit, res.explain(t, "A1"))
	}
	cmd, out := startBatchUntil(t, l, func(ev station.Event) bool {
		return ev.Kind == station.StepStarted && ev.Step == station.StepInject
	})
	if err := os.Remove(filepath.Join(l.dir, "station.db")); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var verdicts []station.Verdict
	for sc.Scan() {
		var ev station.Event
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Kind == station.VerdictReached {
			verdicts = append(verdicts, *ev.Verdict)
		}
	}
	cmd.Wait()
	if len(verdicts) != 2 {
		t.Fatalf("verdicts %+v, want one per unit", verdicts)
	}
	for _, v := range verdicts {
		if v.Outcome != station.Errored || v.Code != station.RecordFailed || v.Step == "" || !strings.Contains(v.Detail, "deleted") {
			t.Errorf("%s: %s %s at %q (%s), want ERROR RECORD_FAILED at a step, saying the database was deleted", v.Slot, v.Outcome, v.Code, v.Step, v.Detail)
		}
	}
	res := l.batch(t)
	if res.exit != 3 || !bytes.Contains(res.stderr, []byte("deleted or moved")) {
		t.Errorf("start after the deletion: exit %d, want 3 saying the database was deleted or moved\n%s", res.exit, res.stderr)
	}
	if _, err := os.Stat(filepath.Join(l.dir, "station.db")); err == nil {
		t.Error("a new, empty database was created next to the lost one's files")
	}
}

// Two stations with different databases on one fixture: each unit is
// provisioned by one of them; the other gets ERROR PORT_UNAVAILABLE for it
// (the station's problem, not the unit's) — never a FAIL from runs that
// stole each other's AT replies.
func TestTwoStationsOnOneLineNeverFailAUnit(t *testing.T) {
	l := startLine(t, lineSpec{units: 4, speed: 4})
	b, err := os.ReadFile(l.config)
	if err != nil {
		t.Fatal(err)
	}
	second := filepath.Join(l.dir, "second.toml")
	cfg := strings.Replace(string(b), "database = 'station.db'", "database = 'second.db'", 1)
	if err := os.WriteFile(second, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	// Without exclusive ports the two stations once hung here for good.
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	results := make([][]station.Verdict, 2)
	stderrs := make([]bytes.Buffer, 2)
	for i, config := range []string{l.config, second} {
		cmd := exec.CommandContext(ctx, stationBin, "batch", "--config", config, "--once", "--json")
		cmd.Stderr = &stderrs[i]
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill() })
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = verdictsOf(out)
			cmd.Wait()
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatal("two stations on one line did not finish within 3 minutes")
	}
	passed := map[string]bool{}
	busy := 0
	for i, vs := range results {
		for _, v := range vs {
			switch {
			case v.Outcome == station.Pass:
				passed[v.Slot] = true
			case v.Outcome == station.Errored && v.Code == station.PortUnavailable:
				busy++
				if !strings.Contains(v.Detail, "held by pid") {
					t.Errorf("station %d, %s: PORT_UNAVAILABLE does not name the holder: %s", i+1, v.Slot, v.Detail)
				}
			default:
				t.Errorf("station %d, %s: %s %s at %s: %s", i+1, v.Slot, v.Outcome, v.Code, v.Step, v.Detail)
			}
		}
	}
	if len(passed) != 4 {
		t.Errorf("units passed by either station: %v, want all 4\nstderr 1:\n%s\nstderr 2:\n%s", passed, &stderrs[0], &stderrs[1])
	}
	if busy == 0 {
		t.Error("the stations never met on a port: the test proved nothing")
	}
}

func verdictsOf(r io.Reader) []station.Verdict {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var out []station.Verdict
	for sc.Scan() {
		var ev station.Event
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Kind == station.VerdictReached {
			out = append(out, *ev.Verdict)
		}
	}
	return out
}
