package records_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nrfline/records"
	"nrfline/records/seed"
	"nrfline/station"
)

// recordUntilVerdict records a run up to its verdict and returns the
// error of recording the verdict after between() ran.
func recordUntilVerdict(t *testing.T, s *records.Store, between func()) error {
	t.Helper()
	evs := seed.Events(fixture{id: runID(1), slot: "A1", imei: "352656100367872", started: t0}.run())
	last := len(evs) - 1
	if evs[last].Kind != station.VerdictReached {
		t.Fatalf("the fixture's last event is %s, not the verdict", evs[last].Kind)
	}
	recordAll(t, s, evs[:last])
	between()
	return s.Record(context.Background(), evs[last])
}

// The database deleted or replaced under a running station: the verdict is
// not "recorded" into a file nobody will ever open again, and the error
// says what happened to the file.
func TestVerdictFailsWhenTheFileIsGone(t *testing.T) {
	for _, tc := range []struct {
		name string
		do   func(t *testing.T, path string)
		want string
	}{
		{"deleted", func(t *testing.T, path string) { os.Remove(path) }, "deleted"},
		{"replaced", func(t *testing.T, path string) {
			other := filepath.Join(filepath.Dir(path), "other.db")
			if err := os.WriteFile(other, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(other, path); err != nil {
				t.Fatal(err)
			}
		}, "replaced"},
		{"moved", func(t *testing.T, path string) {
			if err := os.Rename(path, path+".old"); err != nil {
				t.Fatal(err)
			}
		}, "deleted or moved"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := dbPath(t)
			s := mustOpen(t, path)
			err := recordUntilVerdict(t, s, func() { tc.do(t, path) })
			if err == nil {
				t.Fatal("the verdict was 'recorded' into a file that is no longer the database")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not say the file was %s", err, tc.want)
			}
		})
	}
}

// A start that finds the database missing while its WAL, shared memory or
// lock file is still there refuses, instead of starting an empty database
// next to the history it lost.
func TestOpenRefusesLeftoversWithoutTheDatabase(t *testing.T) {
	for _, suffix := range []string{"-wal", "-shm", ".lock"} {
		t.Run(suffix, func(t *testing.T) {
			path := dbPath(t)
			if err := os.WriteFile(path+suffix, []byte("left over"), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := records.Open(path)
			if err == nil {
				s.Close()
				t.Fatal("Open started a new database next to a left-over " + suffix)
			}
			if !errors.Is(err, records.ErrLeftovers) || !strings.Contains(err.Error(), path+suffix) {
				t.Errorf("error %v does not name %s", err, path+suffix)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a database file was created anyway: %v", err)
			}
		})
	}
	t.Run("empty database with a WAL", func(t *testing.T) {
		path := dbPath(t)
		os.WriteFile(path, nil, 0o600)
		os.WriteFile(path+"-wal", []byte("left over"), 0o600)
		if s, err := records.Open(path); !errors.Is(err, records.ErrLeftovers) {
			if err == nil {
				s.Close()
			}
			t.Fatalf("Open of an empty database with a WAL: %v, want ErrLeftovers", err)
		}
	})
}

// Creating a new database is said once, loudly; opening it again is not.
func TestNewDatabaseIsAnnounced(t *testing.T) {
	path := dbPath(t)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s := mustOpen(t, path, records.WithLogger(logger))
	s.Close()
	if n := strings.Count(logs.String(), "new, empty database"); n != 1 {
		t.Fatalf("a new database announced %d times, want once at warning level:\n%s", n, logs.String())
	}
	logs.Reset()
	s = mustOpen(t, path, records.WithLogger(logger))
	s.Close()
	if strings.Contains(logs.String(), "new") {
		t.Errorf("reopening announced a new database:\n%s", logs.String())
	}
}

// The single-writer lock follows the file, not its name: the same
// database through a symlink or a hard link is refused, naming the pid
// that holds it.
func TestSecondWriterThroughAnotherNameIsRefused(t *testing.T) {
	for _, link := range []string{"symlink", "hardlink"} {
		t.Run(link, func(t *testing.T) {
			path := dbPath(t)
			mustOpen(t, path)
			alias := filepath.Join(t.TempDir(), "alias.db")
			var err error
			if link == "symlink" {
				err = os.Symlink(path, alias)
			} else {
				err = os.Link(path, alias)
			}
			if err != nil {
				t.Fatal(err)
			}
			s, err := records.Open(alias)
			if err == nil {
				s.Close()
				t.Fatalf("a second writer opened the database through a %s", link)
			}
			if !errors.Is(err, records.ErrInUse) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
				t.Errorf("error %v: want ErrInUse naming pid %d", err, os.Getpid())
			}
		})
	}
}
