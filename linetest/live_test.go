package linetest

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"nrfline/station"
)

// Batch semantics (CONTRACT.md): --once is the units present at start,
// --count N stops after N verdicts with or without --once, N < 1 is a
// usage error; --json ends with one summary event.
func TestBatchOnceAndCount(t *testing.T) {
	l := startLine(t, lineSpec{units: 4, speed: 50})
	t.Run("once count 1 with 4 present runs exactly 1", func(t *testing.T) {
		res := l.batch(t, "--count", "1")
		if res.exit != 0 || len(res.verdicts) != 1 {
			t.Fatalf("exit %d, %d verdicts; want 0 and 1\n%s", res.exit, len(res.verdicts), res.stderr)
		}
		sum := lastSummary(t, res.stdout)
		if sum.Units != 1 || sum.Pass != 1 || len(sum.Verdicts) != 1 || sum.ExitCode != 0 {
			t.Fatalf("summary %+v", sum)
		}
	})
	t.Run("count 2 without once stops after 2 verdicts", func(t *testing.T) {
		cmd := exec.Command(stationBin, "batch", "--config", l.config, "--count", "2", "--json")
		done := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
		defer done.Stop()
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("batch --count 2: %v", err)
		}
		if sum := lastSummary(t, out); sum.Units != 2 || len(sum.Verdicts) != 2 {
			t.Fatalf("summary %+v", sum)
		}
	})
	for _, n := range []string{"0", "-3"} {
		t.Run("count "+n+" is a usage error", func(t *testing.T) {
			out, err := exec.Command(stationBin, "batch", "--config", l.config, "--count", n).CombinedOutput()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "--count") {
				t.Fatalf("exit %v, output %s; want 2 naming --count", err, out)
			}
		})
	}
}

type summaryLine struct {
	Kind     string            `json:"kind"`
	Units    int               `json:"units"`
	Pass     int               `json:"pass"`
	ExitCode int               `json:"exit_code"`
	Verdicts []station.Verdict `json:"verdicts"`
}

func lastSummary(t *testing.T, stdout []byte) summaryLine {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(string(stdout)), "\n")
	var s summaryLine
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &s); err != nil || s.Kind != "summary" {
		t.Fatalf("last line is not a summary event: %q (%v)", lines[len(lines)-1], err)
	}
	return s
}

// A slot whose configured port does not exist is the fixture's problem:
// ERROR PORT_UNAVAILABLE, not a unit failure.
func TestMissingConfiguredPortIsError(t *testing.T) {
	l := startLine(t, lineSpec{units: 1, edit: func(cfg string) string {
		return regexp.MustCompile(`(?m)^port = .*$`).ReplaceAllString(cfg, `port = "/dev/ttyNOSUCHPORT7"`)
	}})
	res := l.batch(t)
	v := res.verdicts["A1"]
	if v.Outcome != station.Errored || v.Code != station.PortUnavailable || !strings.Contains(v.Detail, "ttyNOSUCHPORT7") {
		t.Fatalf("verdict %s %s %q, want ERROR PORT_UNAVAILABLE naming the port\n%s", v.Outcome, v.Code, v.Detail, res.explain(t, "A1"))
	}
}

// SIGTERM while 8 units run: every run is recorded with an outcome and the
// station exits within 10 s.
func TestSIGTERMRecordsEveryRunQuickly(t *testing.T) {
	l := startLine(t, lineSpec{units: 8, speed: 4})
	cmd, out, sc := startBatch(t, l, nil)
	started := 0
	for started < 8 && sc.Scan() {
		var ev station.Event
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Kind == station.StepStarted && ev.Step == station.StepFlash {
			started++
		}
	}
	if started < 8 {
		t.Fatalf("only %d units reached flash", started)
	}
	time.Sleep(500 * time.Millisecond) // in the middle of flashing
	t0 := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	go func() {
		r := bufio.NewReader(out)
		for {
			if _, err := r.ReadBytes('\n'); err != nil {
				return
			}
		}
	}()
	cmd.Wait()
	took := time.Since(t0)
	if took > 10*time.Second {
		t.Errorf("exit took %s after SIGTERM, want ≤ 10 s", took)
	}
	rows := reportRuns(t, l)
	if len(rows) != 8 {
		t.Fatalf("%d runs recorded, want 8", len(rows))
	}
	for _, r := range rows {
		if r.Outcome == "RUNNING" || r.Outcome == "" {
			t.Errorf("run %s left %q", r.ID, r.Outcome)
		}
	}
	t.Logf("SIGTERM with 8 units flashing: exit after %s, 8 runs recorded", took.Round(time.Millisecond))
}
