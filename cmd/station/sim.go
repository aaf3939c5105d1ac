package main

import (
	"debug/buildinfo"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"nrfline/sim"
)

// simFlags are the virtual line's flags, shared by sim and demo.
type simFlags struct {
	units              int
	dir, faults, modem string
	tool               string
	speed              float64
}

func (f *simFlags) register(fs *pflag.FlagSet, defaultDir string) {
	fs.IntVar(&f.units, "units", 4, "number of virtual units (1..64)")
	fs.StringVar(&f.dir, "dir", defaultDir, "folder for the line's config, tools, unit state and database (reused: same units, same stores)")
	fs.Float64Var(&f.speed, "speed", 1, "divide every simulated delay by X (1 = realistic: flash ~8 s/MB, boot ~0.5 s, LTE attach ~5 s)")
	fs.StringVar(&f.faults, "faults", "", "faults to inject (SPEC, see below)")
	fs.StringVar(&f.modem, "modem", "at", `firmware flavour: "at" (AT host) or "shell" (Zephyr shell)`)
	fs.StringVar(&f.tool, "tool", "nrfjprog", `flash tool the config names: "nrfjprog" or "nrfutil"`)
}

func (f *simFlags) options(g *globalFlags, cmd *cobra.Command) (sim.Options, error) {
	if f.units < 1 || f.units > 64 {
		return sim.Options{}, usageErr("--units must be 1..64, got %d", f.units)
	}
	if f.speed <= 0 {
		return sim.Options{}, usageErr("--speed must be positive, got %g", f.speed)
	}
	faults, err := sim.ParseFaults(f.faults, f.units)
	if err != nil {
		return sim.Options{}, usageErr("--faults: %w", err)
	}
	if f.modem != "at" && f.modem != "shell" {
		return sim.Options{}, usageErr(`--modem must be "at" or "shell", got %q`, f.modem)
	}
	if f.tool != "nrfjprog" && f.tool != "nrfutil" {
		return sim.Options{}, usageErr(`--tool must be "nrfjprog" or "nrfutil", got %q`, f.tool)
	}
	if f.dir == "" {
		return sim.Options{}, usageErr("--dir must not be empty")
	}
	exe, err := fakeToolExe()
	if err != nil {
		return sim.Options{}, infraErr(fmt.Errorf("find own executable for the fake flash tools: %w", err))
	}
	return sim.Options{
		Units: f.units, Dir: f.dir, Speed: f.speed, Faults: faults,
		Shell: f.modem == "shell", Tool: f.tool, ToolExe: exe, Logger: g.logger(cmd.ErrOrStderr()),
	}, nil
}

// startError classifies a failed start of the virtual line: a folder that
// is taken or cannot be written is the operator's to fix (exit 2), the rest
// (ports, ptys, servers) is the machine's (exit 3).
func startError(err error) error {
	var inUse *sim.DirInUseError
	var pathErr *fs.PathError
	switch {
	case errors.As(err, &inUse):
		return &exitError{exitUsage, "dir_in_use", err}
	case errors.As(err, &pathErr):
		return &exitError{exitUsage, "sim_dir", fmt.Errorf("start the virtual line: %w", err)}
	}
	return infraErr(fmt.Errorf("start the virtual line: %w", err))
}

func newSimCmd(g *globalFlags) *cobra.Command {
	var f simFlags
	var background, asJSON bool
	cmd := &cobra.Command{
		Use:   "sim [--units N] [--dir DIR] [--speed X] [--faults SPEC] [--background]",
		Short: "Start a virtual line; writes DIR/station.toml",
		Long: `Start a virtual line: N virtual nRF9151 units on pseudo-terminals, fake nrfjprog/nrfutil, a
Leshan-style bootstrap portal, an LwM2M bootstrap server and an LwM2M server, all on this
machine. Writes DIR/station.toml (a ready config for that line), prints
"sim: ready config=DIR/station.toml" (with --json: {"status":"ready","config":…,"dir":…,"pid":…})
and runs until SIGINT/SIGTERM.

--background: start the line as its own process and return once it is ready (its log goes
to DIR/sim.log); stop it with "station sim stop --dir DIR". A DIR in use by a running line
is refused, naming its pid. While it runs, "station sim ctl --dir DIR plug|unplug|replace N"
hot-plugs its units.

Faults (--faults SPEC):
` + sim.FaultHelp,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opt, err := f.options(g, cmd)
			if err != nil {
				return err
			}
			if background {
				return startBackground(cmd, opt.Dir, asJSON)
			}
			l, err := sim.Start(cmd.Context(), opt)
			if err != nil {
				return startError(err)
			}
			defer l.Close()
			if asJSON {
				if err := writeJSON(cmd.OutOrStdout(), simStatus{Status: "ready", Config: l.ConfigPath(), Dir: opt.Dir, PID: os.Getpid()}); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "sim: ready config=%s\n", l.ConfigPath())
			}
			<-cmd.Context().Done()
			return nil
		},
	}
	f.register(cmd.Flags(), "sim-line")
	cmd.Flags().BoolVar(&background, "background", false, "run the line as its own process; return once it is ready")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the ready line as a JSON object")
	cmd.AddCommand(newSimStopCmd(), newSimCtlCmd())
	return cmd
}

// simStatus is what sim and sim stop print with --json.
type simStatus struct {
	Status string `json:"status"` // ready, stopped, not_running
	Config string `json:"config,omitempty"`
	Dir    string `json:"dir"`
	PID    int    `json:"pid,omitempty"`
	Log    string `json:"log,omitempty"`
}

// fakeToolName is the lean binary of the virtual line's fake tools
// (cmd/station-faketool), which make build puts next to the station's.
const fakeToolName = "station-faketool"

// fakeToolExe is the executable the virtual line's fake tools run as:
// station-faketool beside this binary if it is there and was built with it (it starts in a fraction of the station's time, and a
// full fixture starts 64 of them at once), else this binary, which runs
// them too (faketool.Dispatch).
func fakeToolExe() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	return siblingOr(self, fakeToolName), nil
}

// siblingOr returns the executable file name in exe's folder if it was
// built with exe (sameBuild), else exe.
func siblingOr(exe, name string) string {
	p := filepath.Join(filepath.Dir(exe), name)
	fi, err := os.Stat(p)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return exe
	}
	self, err1 := buildinfo.ReadFile(exe)
	other, err2 := buildinfo.ReadFile(p)
	if err1 != nil || err2 != nil || !sameBuild(self, other) {
		return exe
	}
	return p
}

// sameBuild: both binaries carry the same -ldflags, which make build stamps
// with the version, commit and time of that build; a station-faketool left
// from an earlier build (or a station built without make) does not match.
func sameBuild(self, other *debug.BuildInfo) bool {
	flags := ldflags(self)
	return flags != "" && flags == ldflags(other)
}

func ldflags(bi *debug.BuildInfo) string {
	for _, s := range bi.Settings {
		if s.Key == "-ldflags" {
			return s.Value
		}
	}
	return ""
}
