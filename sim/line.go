// Package sim is the virtual line: N emulated nRF9151 units on
// pseudo-terminals, their virtual J-Link probes behind fake nrfjprog and
// nrfutil tools, a Leshan-style bootstrap portal, an LwM2M bootstrap server
// and an LwM2M server — everything a station talks to, on this machine.
package sim

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"nrfline/sim/faketool"
	"nrfline/sim/flashctl"
	"nrfline/sim/server"
	"nrfline/sim/unit"
	"nrfline/station"
)

// Options describe a virtual line.
type Options struct {
	Units   int
	Dir     string  // config, tools, unit state and database; reused → same units
	Speed   float64 // divides every simulated delay
	Faults  []Faults
	Shell   bool   // units run the Zephyr shell flavour instead of the AT host
	Tool    string // "nrfjprog" or "nrfutil": which tool the config names
	ToolExe string // executable that runs faketool.Dispatch first (the station binary)
	Logger  *slog.Logger
}

// Simulated delays at speed 1 (see also flashctl's timing table).
const (
	firmwareSize = 384 << 10 // bytes: an lwm2m_client build
)

// Line is a running virtual line.
type Line struct {
	opt     Options
	dir     string
	units   []*unit.Unit
	servers *server.Servers
	ctl     *flashctl.Server
	config  string
	lock    *dirLock // released last, in Close
}

