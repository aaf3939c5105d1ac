package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"nrfline/station"
)

// Exit codes, the same for every command (docs/contract.md). They are
// decided here and nowhere else.
const (
	exitOK       = 0 // success
	exitUnitFail = 1 // a unit failed, a check failed, or nothing matched
	exitUsage    = 2 // bad usage, configuration or firmware
	exitInternal = 3 // the station or its infrastructure failed
)

// exitError is what a command returns to end with a given exit code. A nil
// err ends quietly: the output already said why in the words that matter
// (the background line's own log). Every other failure prints one line, or
// with --json one object, on stderr.
type exitError struct {
	code int
	kind string // stable name for --json errors: usage, config, firmware, failed, not_found, dir_in_use, sim_dir, start, infrastructure
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return e.kind
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitError{exitUsage, "usage", fmt.Errorf(format, args...)}
}

func configErr(err error) error { return &exitError{exitUsage, "config", err} }

func firmwareErr(err error) error { return &exitError{exitUsage, "firmware", err} }

func infraErr(err error) error { return &exitError{exitInternal, "infrastructure", err} }

// failed ends with exit 1; err nil when the output already told.
func failed(err error) error { return &exitError{exitUnitFail, "failed", err} }

// run executes the command line and returns the process exit code. Errors
// go to stderr once: as text, or as one JSON object when the command was
// asked for --json (or --format json).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if !errors.As(err, &ee) {
		// Not from a command's RunE (those are all exitErrors): cobra
		// itself refused the command line.
		ee = &exitError{exitUsage, "usage", err}
	}
	if ee.err == nil {
		return ee.code
	}
	if wantsJSON(cmd, args) {
		writeJSONError(stderr, ee)
		return ee.code
	}
	fmt.Fprintf(stderr, "%s: %v\n", cmd.CommandPath(), ee.err)
	if ee.kind == "usage" {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return ee.code
}

// wantsJSON says whether the command was asked for JSON output; a command
// line that failed to parse is judged by its words.
func wantsJSON(cmd *cobra.Command, args []string) bool {
	if cmd != nil {
		if f := cmd.Flags().Lookup("json"); f != nil && f.Changed && f.Value.String() == "true" {
			return true
		}
		if f := cmd.Flags().Lookup("format"); f != nil && f.Value.String() == "json" {
			return true
		}
	}
	return slices.Contains(args, "--json") || slices.Contains(args, "--format=json") ||
		strings.Contains(" "+strings.Join(args, " ")+" ", " --format json ")
}

// jsonError is the one object a command prints on stderr when it fails
// with --json.
type jsonError struct {
	Exit    int    `json:"exit"`
	Code    string `json:"code"`
	Message string `json:"message"`
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Key     string `json:"key,omitempty"`
}

func writeJSONError(w io.Writer, ee *exitError) {
	out := jsonError{Exit: ee.code, Code: ee.kind, Message: ee.err.Error()}
	var ce *station.ConfigError
	if errors.As(ee.err, &ce) {
		out.File, out.Line, out.Key = ce.File, ce.Line, ce.Key
	}
	b, _ := json.Marshal(out)
	fmt.Fprintf(w, "%s\n", b)
}

// flagUsageError turns pflag's parse errors into usage errors.
func flagUsageError(_ *cobra.Command, err error) error {
	return &exitError{exitUsage, "usage", err}
}

// noArgs rejects positional arguments as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErr("unexpected argument %q", args[0])
	}
	return nil
}

// requireFlag is a usage error when a required flag is empty.
func requireFlag(fs *pflag.FlagSet, name string) error {
	if f := fs.Lookup(name); f == nil || f.Value.String() == "" {
		return usageErr("--%s is required", name)
	}
	return nil
}
