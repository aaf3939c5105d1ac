package records_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"

	"nrfline/records"
	"nrfline/station"
)

// A verdict that cannot be committed must come back as RECORD_FAILED (the
// engine then shows ERROR, never PASS), the file must not hold PASS, and
// once the file takes writes again the run is recorded as the ERROR
// RECORD_FAILED the operator saw.
func TestVerdictThatCannotBeWrittenIsNeverPass(t *testing.T) {
	for _, tc := range []struct {
		name string
		// break makes the database refuse writes; it returns the repair.
		brk     func(t *testing.T, s *records.Store, dir string) (repair func())
		mount   bool // the database lives on a tmpfs mounted for the test
		sqlCode sqlite3.ErrNo
	}{
		{name: "locked past busy_timeout", brk: holdWriteLock, sqlCode: sqlite3.ErrBusy},
		{name: "disk full (tmpfs)", brk: fillDisk, mount: true, sqlCode: sqlite3.ErrFull},
		{name: "disk full (max_page_count)", brk: capPages, sqlCode: sqlite3.ErrFull},
		{name: "read-only files (chattr +i)", brk: immutableFiles},
		{name: "read-only connection (query_only)", brk: queryOnly, sqlCode: sqlite3.ErrReadonly},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.mount {
				dir = mountTmpfs(t, dir, "size=4m")
			}
			path := filepath.Join(dir, "station.db")
			s := mustOpen(t, path, records.WithBusyTimeout(200*time.Millisecond))
			evs := fixture{id: runID(1), slot: "A1", imei: "352656100367872", started: t0}.events()
			recordAll(t, s, evs[:len(evs)-1])
			// a transcript big enough that the verdict needs new pages
			big := station.Event{Kind: station.DeviceLine, Run: runID(1), Slot: "A1", Dir: station.DirLog, Time: t0, Text: randomText(t, 60<<10)}
			recordAll(t, s, []station.Event{big})

			repair := tc.brk(t, s, dir)
			err := s.Record(context.Background(), evs[len(evs)-1])
			if station.CodeOf(err) != station.RecordFailed {
				repair()
				t.Fatalf("verdict on a broken database: %v, want RECORD_FAILED", err)
			}
			var se sqlite3.Error
			if !errors.As(err, &se) {
				t.Errorf("the sqlite error is not reachable with errors.As: %v", err)
			} else if tc.sqlCode != 0 && se.Code != tc.sqlCode {
				t.Errorf("sqlite code %v, want %v (%v)", se.Code, tc.sqlCode, err)
			}
			if o := outcomeOf(t, path, runID(1)); o == "PASS" {
				t.Fatalf("the database says PASS although the verdict failed")
			}
			repair()
			// the next write that commits also records the failed verdict
			recordAll(t, s, fixture{id: runID(2), slot: "A2", imei: "352656100367880", started: t0.Add(time.Hour)}.events())
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			runs := exportRuns(t, mustReader(t, path), records.Filter{})
			if len(runs) != 2 {
				t.Fatalf("%d runs, want 2", len(runs))
			}
			if r := runs[0]; r.Outcome != station.Errored || r.Code != station.RecordFailed || !strings.Contains(r.Detail, "verdict PASS") {
				t.Errorf("failed verdict recorded as %s %s %q, want ERROR RECORD_FAILED", r.Outcome, r.Code, r.Detail)
			}
			if r := runs[1]; r.Outcome != station.Pass {
				t.Errorf("the next run: %s, want PASS", r.Outcome)
			}
		})
	}
}

func outcomeOf(t *testing.T, path, run string) string {
	t.Helper()
	var o string
	if err := rawDB(t, path).QueryRow(`SELECT outcome FROM runs WHERE id = ?`, run).Scan(&o); err != nil {
		t.Fatalf("read outcome: %v", err)
	}
	return o
}

func randomText(t *testing.T, n int) string {
	b := make([]byte, n/2)
	rand.Read(b)
	var sb strings.Builder
	h := hex.EncodeToString(b)
	for len(h) > 100 {
		sb.WriteString(h[:100])
		sb.WriteByte('\n')
		h = h[100:]
	}
	return sb.String()
}

// holdWriteLock has another process's connection hold the write lock.
func holdWriteLock(t *testing.T, _ *records.Store, dir string) func() {
	db := rawDB(t, filepath.Join(dir, "station.db"))
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	return func() {
		conn.ExecContext(context.Background(), "ROLLBACK")
		conn.Close()
	}
}

func capPages(t *testing.T, s *records.Store, _ string) func() {
	if err := records.LimitPages(s, 0); err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := records.ExecOnWriter(s, "PRAGMA max_page_count = 1073741823"); err != nil {
			t.Fatal(err)
		}
	}
}

func queryOnly(t *testing.T, s *records.Store, _ string) func() {
	if err := records.ExecOnWriter(s, "PRAGMA query_only = 1"); err != nil {
		t.Fatal(err)
	}
	return func() {
		// a query_only connection cannot begin a write transaction, so
		// this runs on the writer's connection outside one
		if err := records.ExecOnIdleWriter(s, "PRAGMA query_only = 0"); err != nil {
			t.Fatal(err)
		}
	}
}

// mountTmpfs mounts a small tmpfs below dir, or skips the test where the
// user may not mount (the max_page_count and query_only cases cover the
// same code unprivileged).
func mountTmpfs(t *testing.T, dir, opts string) string {
	t.Helper()
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts, "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s)", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		exec.Command("mount", "-o", "remount,rw", mnt).Run()
		if out, err := exec.Command("umount", "-l", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", mnt, err, out)
		}
	})
	return mnt
}

// fillDisk fills the filesystem with a file until it is full.
func fillDisk(t *testing.T, _ *records.Store, dir string) func() {
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	f.Close()
	return func() {
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
	}
}

// immutableFiles makes the database files unwritable even for root, the
// way a filesystem gone read-only behaves for files already open.
func immutableFiles(t *testing.T, _ *records.Store, dir string) func() {
	// not the -shm file: SQLite maps it, and a write to a mapped page of an
	// immutable file is a SIGBUS, not an error
	files := []string{filepath.Join(dir, "station.db"), filepath.Join(dir, "station.db-wal")}
	undo := func() {
		for _, f := range files {
			exec.Command("chattr", "-i", f).Run()
		}
	}
	t.Cleanup(undo) // before TempDir's own cleanup removes the files
	for _, f := range files {
		if out, err := exec.Command("chattr", "+i", f).CombinedOutput(); err != nil {
			undo()
			t.Skipf("cannot make files immutable here (%v: %s)", err, strings.TrimSpace(string(out)))
		}
	}
	return undo
}
