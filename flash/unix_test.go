//go:build unix

package flash

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"nrfline/station"
)

// gone reports whether pid has exited (absent, or a zombie nobody reaped).
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	// pid (comm) S …: the state follows the last ')'.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && (s[i+2] == 'Z' || s[i+2] == 'X')
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the fake tool never started (no pid file): %v", err)
	}
	var pid int
	if _, err := fmt.Sscan(string(b), &pid); err != nil {
		t.Fatal(err)
	}
	return pid
}

// TestTimeout: when flash.timeout expires the tool is interrupted, then
// killed, and nothing it started survives.
func TestTimeout(t *testing.T) {
	fw := mustFirmware(t)
	tests := []struct {
		name      string
		ignoreInt bool
		child     bool
	}{
		{"stops on SIGINT", false, false},
		{"ignores SIGINT: killed", true, false},
		{"helper holds the output open", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, fakeScript{})
			pidFile, childFile := filepath.Join(f.dir, "pid"), ""
			if tt.child {
				childFile = filepath.Join(f.dir, "child")
			}
			f.set(fakeScript{Stdout: "Parsing image file.\n", Hang: true, IgnoreInt: tt.ignoreInt, PIDFile: pidFile, ChildPID: childFile})
			cfg := testConfig("nrfjprog")
			cfg.Timeout = station.Duration{Duration: 1500 * time.Millisecond}
			tool := newTool(t, f, cfg)
			tool.runner().WaitDelay = 200 * time.Millisecond
			before := runtime.NumGoroutine()
			err := tool.Program(t.Context(), "1051202135", fw, nil)
			var te *ToolError
			if station.CodeOf(err) != station.FlashTimeout || !errors.As(err, &te) || len(te.Args) == 0 {
				t.Fatalf("got %v, want FLASH_TIMEOUT with the ToolError", err)
			}
			if !gone(readPID(t, pidFile)) {
				t.Error("the tool is still running")
			}
			if tt.child {
				pid := readPID(t, childFile)
				t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
				if !eventually(func() bool { return gone(pid) }) {
					t.Error("the tool's helper survived")
				}
			}
			if !eventually(func() bool { return runtime.NumGoroutine() <= before }) {
				t.Errorf("goroutines: %d before, %d after", before, runtime.NumGoroutine())
			}
		})
	}
}

// TestCancel: a cancelled ctx stops the tool and is not a timeout; the
// engine classifies it as ABORTED.
func TestCancel(t *testing.T) {
	fw := mustFirmware(t)
	for _, tool := range []string{"nrfjprog", "nrfutil"} {
		t.Run(tool, func(t *testing.T) {
			f := newFake(t, fakeScript{})
			pidFile := filepath.Join(f.dir, "pid")
			f.set(fakeScript{Stdout: utilBegin, Hang: true, PIDFile: pidFile})
			fl := newTool(t, f, testConfig(tool))
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			err := fl.Program(ctx, "1051202135", fw, func(station.ToolLine) { cancel() })
			if !errors.Is(err, context.Canceled) || station.CodeOf(err) != station.Interrupted {
				t.Fatalf("got %v (%s), want context.Canceled → ABORTED", err, station.CodeOf(err))
			}
			var te *ToolError
			if !errors.As(err, &te) {
				t.Error("the ToolError is not reachable")
			}
			if !gone(readPID(t, pidFile)) {
				t.Error("the tool is still running")
			}
		})
	}
}

// eventually polls cond for up to 10 s (a liveness bound, not a timing
// assertion: signals and reaping are asynchronous).
func eventually(cond func() bool) bool {
	for range 200 {
		if cond() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cond()
}
