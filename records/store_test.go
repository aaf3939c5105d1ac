package records_test

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"nrfline/records"
	"nrfline/station"
)

func TestOpenCreatesPrivateWALDatabase(t *testing.T) {
	path := dbPath(t)
	s := mustOpen(t, path)
	recordAll(t, s, fixture{id: runID(1), slot: "A1", imei: "352656100367872", started: t0}.events())
	for _, p := range []string{path, path + "-wal", path + "-shm", path + ".lock"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("stat %s: %v", p, err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s has mode %o, want 600", filepath.Base(p), m)
		}
	}
	db := rawDB(t, path)
	var mode string
	var version int
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode %q (%v), want wal", mode, err)
	}
	if err := db.QueryRow("PRAGMA user_version").Scan(&version); err != nil || version != records.SchemaVersion() || version < 1 {
		t.Errorf("user_version %d (%v), want %d", version, err, records.SchemaVersion())
	}
}

// rawDB opens the file with plain database/sql, as another program would.
func rawDB(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestOpenRefusesSecondWriter(t *testing.T) {
	path := dbPath(t)
	mustOpen(t, path)
	s, err := records.Open(path)
	if err == nil {
		s.Close()
		t.Fatal("a second Open of the same database succeeded")
	}
	if !errors.Is(err, records.ErrInUse) {
		t.Errorf("second Open: %v, want ErrInUse", err)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := dbPath(t)
	s := mustOpen(t, path)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := rawDB(t, path).Exec("PRAGMA user_version = 999"); err != nil {
		t.Fatal(err)
	}
	if s, err := records.Open(path); err == nil {
		s.Close()
		t.Fatal("Open accepted a database from a newer station")
	}
	if _, err := records.OpenReader(path); !errors.Is(err, records.ErrSchema) {
		t.Errorf("OpenReader: %v, want ErrSchema", err)
	}
}

func TestOpenReaderRejectsWhatIsNotAStationDatabase(t *testing.T) {
	dir := t.TempDir()
	if _, err := records.OpenReader(filepath.Join(dir, "missing.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
	other := filepath.Join(dir, "other.db")
	if _, err := rawDB(t, other).Exec("CREATE TABLE t (x)"); err != nil {
		t.Fatal(err)
	}
	if _, err := records.OpenReader(other); !errors.Is(err, records.ErrSchema) {
		t.Errorf("foreign database: %v, want ErrSchema", err)
	}
	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, []byte("not a database at all, just some text that is long enough to look like a header"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := records.OpenReader(text); !errors.Is(err, records.ErrSchema) {
		t.Errorf("text file: %v, want ErrSchema", err)
	}
}

// A report on a live station's database must not close its running runs.
func TestReaderLeavesLiveRunsRunning(t *testing.T) {
	path := dbPath(t)
	s := mustOpen(t, path)
	evs := fixture{id: runID(1), slot: "A1", imei: "352656100367872", started: t0}.events()
	recordAll(t, s, evs[:4])
	runs := exportRuns(t, mustReader(t, path), records.Filter{})
	if len(runs) != 1 || runs[0].Outcome != station.Running {
		t.Fatalf("runs %+v, want one RUNNING", runs)
	}
	recordAll(t, s, evs[4:])
	runs = exportRuns(t, mustReader(t, path), records.Filter{})
	if len(runs) != 1 || runs[0].Outcome != station.Pass {
		t.Fatalf("runs %+v, want one PASS", runs)
	}
}

func TestCloseLeavesUnfinishedRunsForRecovery(t *testing.T) {
	path := dbPath(t)
	s := mustOpen(t, path)
	evs := fixture{id: runID(1), slot: "A1", imei: "352656100367872", started: t0}.events()
	recordAll(t, s, evs[:6]) // inside the identify step
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Record(context.Background(), evs[6]); station.CodeOf(err) != station.RecordFailed {
		t.Errorf("Record after Close: %v, want RECORD_FAILED", err)
	}
	s2 := mustOpen(t, path)
	s2.Close()
	runs := exportRuns(t, mustReader(t, path), records.Filter{})
	if len(runs) != 1 || runs[0].Outcome != station.Aborted || runs[0].Code != station.Interrupted || runs[0].Step != "identify" {
		t.Fatalf("after reopen: %+v, want ABORTED at identify", runs)
	}
}

// Paths are passed to SQLite as URIs: characters that mean something in a
// URI must still name the file.
func TestOpenPathWithURICharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "line 1 #3 ?x %20")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "station.db")
	s := mustOpen(t, path)
	recordAll(t, s, fixture{id: runID(1), slot: "A1", imei: "352656100367872", started: t0}.events())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if runs := exportRuns(t, mustReader(t, path), records.Filter{}); len(runs) != 1 {
		t.Fatalf("%d runs, want 1", len(runs))
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the database is not where it was asked to be: %v", err)
	}
}