// Start brings the line up and writes DIR/station.toml.
func Start(ctx context.Context, opt Options) (l *Line, err error) {
	if opt.Units < 1 {
		return nil, errors.New("sim: at least one unit")
	}
	if opt.Speed <= 0 {
		opt.Speed = 1
	}
	if opt.Tool == "" {
		opt.Tool = "nrfjprog"
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if len(opt.Faults) < opt.Units {
		opt.Faults = append(opt.Faults, make([]Faults, opt.Units-len(opt.Faults))...)
	}
	dir, err := filepath.Abs(opt.Dir)
	if err != nil {
		return nil, fmt.Errorf("sim dir: %w", err)
	}
	for _, sub := range []string{"bin", "dev", "units", "fw"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("sim dir: %w", err)
		}
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	l = &Line{opt: opt, dir: dir, lock: lock}
	// started, not l: a failing return sets l to nil before this runs.
	defer func(started *Line) {
		if err != nil {
			started.Close()
		}
	}(l)
	if err := l.startServers(ctx); err != nil {
		return nil, err
	}
	if err := l.startUnits(); err != nil {
		return nil, err
	}
	if err := l.awaitBoot(ctx); err != nil {
		return nil, err
	}
	if err := l.startProbes(); err != nil {
		return nil, err
	}
	if err := writeFirmware(filepath.Join(dir, "fw", "app.hex"), firmwareSize); err != nil {
		return nil, err
	}
	if err := l.writeConfig(); err != nil {
		return nil, err
	}
	return l, nil
}

// bootWait bounds the wait for the units' first boot (0.5 s simulated).
const bootWait = 10 * time.Second

// awaitBoot returns once every unit's first boot settled, so that a line
// reported ready answers AT at once, as the CONTRACT promises a newcomer.
func (l *Line) awaitBoot(ctx context.Context) error {
	timeout := time.After(max(bootWait, 2*l.Delay(bootWait)))
	for i, u := range l.units {
		select {
		case <-u.Settled():
		case <-ctx.Done():
			return ctx.Err()
		case <-timeout:
			return fmt.Errorf("sim unit %d: first boot did not finish", i+1)
		}
	}
	return nil
}

// Delay scales a simulated duration by the line's speed.
func (l *Line) Delay(d time.Duration) time.Duration {
	return time.Duration(float64(d) / l.opt.Speed)
}

func (l *Line) startServers(ctx context.Context) error {
	byEndpoint := map[string]int{}
	for i := range l.opt.Units {
		byEndpoint["urn:imei:"+newIdentity(l.dir, i+1).IMEI] = i
	}
	srv, err := server.Start(ctx, server.Config{
		Logger: l.opt.Logger.With("part", "servers"),
		Delay:  l.Delay,
		Faults: func(endpoint string) server.Fault {
			i, ok := byEndpoint[endpoint]
			if !ok {
				return server.Fault{}
			}
			f := l.opt.Faults[i]
			return server.Fault{Portal500: f.Portal500, PortalSlow: f.PortalSlow, PortalTimeout: f.PortalTimeout, BootstrapReject: f.BootstrapReject}
		},
		OnRequest: func(endpoint string) {
			if i, ok := byEndpoint[endpoint]; ok && l.opt.Faults[i].UnplugAt == "register" && i < len(l.units) {
				l.units[i].Unplug()
			}
		},
	})
	if err != nil {
		return fmt.Errorf("sim servers: %w", err)
	}
	l.servers = srv
	return nil
}

func (l *Line) startUnits() error {
	for i := range l.opt.Units {
		id := newIdentity(l.dir, i+1)
		f := l.opt.Faults[i]
		cfg := unit.Config{
			Index: i + 1, IMEI: id.IMEI, ICCID: id.ICCID, IMSI: id.IMSI, UUID: id.UUID,
			ModemFW: "mfw_nrf91x1_2.0.2", Model: "nRF9151-LACA", HWVersion: "nRF9151 LACA A0A",
			Shell:        l.opt.Shell,
			StatePath:    filepath.Join(l.dir, "units", fmt.Sprintf("unit%d.json", i+1)),
			Link:         filepath.Join(l.dir, "dev", fmt.Sprintf("unit%d", i+1)),
			Delay:        l.Delay,
			BootstrapURI: l.servers.BootstrapURI(),
			BootstrapTag: 100, ServerTag: 101,
			Faults: unit.Faults{
				Silent: f.Silent, Garbage: f.Garbage, CME515: f.CME515, LTENever: f.LTENever,
				ResetDuringBootstrap: f.ResetDuringBootstrap, UnplugAt: unitUnplug(f.UnplugAt),
			},
			Logger: l.opt.Logger.With("unit", i+1),
		}
		u, err := unit.Start(cfg)
		if err != nil {
			return fmt.Errorf("sim unit %d: %w", i+1, err)
		}
		l.units = append(l.units, u)
		if f.StaleServerCreds {
			if err := l.seedStaleAccount(u, id); err != nil {
				return fmt.Errorf("sim unit %d: %w", i+1, err)
			}
		}
	}
	return nil
}

// staleAccount is a previous LwM2M server account the unit still holds in
// its server sec_tag, and that the LwM2M server still accepts: the unit
// will register without bootstrapping unless the station clears the tag.
func (l *Line) seedStaleAccount(u *unit.Unit, id unitIdentity) error {
	// The old account has its own PSK identity: a DTLS server holds one key
	// per identity, and the station registers the endpoint's new one.
	ep := "urn:imei:" + id.IMEI
	identity := ep + "-previous"
	key := sha256.Sum256([]byte("stale/" + ep))
	l.servers.AddLegacyCredential(ep, identity, key[:16])
	return u.SeedServerAccount(l.servers.DMServerURI(), identity, key[:16])
}

// unitUnplug keeps the steps the unit itself notices; flash, register and
// bootstrap are noticed by the probe and the portal.
func unitUnplug(step string) string {
	if step == "identify" || step == "inject" {
		return step
	}
	return ""
}

func (l *Line) startProbes() error {
	probes := make([]*flashctl.Probe, len(l.units))
	for i, u := range l.units {
		f := l.opt.Faults[i]
		probes[i] = &flashctl.Probe{
			Serial: newIdentity(l.dir, i+1).Probe, Port: u.Port(), Unit: u,
			Faults: flashctl.Faults{Protected: f.Protected, VerifyError: f.VerifyError, JLinkTransient: f.JLinkTransient,
				UnplugAtFlash: f.UnplugAt == "flash", UnplugAtBootstrap: f.UnplugAt == "bootstrap"},
		}
	}
	sock := filepath.Join(l.dir, "control.sock")
	os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("sim probe control: %w", err)
	}
	l.ctl = flashctl.NewServer(probes, l.Delay, l.opt.Logger.With("part", "probes"))
	go l.ctl.ServeListener(ln)
	exe := l.opt.ToolExe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return fmt.Errorf("sim tools: %w", err)
		}
	}
	if _, _, err := faketool.WriteScripts(filepath.Join(l.dir, "bin"), exe, sock); err != nil {
		return fmt.Errorf("sim tools: %w", err)
	}
	return nil
}

