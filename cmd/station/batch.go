package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"nrfline/station"
)

type batchOptions struct {
	once, json, verbose bool
	count               int
	operator            string
}

func newBatchCmd(g *globalFlags) *cobra.Command {
	var cfgPath string
	var o batchOptions
	cmd := &cobra.Command{
		Use:   "batch --config FILE [--once] [--count N] [--json]",
		Short: "Provision units headless (integrators, fixtures)",
		Long: `Provision units with the engine and no TUI.

--once: process the units present at start (or the next N with --count), then exit
0 when all passed, 1 otherwise. --count N alone: stop after N verdicts. Without
either: watch the fixture and run until SIGINT/SIGTERM.

--json: one JSON object per event on stdout, the last one of kind "summary".`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFlag(cmd.Flags(), "config"); err != nil {
				return err
			}
			if cmd.Flags().Changed("count") && o.count < 1 {
				return usageErr("--count must be at least 1, got %d", o.count)
			}
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			if o.operator != "" {
				cfg.Operator = o.operator
			}
			return provision(cmd.Context(), cfg, o, g.logger(cmd.ErrOrStderr()), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfgPath, "config", "", "station config file (required)")
	f.BoolVar(&o.once, "once", false, "process the units present at start, then exit")
	f.IntVar(&o.count, "count", 0, "stop after N verdicts")
	f.BoolVar(&o.json, "json", false, "one JSON object per event on stdout")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "also print tool output and AT traffic")
	f.StringVar(&o.operator, "operator", "", "operator name recorded with every run (overrides the config's operator)")
	return cmd
}

// loadConfig loads a config; every failure is the operator's (exit 2).
func loadConfig(path string) (*station.Config, error) {
	cfg, err := station.LoadConfig(path)
	if err != nil {
		return nil, configErr(fmt.Errorf("bad configuration: %w", err))
	}
	return cfg, nil
}

// provision runs the engine on cfg with headless output; shared by batch
// and demo.
func provision(ctx context.Context, cfg *station.Config, o batchOptions, logger *slog.Logger, stdout, stderr io.Writer) error {
	// A reader of stdout that went away (a broken pipe) must not kill the
	// station in the middle of flashing a unit: writes fail with EPIPE
	// instead, and the line stops as for an interrupt (below). Only here:
	// `station report runs | head` should still end quietly.
	signal.Ignore(syscall.SIGPIPE)
	l, err := wire(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer l.Close()

	// Lossless: every event reaches the output, in order. Output that
	// cannot be written any more (its reader went away) interrupts the
	// line like SIGINT: runs end ABORTED, recorded, and no new unit starts
	// with nobody watching.
	ctx, interrupt := context.WithCancel(ctx)
	defer interrupt()
	sub := l.engine.Subscribe(4096, station.Lossless)
	var out sync.WaitGroup
	r := newRenderer(stdout, o.json, o.verbose)
	r.backlog = l.backlog()
	out.Go(func() {
		for ev := range sub.C {
			if r.render(ev); r.Err() != nil {
				interrupt()
			}
		}
	})
	var verdicts []station.Verdict
	switch {
	case o.once:
		verdicts, err = l.engine.RunOnce(ctx, o.count)
	case o.count > 0:
		verdicts, err = l.engine.RunCount(ctx, o.count)
	default:
		err = l.engine.Run(ctx)
	}
	l.engine.Close()
	out.Wait()
	if err != nil && !errors.Is(err, context.Canceled) {
		return infraErr(err)
	}
	if sub.Dropped() {
		return infraErr(errors.New("the event output fell behind and was cut off (the runs are recorded; see station report runs)"))
	}
	notPassed := 0
	for _, v := range verdicts {
		if v.Outcome != station.Pass {
			notPassed++
		}
	}
	exit := exitOK
	if notPassed > 0 || (o.once && len(verdicts) == 0) {
		exit = exitUnitFail
	}
	r.summary(verdicts, exit)
	if err := r.Err(); err != nil {
		return infraErr(fmt.Errorf("write the event output: %w (the runs are recorded; see station report runs)", err))
	}
	if notPassed > 0 {
		return failed(fmt.Errorf("%d of %d unit(s) did not pass", notPassed, len(verdicts)))
	}
	if o.once && len(verdicts) == 0 {
		return failed(errors.New("no units present"))
	}
	return nil
}
