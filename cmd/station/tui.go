package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"nrfline/inject/portal"
	"nrfline/records"
	"nrfline/sim"
	"nrfline/station"
	"nrfline/ui"
)

// tuiOptions are the bench TUI's flags, shared by run and demo.
type tuiOptions struct {
	operator string // preset operator id: no prompt
	logPath  string // diagnostics; default: station-tui.log beside the database
}

// isTerminal reports whether w is a terminal (the TUI needs one).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// tuiLog opens the diagnostics file: while the TUI owns the terminal, no
// log line may reach it.
func tuiLog(g *globalFlags, path string) (*slog.Logger, *os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, usageErr("diagnostics log: %w", err)
	}
	level := slog.LevelInfo
	if g.debug {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	if g.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(f, opts)), f, nil
	}
	return slog.New(slog.NewTextHandler(f, opts)), f, nil
}

// runTUI runs the live line of cfg with the bench TUI on in/out until the
// operator quits or ctx ends; then the line stops (runs in flight end
// ABORTED, recorded).
func runTUI(ctx context.Context, cfg *station.Config, o tuiOptions, logger *slog.Logger, in io.Reader, out io.Writer) error {
	l, err := wire(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer l.Close()

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	gate := &operatorGate{Engine: l.engine, cfg: cfg, done: make(chan error, 1)}
	gate.run = func() { gate.done <- l.engine.Run(ctx) }

	opt := ui.Options{
		StationID: cfg.StationID, Firmware: l.firmware, Bell: cfg.UI.Bell, Autostart: cfg.Line.Autostart,
		NoColor: os.Getenv("NO_COLOR") != "", Operator: o.operator, Logger: logger.With("part", "tui"),
		Tally:   func(ctx context.Context) (ui.Tally, error) { return tally(ctx, l.store.Reader()) },
		Backlog: l.backlog(),
	}
	if cfg.Portal.Kind != "none" {
		opt.PortalCheck = func(ctx context.Context) error {
			_, err := portal.Check(ctx, cfg.Portal, os.Getenv)
			return err
		}
	}
	tuiErr := ui.Run(ctx, gate, opt, in, out)
	stop()
	lineErr := gate.wait()
	switch {
	case tuiErr != nil:
		return infraErr(fmt.Errorf("bench TUI: %w", tuiErr))
	case lineErr != nil && !errors.Is(lineErr, context.Canceled):
		return infraErr(lineErr)
	}
	return nil
}

// operatorGate holds the line until the operator has given their id, so
// that no run is recorded without one: the first SetOperator becomes the
// config's operator and starts the line; later ones go to the engine.
type operatorGate struct {
	*station.Engine
	cfg  *station.Config
	run  func()
	done chan error

	mu      sync.Mutex
	started bool
}

func (g *operatorGate) SetOperator(ctx context.Context, id string) error {
	g.mu.Lock()
	if !g.started {
		g.started = true
		g.cfg.Operator = strings.TrimSpace(id)
		g.mu.Unlock()
		go g.run()
		return nil
	}
	g.mu.Unlock()
	return g.Engine.SetOperator(ctx, id)
}

// wait returns the line's end, or nil if it never started.
func (g *operatorGate) wait() error {
	g.mu.Lock()
	started := g.started
	g.mu.Unlock()
	if !started {
		return nil
	}
	return <-g.done
}

// demoTUI runs the virtual line of opt with the bench TUI. The TUI owns
// the terminal, so the line and the station log to a file in its folder.
func demoTUI(cmd *cobra.Command, g *globalFlags, opt sim.Options, o tuiOptions) error {
	if o.logPath == "" {
		o.logPath = filepath.Join(opt.Dir, "station-tui.log")
	}
	if err := os.MkdirAll(opt.Dir, 0o755); err != nil {
		return startError(err)
	}
	logger, f, err := tuiLog(g, o.logPath)
	if err != nil {
		return err
	}
	defer f.Close()
	opt.Logger = logger
	l, err := sim.Start(cmd.Context(), opt)
	if err != nil {
		return startError(err)
	}
	defer l.Close()
	cfg, err := loadConfig(l.ConfigPath())
	if err != nil {
		return err
	}
	err = runTUI(cmd.Context(), cfg, o, logger, cmd.InOrStdin(), cmd.OutOrStdout())
	fmt.Fprintf(cmd.OutOrStdout(), "Records: %s report summary --db %s\nDiagnostics: %s\n", selfName(), cfg.Database, o.logPath)
	return err
}

// tally is today's count from the records (local midnight on).
func tally(ctx context.Context, r *records.Reader) (ui.Tally, error) {
	now := time.Now()
	s, err := r.Summary(ctx, records.Filter{Since: time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, now.Location())})
	if err != nil {
		return ui.Tally{}, err
	}
	return ui.Tally{Pass: s.Pass, Fail: s.Fail + s.Error, FirstTested: s.FirstTested, FirstPass: s.FirstPass}, nil
}

// defaultTUILog is where the diagnostics go unless --log says otherwise.
func defaultTUILog(cfg *station.Config) string {
	return filepath.Join(filepath.Dir(cfg.Database), "station-tui.log")
}
