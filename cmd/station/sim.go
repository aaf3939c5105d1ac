package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"nrfline/sim"
	"nrfline/station"
)

func simFlags(name, usage, about string, stderr io.Writer) (*flagsetSim, func(args []string, stdout io.Writer) (int, bool)) {
	fs := newFlags(name, usage, about, stderr)
	s := &flagsetSim{
		units:  fs.Int("units", 4, "number of virtual units"),
		dir:    fs.String("dir", "", "folder for the line's config, tools, unit state and database (reused: same units, same stores)"),
		speed:  fs.Float64("speed", 1, "divide every simulated delay by X (1 = realistic: flash ~8 s/MB, boot ~0.5 s, LTE attach ~5 s)"),
		faults: fs.String("faults", "", "faults to inject, see below"),
		modem:  fs.String("modem", "at", `firmware flavour: "at" (AT host) or "shell" (Zephyr shell)`),
		tool:   fs.String("tool", "nrfjprog", `flash tool the config names: "nrfjprog" or "nrfutil"`),
	}
	usageFn := fs.Usage
	fs.Usage = func() {
		usageFn()
		fmt.Fprintf(fs.Output(), "\nFaults (--faults SPEC):\n%s\n", sim.FaultHelp)
	}
	return s, func(args []string, stdout io.Writer) (int, bool) { return parseFlags(fs, args, stdout) }
}

type flagsetSim struct {
	units              *int
	dir, faults, modem *string
	tool               *string
	speed              *float64
}

func (f *flagsetSim) options(stderr io.Writer) (sim.Options, error) {
	if *f.units < 1 || *f.units > 64 {
		return sim.Options{}, fmt.Errorf("--units must be 1..64")
	}
	if *f.speed <= 0 {
		return sim.Options{}, fmt.Errorf("--speed must be positive")
	}
	faults, err := sim.ParseFaults(*f.faults, *f.units)
	if err != nil {
		return sim.Options{}, err
	}
	if *f.modem != "at" && *f.modem != "shell" {
		return sim.Options{}, fmt.Errorf(`--modem must be "at" or "shell"`)
	}
	if *f.tool != "nrfjprog" && *f.tool != "nrfutil" {
		return sim.Options{}, fmt.Errorf(`--tool must be "nrfjprog" or "nrfutil"`)
	}
	exe, err := os.Executable()
	if err != nil {
		return sim.Options{}, fmt.Errorf("find own executable for the fake flash tools: %w", err)
	}
	return sim.Options{
		Units: *f.units, Dir: *f.dir, Speed: *f.speed, Faults: faults,
		Shell: *f.modem == "shell", Tool: *f.tool, ToolExe: exe, Logger: newLogger(stderr, false),
	}, nil
}

func runSim(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	flags, parse := simFlags("sim", "sim [--units N] [--dir DIR] [--speed X] [--faults SPEC] [--modem at|shell] [--tool nrfjprog|nrfutil]",
		"Start a virtual line: N virtual nRF9151 units on pseudo-terminals, fake nrfjprog/nrfutil, a Leshan-style\n"+
			"bootstrap portal, an LwM2M bootstrap server and an LwM2M server, all on this machine. Writes DIR/station.toml\n"+
			"(a ready config for that line), prints `sim: ready config=DIR/station.toml` and runs until SIGINT/SIGTERM.", stderr)
	if code, ok := parse(args, stdout); !ok {
		return code
	}
	opt, err := flags.options(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "station sim: %v\n", err)
		return exitUsage
	}
	if opt.Dir == "" {
		opt.Dir = "sim-line"
	}
	l, err := sim.Start(ctx, opt)
	if err != nil {
		fmt.Fprintf(stderr, "station sim: %v\n", err)
		return exitInternal
	}
	defer l.Close()
	fmt.Fprintf(stdout, "sim: ready config=%s\n", l.ConfigPath())
	<-ctx.Done()
	return exitOK
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	flags, parse := simFlags("demo", "demo [--units N] [--speed X] [--faults SPEC] [--dir DIR]",
		"The virtual line and the station in one process: what a newcomer runs first. Starts a virtual line\n"+
			"and provisions every unit on it with the headless engine, printing progress; the records land in\n"+
			"DIR/station.db (try `station report summary --db DIR/station.db` afterwards).", stderr)
	verbose := false
	if code, ok := parse(args, stdout); !ok {
		return code
	}
	opt, err := flags.options(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "station demo: %v\n", err)
		return exitUsage
	}
	if opt.Dir == "" {
		opt.Dir = filepath.Join(os.TempDir(), "station-demo")
	}
	l, err := sim.Start(ctx, opt)
	if err != nil {
		fmt.Fprintf(stderr, "station demo: %v\n", err)
		return exitInternal
	}
	defer l.Close()
	fmt.Fprintf(stdout, "demo: virtual line with %d unit(s) ready, config %s\n\n", opt.Units, l.ConfigPath())
	cfg, err := station.LoadConfig(l.ConfigPath())
	if err != nil {
		return configError(stderr, err)
	}
	code := provision(ctx, cfg, batchOptions{once: true, verbose: verbose}, stdout, stderr)
	fmt.Fprintf(stdout, "\nRecords: station report summary --db %s\n", cfg.Database)
	return code
}
