package main

import (
	"os"
	"path/filepath"
	"testing"
)

// The virtual line runs its fake tools with station-faketool when it sits
// next to the station binary and is executable, else with the station.
func TestFakeToolExePrefersTheLeanBinary(t *testing.T) {
	dir := t.TempDir()
	self := filepath.Join(dir, "station")
	lean := filepath.Join(dir, fakeToolName)
	if got := siblingOr(self, fakeToolName); got != self {
		t.Errorf("no sibling: %s, want %s", got, self)
	}
	if err := os.WriteFile(lean, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := siblingOr(self, fakeToolName); got != self {
		t.Errorf("sibling not executable: %s, want %s", got, self)
	}
	if err := os.Chmod(lean, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := siblingOr(self, fakeToolName); got != lean {
		t.Errorf("executable sibling: %s, want %s", got, lean)
	}
}
