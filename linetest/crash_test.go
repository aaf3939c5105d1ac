package linetest

import (
	"bufio"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"nrfline/station"
)

// startBatch starts `station batch --once --json` on the line, its stderr
// going to stderr (nil: discarded), and returns the command, its stdout
// and a scanner of it that takes long event lines. The process is killed
// at cleanup, or after 2 minutes.
func startBatch(t *testing.T, l *virtualLine, stderr io.Writer) (*exec.Cmd, io.ReadCloser, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(stationBin, "batch", "--config", l.config, "--once", "--json")
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	t.Cleanup(func() { deadline.Stop(); cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	return cmd, out, sc
}

// startBatchUntil starts `station batch --once --json` and returns once it
// printed an event that stop accepts, with the running command.
func startBatchUntil(t *testing.T, l *virtualLine, stop func(station.Event) bool) (*exec.Cmd, io.ReadCloser) {
	t.Helper()
	cmd, out, sc := startBatch(t, l, nil)
	for sc.Scan() {
		var ev station.Event
		if json.Unmarshal(sc.Bytes(), &ev) == nil && stop(ev) {
			return cmd, out
		}
	}
	t.Fatal("station batch ended before the awaited event")
	return nil, nil
}

type runRow struct {
	ID      string `json:"id"`
	Outcome string `json:"outcome"`
	Code    string `json:"code"`
	Step    string `json:"step"`
}

func reportRuns(t *testing.T, l *virtualLine) []runRow {
	t.Helper()
	return reportRunsIn(t, l.dir+"/station.db")
}

// reportRunsIn is `station report runs --format json` on the database db.
func reportRunsIn(t *testing.T, db string) []runRow {
	t.Helper()
	b, err := exec.Command(stationBin, "report", "runs", "--db", db, "--format", "json").Output()
	if err != nil {
		t.Fatalf("report runs: %v", err)
	}
	var rows []runRow
	if err := json.Unmarshal(b, &rows); err != nil {
		t.Fatalf("report runs json: %v\n%s", err, b)
	}
	return rows
}

// A station killed with SIGKILL in the middle of a bootstrap leaves a
// RUNNING run; the next start closes it as ABORTED with the step it was in,
// and the unit is then provisioned normally.
func TestKilledStationRunIsClosedAsAborted(t *testing.T) {
	l := startLine(t, lineSpec{units: 1, speed: 4})
	cmd, _ := startBatchUntil(t, l, func(ev station.Event) bool {
		return ev.Kind == station.StepStarted && ev.Step == station.StepBootstrap
	})
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	res := l.batch(t)
	if v := res.verdicts["A1"]; res.exit != 0 || v.Outcome != station.Pass {
		t.Fatalf("after the crash: exit %d, %+v\n%s", res.exit, v, res.explain(t, "A1"))
	}
	rows := reportRuns(t, l)
	var aborted, passed int
	for _, r := range rows {
		switch {
		case r.Outcome == "ABORTED" && r.Code == "ABORTED" && r.Step == "bootstrap":
			aborted++
		case r.Outcome == "PASS":
			passed++
		default:
			t.Errorf("unexpected run %+v", r)
		}
	}
	if aborted != 1 || passed != 1 {
		t.Errorf("runs after a crash: %+v", rows)
	}
}

// SIGINT stops the station cleanly: the unit's run ends ABORTED, recorded,
// and the exit status says not every unit passed.
func TestInterruptedStationRecordsAborted(t *testing.T) {
	l := startLine(t, lineSpec{units: 1, speed: 4})
	cmd, out := startBatchUntil(t, l, func(ev station.Event) bool {
		return ev.Kind == station.StepStarted && ev.Step == station.StepBootstrap
	})
	cmd.Process.Signal(syscall.SIGINT)
	rest, _ := io.ReadAll(out)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("exit after SIGINT: %v, want status 1", err)
	}
	if !strings.Contains(string(rest), `"outcome":"ABORTED"`) {
		t.Errorf("no ABORTED verdict published after SIGINT:\n%s", rest)
	}
	rows := reportRuns(t, l)
	if len(rows) != 1 || rows[0].Outcome != "ABORTED" || rows[0].Step != "bootstrap" {
		t.Errorf("recorded runs %+v", rows)
	}
}

// An integrator's reader of --json that goes away mid-run (a broken pipe)
// neither kills the station nor leaves a run open: the run ends ABORTED,
// recorded, and the exit status says the output was lost.
func TestBrokenOutputPipeAbortsCleanly(t *testing.T) {
	l := startLine(t, lineSpec{units: 1, speed: 4})
	var stderr strings.Builder
	cmd, out, sc := startBatch(t, l, &stderr)
	for sc.Scan() {
		var ev station.Event
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Kind == station.StepStarted && ev.Step == station.StepFlash {
			break
		}
	}
	out.Close()
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Errorf("exit after the output broke: %v, want status 3\nstderr:\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "write the event output") {
		t.Errorf("stderr does not say the output was lost:\n%s", stderr.String())
	}
	rows := reportRuns(t, l)
	if len(rows) != 1 || rows[0].Outcome != "ABORTED" {
		t.Errorf("recorded runs %+v, want one ABORTED run", rows)
	}
}
