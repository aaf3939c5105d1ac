package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"nrfline/sim"
)

func newDemoCmd(g *globalFlags) *cobra.Command {
	var f simFlags
	var asJSON, headless bool
	var o tuiOptions
	cmd := &cobra.Command{
		Use:   "demo [--units N] [--speed X] [--faults SPEC] [--dir DIR] [--headless]",
		Short: "Virtual line + station in one process: what a newcomer runs first",
		Long: `The virtual line and the station in one process: what a newcomer runs first. Starts a
virtual line and shows it in the bench TUI (see station run) until you quit with q; the
records land in DIR/station.db. When stdout is not a terminal, or with --headless or --json,
it provisions every unit once with the headless engine instead, printing progress.

A DIR used before holds the same units again: that run is a re-test of them.

Faults (--faults SPEC):
` + sim.FaultHelp,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.dir == "" {
				f.dir = filepath.Join(os.TempDir(), "station-demo")
			}
			opt, err := f.options(g, cmd)
			if err != nil {
				return err
			}
			if !headless && !asJSON && isTerminal(cmd.OutOrStdout()) {
				return demoTUI(cmd, g, opt, o)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				out = io.Discard // the announcements; the events go to stdout below
			}
			_, statErr := os.Stat(filepath.Join(opt.Dir, "station.db"))
			retest := statErr == nil
			l, err := sim.Start(cmd.Context(), opt)
			if err != nil {
				return startError(err)
			}
			defer l.Close()
			fmt.Fprintf(out, "demo: virtual line with %d unit(s) ready, config %s\n", opt.Units, l.ConfigPath())
			if f.faults != "" {
				fmt.Fprintf(out, "demo: injected faults: %s\n", f.faults)
			}
			if retest {
				fmt.Fprintf(out, "demo: %s was used before: the same units again, so this is a re-test (rm -rf %s for a fresh line)\n", opt.Dir, opt.Dir)
			}
			fmt.Fprintln(out)
			cfg, err := loadConfig(l.ConfigPath())
			if err != nil {
				return err
			}
			err = provision(cmd.Context(), cfg, batchOptions{once: true, json: asJSON}, g.logger(cmd.ErrOrStderr()), cmd.OutOrStdout(), cmd.ErrOrStderr())
			fmt.Fprintf(out, "\nRecords: %s report summary --db %s\n", selfName(), cfg.Database)
			return err
		},
	}
	f.register(cmd.Flags(), "")
	cmd.Flags().BoolVar(&asJSON, "json", false, "one JSON object per event on stdout, as batch --json")
	cmd.Flags().BoolVar(&headless, "headless", false, "no TUI: provision every unit once, printing progress (the default when stdout is not a terminal)")
	o.register(cmd)
	cmd.Flags().Lookup("dir").Usage += " (default: $TMPDIR/station-demo)"
	return cmd
}

// selfName is how the user ran this binary, for hints they can paste:
// bin/station when make demo ran it, station when it is on PATH.
func selfName() string {
	if a := os.Args[0]; strings.Contains(a, "/") && !strings.HasSuffix(a, ".test") {
		return a
	}
	return "station"
}
