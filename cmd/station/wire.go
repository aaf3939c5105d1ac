package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"nrfline/central"
	"nrfline/discover"
	"nrfline/flash"
	"nrfline/inject"
	"nrfline/inject/portal"
	"nrfline/inject/probe"
	"nrfline/records"
	"nrfline/station"
)

// line is an engine with everything it was wired to.
type line struct {
	engine      *station.Engine
	store       *records.Store
	firmware    station.Firmware    // the checked image, for the TUI's header
	central     *central.Replicator // nil without [central]; Backlog() for the output
	stopCentral func()
}

// backlog reads the central replicator's backlog; nil without [central].
func (l *line) backlog() func() int {
	if l.central == nil {
		return nil
	}
	return l.central.Backlog
}

func (l *line) Close() {
	l.engine.Close()
	if l.stopCentral != nil {
		l.stopCentral()
	}
	if err := l.store.Close(); err != nil {
		slog.Error("close records", "err", err)
	}
}

// wire builds the engine for cfg: check the firmware, open the records,
// create the flasher, modem opener, portal and prober.
func wire(ctx context.Context, cfg *station.Config, logger *slog.Logger) (*line, error) {
	fw, err := flash.CheckImage(cfg.Firmware.Hex, cfg.Firmware.SHA256)
	if err != nil {
		return nil, firmwareErr(fmt.Errorf("firmware: %w", err))
	}
	fl, err := flash.New(cfg.Flash, logger.With("part", "flash"))
	if err != nil {
		return nil, configErr(fmt.Errorf("flash: %w", err))
	}
	var p station.Portal
	if cfg.Portal.Kind != "none" {
		if p, err = portal.New(cfg.Portal, os.Getenv, logger.With("part", "portal"), portal.WithStationID(cfg.StationID)); err != nil {
			return nil, configErr(fmt.Errorf("portal: %w", err))
		}
	}
	var prober station.Prober
	if cfg.Bootstrap.Probe {
		prober = probe.New(logger.With("part", "probe"))
	}
	store, err := records.Open(cfg.Database, records.WithLogger(logger.With("part", "records")))
	if err != nil {
		return nil, infraErr(fmt.Errorf("open records %s: %w", cfg.Database, err))
	}
	history, closeHistory, err := lineHistory(cfg, store)
	if err != nil {
		store.Close()
		return nil, err
	}
	opt := station.Options{
		Config: cfg, Firmware: fw, Flasher: fl, Portal: p, Prober: prober, Recorder: store, History: history,
		Modems:  inject.Opener(cfg.Modem, logger.With("part", "modem")),
		Logger:  logger,
		Version: version(),
		// A slot without a port uses its probe's console VCOM, found on USB.
		PortFinder: discover.Lister{SysRoot: cfg.Line.SysfsRoot, Log: logger.With("part", "usb")}.ConsolePort,
	}
	if v, ok := fl.(interface {
		Version(context.Context) (string, error)
	}); ok {
		opt.FlashVersion = flashVersion(ctx, v.Version, logger)
	}
	// Units are found as [line] discovery says: USB hot-plug (sysfs and
	// uevents), or the flash tool's probe listing.
	var toolList func(context.Context) ([]string, error)
	if l, ok := fl.(interface {
		List(context.Context) ([]string, error)
	}); ok {
		toolList = l.List
	}
	if opt.Discovery, err = discover.FromConfig(cfg.Line, toolList, logger.With("part", "discover")); err != nil {
		store.Close()
		return nil, configErr(err)
	}
	eng, err := station.New(opt)
	if err != nil {
		closeHistory()
		store.Close()
		return nil, infraErr(err)
	}
	rep, stopCentral, err := startCentral(cfg, store, logger)
	if err != nil {
		eng.Close()
		closeHistory()
		store.Close()
		return nil, infraErr(err)
	}
	return &line{engine: eng, store: store, firmware: fw, central: rep, stopCentral: func() { stopCentral(); closeHistory() }}, nil
}

// flashVersion asks the flash tool for its version, recorded with every
// run. A tool that cannot tell within 10 s is not a reason to stop the
// line, but the supervisor must see why the runs lack it.
func flashVersion(ctx context.Context, version func(context.Context) (string, error), logger *slog.Logger) string {
	vctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := version(vctx)
	if err != nil {
		logger.Warn("flash tool version unknown; runs record none", "err", err)
		return ""
	}
	return s
}
