// Package faketool holds the virtual line's flash tools: an nrfjprog 10.24.2
// personality and an `nrfutil device` personality. They run inside any
// binary that calls Dispatch first thing in main (the station binary, a test
// binary), selected by environment variables that the scripts written by
// WriteScripts set, and they reach the virtual probes through the sim's
// control socket (package flashctl).
//
// Output follows flash-tools.md: nrfjprog progress-bar style (one line per
// step, as through a pipe) with its exit-code table; nrfutil NDJSON with
// task_end.result and error.code, process exit 1 on any failure. Diagnostics
// (ERROR:, WARNING:, [error] lines, nrfutil's human "Error:" summary) go to
// stderr, everything else to stdout.
package faketool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"

	"nrfline/sim/flashctl"
)

// Environment variables that select and configure a personality.
const (
	EnvTool    = "NRFLINE_FAKE_TOOL"   // "nrfjprog" or "nrfutil"
	EnvControl = "NRFLINE_SIM_CONTROL" // path of the sim's control socket
)

// Tool names.
const (
	Nrfjprog = "nrfjprog"
	Nrfutil  = "nrfutil"
)

// Dispatch runs the personality named by NRFLINE_FAKE_TOOL and exits the
// process with its code. Without that variable it returns at once.
func Dispatch() {
	tool := os.Getenv(EnvTool)
	if tool == "" {
		return
	}
	// One invocation lives seconds and holds at most one HEX file (a few
	// MB): collecting garbage would only add CPU, and on the virtual line
	// that CPU is counted with the station's per unit.
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(256 << 20) // still collect if something ever holds more
	os.Exit(Main(tool, os.Args[1:], os.Stdout, os.Stderr))
}

// Main runs one tool invocation against the control socket named by
// NRFLINE_SIM_CONTROL and returns the process exit code. SIGINT and SIGTERM
// abort the running operation.
func Main(tool string, args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c := flashctl.NewClient(os.Getenv(EnvControl))
	defer c.Close()
	switch tool {
	case Nrfjprog:
		return (&jprog{c: c, out: stdout, errw: stderr}).run(ctx, args)
	case Nrfutil:
		return (&nrfutil{c: c, out: stdout, errw: stderr}).run(ctx, args)
	default:
		fmt.Fprintf(stderr, "faketool: unknown tool %q (want %s or %s)\n", tool, Nrfjprog, Nrfutil)
		return 2
	}
}

// WriteScripts writes dir/nrfjprog and dir/nrfutil, executable shell scripts
// that run exe as that tool against controlSocket, and returns their paths.
// Paths are made absolute; dir is created if needed.
func WriteScripts(dir, exe, controlSocket string) (nrfjprog, nrfutil string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", fmt.Errorf("create script folder: %w", err)
	}
	exeAbs, err1 := filepath.Abs(exe)
	sockAbs, err2 := filepath.Abs(controlSocket)
	if err := errors.Join(err1, err2); err != nil {
		return "", "", fmt.Errorf("resolve script paths: %w", err)
	}
	paths := [2]string{filepath.Join(dir, Nrfjprog), filepath.Join(dir, Nrfutil)}
	for i, tool := range []string{Nrfjprog, Nrfutil} {
		if err := writeScript(paths[i], script(tool, exeAbs, sockAbs)); err != nil {
			return "", "", err
		}
	}
	return paths[0], paths[1], nil
}

func script(tool, exe, sock string) string {
	return fmt.Sprintf("#!/bin/sh\n%s=%s %s=%s exec %s \"$@\"\n",
		EnvTool, tool, EnvControl, shellQuote(sock), shellQuote(exe))
}

// writeScript replaces path atomically with an executable script.
func writeScript(path, body string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, werr := tmp.WriteString(body)
	err = errors.Join(werr, tmp.Chmod(0o755), tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// shellQuote quotes s for POSIX sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// lineWriter writes whole lines, ignoring write errors (a closed pipe must
// not change the exit code that reports the operation's outcome).
type lineWriter struct{ w io.Writer }

func (lw lineWriter) printf(format string, a ...any) {
	_, _ = fmt.Fprintf(lw.w, format+"\n", a...)
}

func (lw lineWriter) lines(ls ...string) {
	for _, l := range ls {
		_, _ = io.WriteString(lw.w, l+"\n")
	}
}