// writeConfig writes a ready station.toml for this line (CONTRACT format).
// Station timeouts are scaled with the line's speed so a fault shows up as
// fast as the line runs, with floors that keep a loaded CI machine honest.
func (l *Line) writeConfig() error {
	cfg := station.Defaults()
	cfg.StationID = "sim-line"
	cfg.Database = "station.db"
	cfg.Firmware.Hex = "fw/app.hex"
	cfg.Firmware.MinModemFW = "2.0.0"
	cfg.Flash.Tool = l.opt.Tool
	cfg.Flash.Path = filepath.Join("bin", l.opt.Tool)
	cfg.Flash.Timeout = l.scaled(120*time.Second, 20*time.Second)
	cfg.Modem.Mode = map[bool]string{false: "at", true: "shell"}[l.opt.Shell]
	cfg.Modem.ReadyTimeout = l.scaled(30*time.Second, 4*time.Second)
	cfg.Modem.CommandTimeout = l.scaled(10*time.Second, 3*time.Second)
	// The virtual modem hashes credentials by the rule modem-at.md §6.2
	// infers; on this line a digest the station computes wrongly must fail.
	cfg.Credentials.StrictDigest = true
	cfg.Portal.URL = l.servers.PortalURL()
	cfg.Portal.DMURL = l.servers.DMURL()
	cfg.Portal.TargetURI = l.servers.DMServerURI()
	cfg.Portal.Timeout = l.scaled(15*time.Second, 3*time.Second)
	cfg.Bootstrap.Timeout = l.scaled(180*time.Second, 15*time.Second)
	cfg.Bootstrap.ServerURI = l.servers.BootstrapURI()
	for i, u := range l.units {
		cfg.Slots = append(cfg.Slots, station.SlotConfig{
			Name: fmt.Sprintf("A%d", i+1), Probe: newIdentity(l.dir, i+1).Probe, Port: u.Port(),
		})
	}
	out, err := station.MarshalConfig(&cfg)
	if err != nil {
		return err
	}
	l.config = filepath.Join(l.dir, "station.toml")
	header := "# station.toml for a virtual line written by `station sim`; valid while that process runs.\n"
	return os.WriteFile(l.config, append([]byte(header), out...), 0o644)
}

func (l *Line) scaled(d, floor time.Duration) station.Duration {
	return station.Duration{Duration: max(l.Delay(d), floor)}
}

// ConfigPath is DIR/station.toml.
func (l *Line) ConfigPath() string { return l.config }

// Units exposes the virtual units (tests inspect their credential stores).
func (l *Line) Units() []*unit.Unit { return l.units }

// Servers exposes the virtual servers (tests inspect registrations).
func (l *Line) Servers() *server.Servers { return l.servers }

// Close stops everything.
func (l *Line) Close() error {
	var errs []error
	if l.ctl != nil {
		l.ctl.Close()
	}
	for _, u := range l.units {
		errs = append(errs, u.Close())
	}
	if l.servers != nil {
		errs = append(errs, l.servers.Close())
	}
	l.lock.release()
	return errors.Join(errs...)
}
