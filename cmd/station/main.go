// Command station provisions nRF9151 units on a factory line; see
// CONTRACT.md for its commands. This package only wires: flags, config,
// the engine and its parts, and the choice of output.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"nrfline/sim/faketool"
	"nrfline/station"
)

// Exit codes (CONTRACT.md).
const (
	exitOK       = 0
	exitUnitFail = 1
	exitUsage    = 2
	exitInternal = 3
)

func main() {
	// The virtual line's fake nrfjprog/nrfutil are this binary under
	// another name; they must run before anything else.
	faketool.Dispatch()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type command struct {
	name, usage, summary string
	run                  func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"run", "run --config FILE", "the bench TUI on the fixture that FILE describes", runTUI},
		{"batch", "batch --config FILE [--once] [--count N] [--json]", "provision units headless", runBatch},
		{"sim", "sim [--units N] [--dir DIR] [--speed X] [--faults SPEC]", "start a virtual line", runSim},
		{"demo", "demo [--units N]", "the virtual line and the station in one process", runDemo},
		{"report", "report summary|runs|unit ...", "reports from the records database", runReport},
		{"devices", "devices [--json]", "the units the station can see now", runDevices},
		{"check", "check --config FILE", "validate a config and its firmware file", runCheck},
		{"version", "version", "print the station version", runVersion},
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "station: unknown command %q\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "station provisions Nordic nRF9151 units: flash, inject credentials, register, bootstrap, record.")
	fmt.Fprintln(w, "\nUsage:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  station %-58s %s\n", c.usage, c.summary)
	}
	fmt.Fprintln(w, "\nEvery command has --help. Exit codes: 0 success, 1 a unit/check failed, 2 bad usage or configuration, 3 internal error.")
}

// newFlags returns a flag set that prints its usage on --help and reports
// errors instead of exiting.
func newFlags(name, usage, about string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: station %s\n\n%s\n\nFlags:\n", usage, about)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args; it returns an exit code and false when the
// command should stop (help shown or bad flags).
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) (int, bool) {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK, false
	case err != nil:
		return exitUsage, false
	case fs.NArg() > 0 && fs.Name() != "report":
		fmt.Fprintf(fs.Output(), "station %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return exitUsage, false
	}
	return exitOK, true
}

func runTUI(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("run", "run --config FILE", "The bench TUI.", stderr)
	fs.String("config", "", "station config file")
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	fmt.Fprintln(stderr, "station run: not implemented yet (use station batch)")
	return exitUsage
}

func runVersion(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stdout, "station", version())
	return exitOK
}

// version is the module version, or the VCS revision of a development build.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return "dev-" + s.Value[:12]
		}
	}
	return "dev"
}

// configError prints a config problem and returns the usage exit code.
func configError(stderr io.Writer, err error) int {
	var ce *station.ConfigError
	if errors.As(err, &ce) {
		fmt.Fprintf(stderr, "station: bad configuration: %v\n", err)
		return exitUsage
	}
	fmt.Fprintf(stderr, "station: %v\n", err)
	return exitUsage
}
