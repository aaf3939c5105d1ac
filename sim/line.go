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
	"sync"
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
	servers *server.Servers
	ctl     *flashctl.Server
	usb     *usbTree
	control net.Listener // DIR/hotplug.sock: plug, unplug, replace
	config  string
	lock    *dirLock // released last, in Close
	wg      sync.WaitGroup

	mu      sync.Mutex // guards places and the units in them
	place   []*place   // index i is unit i+1's place on the fixture
	imeis   map[string]bool
	closing bool // Close began: no more plugging
}

// place is one position of the fixture: a USB port at a fixed location
// and the unit plugged into it, if any.
type place struct {
	index  int
	loc    string
	gen    int // 0: the line's original unit; each replacement counts up
	id     unitIdentity
	faults Faults
	unit   *unit.Unit // the last unit plugged here (kept after its unplug)
	in     bool       // a unit is plugged in
	plugs  int        // counts plug-ins: tells a unit's unplug from a later one's
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
	l = &Line{opt: opt, dir: dir, lock: lock, imeis: map[string]bool{}}
	// started, not l: a failing return sets l to nil before this runs.
	defer func(started *Line) {
		if err != nil {
			started.Close()
		}
	}(l)
	if l.usb, err = newUSBTree(dir, opt.Logger.With("part", "usb")); err != nil {
		return nil, err
	}
	if err := l.startServers(ctx); err != nil {
		return nil, err
	}
	if err := l.startProbes(); err != nil {
		return nil, err
	}
	if err := l.startUnits(); err != nil {
		return nil, err
	}
	if err := l.awaitBoot(ctx); err != nil {
		return nil, err
	}
	if err := l.serveControl(); err != nil {
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
	for i, u := range l.Units() {
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
			if i, ok := byEndpoint[endpoint]; ok && l.opt.Faults[i].UnplugAt == "register" {
				l.unplugOriginal(i)
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
		p := &place{index: i + 1, loc: usbLocation(i + 1), id: newIdentity(l.dir, i+1), faults: l.opt.Faults[i]}
		l.imeis[p.id.IMEI] = true
		l.place = append(l.place, p)
		if err := l.plugLocked(p); err != nil {
			return err
		}
		if p.faults.StaleServerCreds {
			if err := l.seedStaleAccount(p.unit, p.id); err != nil {
				return fmt.Errorf("sim unit %d: %w", i+1, err)
			}
		}
	}
	return nil
}

// plugLocked plugs the unit of p (its identity, faults and state file) into
// its place: the unit boots on a new pty, its J-Link appears on the USB
// tree and to the flash tools (l.mu held, or the line not yet shared).
func (l *Line) plugLocked(p *place) error {
	if l.closing {
		return errors.New("the line is shutting down")
	}
	f := p.faults
	cfg := unit.Config{
		Index: p.index, IMEI: p.id.IMEI, ICCID: p.id.ICCID, IMSI: p.id.IMSI, UUID: p.id.UUID,
		ModemFW: "mfw_nrf91x1_2.0.2", Model: "nRF9151-LACA", HWVersion: "nRF9151 LACA A0A",
		Shell:        l.opt.Shell,
		StatePath:    l.statePath(p),
		Link:         filepath.Join(l.dir, "dev", fmt.Sprintf("unit%d", p.index)),
		Delay:        l.Delay,
		BootstrapURI: l.servers.BootstrapURI(),
		BootstrapTag: 100, ServerTag: 101,
		Faults: unit.Faults{
			Silent: f.Silent, Garbage: f.Garbage, CME515: f.CME515, LTENever: f.LTENever,
			ResetDuringBootstrap: f.ResetDuringBootstrap, UnplugAt: unitUnplug(f.UnplugAt),
		},
		Logger: l.opt.Logger.With("unit", p.index),
	}
	p.plugs++
	plug := p.plugs
	cfg.OnUnplug = func() { l.unplugged(p, plug) }
	u, err := unit.Start(cfg)
	if err != nil {
		return fmt.Errorf("sim unit %d: %w", p.index, err)
	}
	pty, err := filepath.EvalSymlinks(u.Port())
	if err == nil {
		_, err = l.usb.plug(p.loc, p.id.Probe, pty)
	}
	if err == nil {
		err = l.ctl.Plug(p.index, &flashctl.Probe{
			Serial: p.id.Probe, Port: u.Port(), Unit: probeUnit{Unit: u, reset: func() { l.usb.reenumerate(p.loc) }},
			Faults: flashctl.Faults{Protected: f.Protected, VerifyError: f.VerifyError, JLinkTransient: f.JLinkTransient,
				UnplugAtFlash: f.UnplugAt == "flash", UnplugAtBootstrap: f.UnplugAt == "bootstrap"},
		})
	}
	if err != nil {
		u.Close()
		l.usb.unplug(p.loc)
		return fmt.Errorf("sim unit %d: %w", p.index, err)
	}
	p.unit, p.in = u, true
	return nil
}

func (l *Line) statePath(p *place) string {
	if p.gen == 0 {
		return filepath.Join(l.dir, "units", fmt.Sprintf("unit%d.json", p.index))
	}
	return filepath.Join(l.dir, "units", fmt.Sprintf("unit%d-r%d.json", p.index, p.gen))
}

// probeUnit is a unit as its J-Link drives it: a reset of the target also
// makes the J-Link OB re-enumerate on USB for a moment, which discovery
// must ride out.
type probeUnit struct {
	*unit.Unit
	reset func()
}

func (u probeUnit) Reset() {
	u.Unit.Reset()
	u.reset()
}

// unplugged is called once u is unplugged, whatever pulled it: its J-Link
// leaves the USB tree and the flash tools' listing with it.
func (l *Line) unplugged(p *place, plug int) {
	l.mu.Lock()
	current := p.plugs == plug && p.in
	if current {
		p.in = false
		l.usb.unplug(p.loc)
	}
	serial, closing := p.id.Probe, l.closing
	l.mu.Unlock()
	if !current || closing {
		return
	}
	// The probe leaves the fake tools' bus now, not later: a replacement
	// may be plugged into this place at once (sim ctl replace did, and
	// found the place still in use). An operation running on it
	// (unplug@flash) is not waited for: it ends Lost at its next tick.
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	l.ctl.Unplug(gone, serial)
}

// unplugOriginal pulls the line's original unit i (0-based) if it is still
// plugged in (the unplug@register fault).
func (l *Line) unplugOriginal(i int) {
	l.mu.Lock()
	var u *unit.Unit
	if i < len(l.place) && l.place[i].gen == 0 && l.place[i].in {
		u = l.place[i].unit
	}
	l.mu.Unlock()
	if u != nil {
		u.Unplug()
	}
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

// startProbes starts the J-Link side; the units' probes are plugged in
// as the units are.
func (l *Line) startProbes() error {
	sock := filepath.Join(l.dir, "control.sock")
	os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("sim probe control: %w", err)
	}
	l.ctl = flashctl.NewServer(nil, l.Delay, l.opt.Logger.With("part", "probes"))
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
	// The units are found as USB devices in the line's own sysfs tree,
	// announced on its uevent socket: the same discovery code as on a
	// real fixture.
	cfg.Line.Discovery = "usb"
	cfg.Line.SysfsRoot = "."
	cfg.Line.UeventSocket = ueventSock
	for _, p := range l.place {
		// The port is the unit's stable link (like udev's by-path names):
		// it names the place, whichever unit is plugged in.
		// No probe: any unit plugged in there belongs to the slot, as on a
		// line of DK-style units that each bring their own J-Link
		// (`sim ctl replace`); the run records the probe it found.
		cfg.Slots = append(cfg.Slots, station.SlotConfig{Name: fmt.Sprintf("A%d", p.index), USB: p.loc, Port: p.unit.Port()})
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

// Units exposes the unit last plugged into each place, in place order,
// plugged in or not (tests inspect their credential stores).
func (l *Line) Units() []*unit.Unit {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*unit.Unit, len(l.place))
	for i, p := range l.place {
		out[i] = p.unit
	}
	return out
}

// Servers exposes the virtual servers (tests inspect registrations).
func (l *Line) Servers() *server.Servers { return l.servers }

// Close stops everything.
func (l *Line) Close() error {
	var errs []error
	l.mu.Lock()
	l.closing = true
	l.mu.Unlock()
	if l.control != nil {
		l.control.Close()
	}
	if l.ctl != nil {
		l.ctl.Close()
	}
	for _, u := range l.Units() {
		if u != nil {
			errs = append(errs, u.Close())
		}
	}
	l.wg.Wait()
	if l.usb != nil {
		l.usb.Close()
	}
	if l.servers != nil {
		errs = append(errs, l.servers.Close())
	}
	l.lock.release()
	return errors.Join(errs...)
}
