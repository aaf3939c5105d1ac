package linetest

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"nrfline/station"
)

// A disk that fills up in the middle of a unit's run: the station cannot
// record the verdict, so the operator sees ERROR RECORD_FAILED, never the
// PASS the unit earned, and the database holds no PASS for it either.
func TestFullDiskMidRunIsErrorNeverPass(t *testing.T) {
	mnt := mountTmpfs(t, "size=8m")
	db := filepath.Join(mnt, "station.db")
	l := startLine(t, lineSpec{units: 1, speed: 4, edit: func(cfg string) string {
		return strings.Replace(cfg, "database = 'station.db'", "database = '"+db+"'", 1)
	}})
	cmd, _, sc := startBatch(t, l, nil)
	var verdicts []station.Verdict
	filled := false
	for sc.Scan() {
		var ev station.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("stdout line is not a JSON event: %q", sc.Text())
		}
		if !filled && ev.Kind == station.StepStarted && ev.Step == station.StepBootstrap {
			fillDisk(t, mnt)
			filled = true
		}
		if ev.Kind == station.VerdictReached {
			verdicts = append(verdicts, *ev.Verdict)
		}
	}
	err := cmd.Wait()
	if !filled {
		t.Fatal("the run never reached the bootstrap step")
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("exit %v, want status 1 (a unit did not pass)", err)
	}
	if len(verdicts) != 1 || verdicts[0].Outcome != station.Errored || verdicts[0].Code != station.RecordFailed {
		t.Fatalf("published verdicts %+v, want one ERROR RECORD_FAILED", verdicts)
	}

	// With space again the file never says PASS for that run: it stays
	// RUNNING (nothing could be written) until the next start closes it as
	// ABORTED; then the unit is provisioned again and passes.
	if err := os.Remove(filepath.Join(mnt, "filler")); err != nil {
		t.Fatal(err)
	}
	if rows := reportRunsIn(t, db); len(rows) != 1 || rows[0].Outcome != "RUNNING" {
		t.Errorf("after the full disk: runs %+v, want the one run still RUNNING", rows)
	}
	if res := l.batch(t); res.exit != 0 {
		t.Fatalf("next batch: exit %d\n%s", res.exit, res.explain(t, "A1"))
	}
	rows := reportRunsIn(t, db)
	outcomes := map[string]int{}
	for _, r := range rows {
		outcomes[r.Outcome]++
	}
	if len(rows) != 2 || outcomes["ABORTED"] != 1 || outcomes["PASS"] != 1 {
		t.Errorf("runs after the next start %+v, want one ABORTED and one PASS", rows)
	}
}

// mountTmpfs mounts a small tmpfs for the test, or skips where mounting is
// not allowed (records' own tests cover a full disk without a mount).
func mountTmpfs(t *testing.T, opts string) string {
	t.Helper()
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts, "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s)", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", mnt, err, out)
		}
	})
	return mnt
}

// fillDisk writes a file until the file system is full.
func fillDisk(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", dir, err)
			}
			return
		}
	}
}
