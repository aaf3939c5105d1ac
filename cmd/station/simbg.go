package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"nrfline/sim"
)

// readyWait bounds how long `sim --background` waits for the line.
const readyWait = 60 * time.Second

// startBackground runs this same `station sim` command line, minus
// --background, as a process of its own session (so the shell that
// started it can exit), and returns once it printed its ready line.
func startBackground(cmd *cobra.Command, dir string, asJSON bool) error {
	if pid, running, err := sim.Running(dir); err == nil && running {
		return &exitError{exitUsage, "dir_in_use", &sim.DirInUseError{Dir: dir, PID: pid}}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return startError(err)
	}
	logPath := filepath.Join(dir, "sim.log")
	log, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return startError(err)
	}
	defer log.Close()
	exe, err := os.Executable()
	if err != nil {
		return infraErr(err)
	}
	args := []string{"sim"}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if f.Name != "background" && f.Name != "json" {
			args = append(args, "--"+f.Name+"="+f.Value.String())
		}
	})
	child := exec.Command(exe, args...)
	child.Stdout, child.Stderr = log, log
	child.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := child.Start(); err != nil {
		return infraErr(fmt.Errorf("start the virtual line: %w", err))
	}
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()
	ctx, cancel := context.WithTimeout(cmd.Context(), readyWait)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			// The child said why in its log, in the words sim would have
			// used in the foreground; pass them and its exit code on.
			b, _ := os.ReadFile(logPath)
			cmd.ErrOrStderr().Write(b)
			var ee *exec.ExitError
			if errors.As(err, &ee) && ee.ExitCode() > 0 {
				return &exitError{ee.ExitCode(), "start", nil}
			}
			return infraErr(fmt.Errorf("the virtual line stopped before it was ready (%v); see %s", err, logPath))
		case <-ctx.Done():
			child.Process.Signal(syscall.SIGTERM)
			return infraErr(fmt.Errorf("the virtual line was not ready within %s; see %s", readyWait, logPath))
		case <-tick.C:
			if line := readyLine(logPath); line != "" {
				out := cmd.OutOrStdout()
				if asJSON {
					config := strings.TrimPrefix(line, "sim: ready config=")
					return writeJSON(out, simStatus{Status: "ready", Config: config, Dir: dir, PID: child.Process.Pid, Log: logPath})
				}
				fmt.Fprintln(out, line)
				fmt.Fprintf(out, "sim: running in the background (pid %d, log %s); stop it with: station sim stop --dir %s\n", child.Process.Pid, logPath, dir)
				return nil
			}
		}
	}
}

func readyLine(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "sim: ready ") {
			return sc.Text()
		}
	}
	return ""
}

// stopWait bounds how long `sim stop` waits for the line to shut down.
const stopWait = 20 * time.Second

func newSimStopCmd() *cobra.Command {
	var dir string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stop --dir DIR",
		Short: "Stop the virtual line running in DIR and wait until it is gone",
		Long: `Stop the virtual line running in DIR (SIGTERM) and wait until it has shut down.
Nothing running in DIR is not an error: it says so and exits 0.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFlag(cmd.Flags(), "dir"); err != nil {
				return err
			}
			pid, running, err := sim.Running(dir)
			if err != nil {
				return infraErr(err)
			}
			if !running {
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), simStatus{Status: "not_running", Dir: dir})
				}
				fmt.Fprintf(cmd.OutOrStdout(), "sim: no line running in %s\n", dir)
				return nil
			}
			if pid <= 0 {
				return infraErr(fmt.Errorf("a line is starting in %s but has not written its pid yet; try again", dir))
			}
			if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
				return infraErr(fmt.Errorf("stop pid %d: %w", pid, err))
			}
			if err := awaitStopped(cmd.Context(), dir, pid); err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), simStatus{Status: "stopped", Dir: dir, PID: pid})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "sim: stopped the line in %s (pid %d)\n", dir, pid)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "the line's folder (required)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as a JSON object")
	return cmd
}

func awaitStopped(ctx context.Context, dir string, pid int) error {
	ctx, cancel := context.WithTimeout(ctx, stopWait)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, running, _ := sim.Running(dir); !running {
			return nil
		}
		select {
		case <-ctx.Done():
			return infraErr(fmt.Errorf("the line in %s (pid %d) did not stop within %s", dir, pid, stopWait))
		case <-tick.C:
		}
	}
}
