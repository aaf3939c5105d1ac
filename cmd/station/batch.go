package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"sync"
	"syscall"

	"nrfline/station"
)

func runBatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("batch", "batch --config FILE [--once] [--count N] [--json]",
		"Provision units without the TUI. --once: the units present at start (or the next N with --count),\nthen exit 0 when all passed, 1 otherwise. Without --once: run until SIGINT/SIGTERM.", stderr)
	cfgPath := fs.String("config", "", "station config file (required)")
	once := fs.Bool("once", false, "process the units present at start, then exit")
	count := fs.Int("count", 0, "stop after N verdicts (N ≥ 1), with or without --once")
	asJSON := fs.Bool("json", false, "one JSON object per event on stdout")
	verbose := fs.Bool("v", false, "also print tool output and AT traffic")
	debug := fs.Bool("debug", false, "diagnostic logs on stderr")
	operator := fs.String("operator", "", "operator name recorded with every run (overrides the config's operator)")
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	if *cfgPath == "" {
		fmt.Fprintln(stderr, "station batch: --config is required")
		return exitUsage
	}
	if countSet(fs) && *count < 1 {
		fmt.Fprintf(stderr, "station batch: --count must be at least 1, got %d\n", *count)
		return exitUsage
	}
	cfg, err := station.LoadConfig(*cfgPath)
	if err != nil {
		return configError(stderr, err)
	}
	if *operator != "" {
		cfg.Operator = *operator
	}
	return provision(ctx, cfg, batchOptions{once: *once, count: *count, json: *asJSON, verbose: *verbose, debug: *debug}, stdout, stderr)
}

// countSet says whether --count was given (0 is then a usage error, not
// "no limit").
func countSet(fs *flag.FlagSet) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == "count" })
	return set
}

type batchOptions struct {
	once, json, verbose, debug bool
	count                      int
}

// provision runs the engine on cfg with headless output; shared by batch
// and demo.
func provision(ctx context.Context, cfg *station.Config, o batchOptions, stdout, stderr io.Writer) int {
	// A reader of stdout that went away (a broken pipe) must not kill the
	// station in the middle of flashing a unit: writes fail with EPIPE
	// instead, and the line stops as for an interrupt (below). Only here:
	// `station report runs | head` should still end quietly.
	signal.Ignore(syscall.SIGPIPE)
	l, err := wire(ctx, cfg, newLogger(stderr, o.debug))
	if err != nil {
		fmt.Fprintf(stderr, "station: %v\n", err)
		var se *setupError
		if errors.As(err, &se) {
			return se.code
		}
		return exitInternal
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
		fmt.Fprintf(stderr, "station: %v\n", err)
		return exitInternal
	}
	if sub.Dropped() {
		fmt.Fprintln(stderr, "station: the event output fell behind and was cut off (the runs are recorded; see station report runs)")
		return exitInternal
	}
	code := verdictsExit(o, verdicts)
	r.summary(verdicts, code)
	if err := r.Err(); err != nil {
		fmt.Fprintf(stderr, "station: write the event output: %v (the runs are recorded; see station report runs)\n", err)
		return exitInternal
	}
	if o.once && len(verdicts) == 0 {
		fmt.Fprintln(stderr, "station: no units present")
	}
	return code
}

// verdictsExit is batch's exit code for its verdicts: 0 all PASS, 1 any
// not PASS (or --once found no unit).
func verdictsExit(o batchOptions, verdicts []station.Verdict) int {
	for _, v := range verdicts {
		if v.Outcome != station.Pass {
			return exitUnitFail
		}
	}
	if o.once && len(verdicts) == 0 {
		return exitUnitFail
	}
	return exitOK
}
