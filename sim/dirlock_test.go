package sim

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Two lines on one folder would overwrite each other's station.toml: the
// second is refused, naming the first one's pid, and the folder is free
// again once the first closed.
func TestDirInUseIsRefusedNamingThePID(t *testing.T) {
	dir := t.TempDir()
	first, err := Start(t.Context(), Options{Units: 1, Dir: dir, Speed: 50})
	if err != nil {
		t.Fatal(err)
	}
	if pid, running, err := Running(dir); err != nil || !running || pid != os.Getpid() {
		t.Errorf("Running = %d, %v, %v; want this process", pid, running, err)
	}
	_, err = Start(t.Context(), Options{Units: 1, Dir: dir, Speed: 50})
	var inUse *DirInUseError
	if !errors.As(err, &inUse) || inUse.PID != os.Getpid() {
		t.Fatalf("second line on %s: %v, want DirInUseError with pid %d", dir, err, os.Getpid())
	}
	first.Close()
	if _, running, _ := Running(dir); running {
		t.Error("folder still locked after Close")
	}
	again, err := Start(t.Context(), Options{Units: 1, Dir: dir, Speed: 50})
	if err != nil {
		t.Fatalf("restart after Close: %v", err)
	}
	again.Close()
}

// A start that fails after the line began (here: the firmware image cannot
// be written) returns the error and cleans up; it used to panic in the
// deferred Close on a nil *Line.
func TestFailedStartReturnsTheErrorWithoutPanic(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "fw", "app.hex"), 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := Start(t.Context(), Options{Units: 1, Dir: dir, Speed: 50})
	if err == nil || l != nil {
		t.Fatalf("Start = %v, %v; want an error about the firmware", l, err)
	}
	if _, running, _ := Running(dir); running {
		t.Error("a failed start left the folder locked")
	}
}
