// Package discover finds the debug probes (J-Link OB, Nordic USB) plugged
// into the station and their serial ports.
//
// Sysfs (the tty class, and the USB device above each tty) tells each
// port's USB vendor, product and serial, its USB interface number (which
// VCOM it is) and the physical USB location. Group turns that into devices, Board names the board by its
// probe serial and says which VCOM carries AT. A unit is identified by its
// probe serial, or by its USB location when it has none; never by its
// /dev/ttyACMn name, which changes with plug order.
package discover

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"go.bug.st/serial/enumerator"

	"nrfline/station"
)

// Lister enumerates the machine's serial ports and groups them into USB
// devices. The zero value reads the real sysfs at "/".
type Lister struct {
	// SysRoot is the root under which sys/class/tty and dev/serial/by-id
	// are read: "/" (or "") normally, a fake tree in tests.
	SysRoot string
	// Log receives diagnostics (discarded when nil).
	Log *slog.Logger

	cache *portCache // optional: sysfs answers kept between listings
}

// Devices lists the USB serial devices present now, probes first. The
// ports are the ttys of <root>/sys/class/tty; a port that goes away while
// it is read (a unit pulled mid-scan) is left out, it does not fail the
// listing. An unreadable tty class is PORT_UNAVAILABLE.
func (l Lister) Devices(ctx context.Context) ([]Device, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list USB devices: %w", err)
	}
	details, err := l.ttys()
	if err != nil {
		return nil, station.Errorf(station.PortUnavailable, err, "enumerate serial ports")
	}
	if l.cache != nil {
		l.cache.mu.Lock()
		defer l.cache.mu.Unlock()
		l.cache.begin()
		defer l.cache.end()
	}
	ports, err := l.ports(ctx, details)
	if err != nil {
		return nil, err
	}
	return Group(ports), nil
}

// ttys lists the tty class devices under the root as the serial
// enumerator would, with their device node under <root>/dev. The
// enumerator itself is not used: it reads the real /sys only, and one port
// vanishing during its scan fails its whole listing, which hot-plug makes
// an everyday event.
func (l Lister) ttys() ([]*enumerator.PortDetails, error) {
	root := l.root()
	entries, err := os.ReadDir(filepath.Join(root, "sys", "class", "tty"))
	if err != nil {
		return nil, err
	}
	out := make([]*enumerator.PortDetails, 0, len(entries))
	for _, e := range entries {
		out = append(out, &enumerator.PortDetails{Name: filepath.Join(root, "dev", e.Name())})
	}
	return out, nil
}

// Probes returns the serials of the probes present now, normalised
// (without leading zeros), each once.
func (l Lister) Probes(ctx context.Context) ([]string, error) {
	devs, err := l.Devices(ctx)
	if err != nil {
		return nil, err
	}
	return probes(devs), nil
}

// ConsolePort returns the AT/console port of probe (either serial form):
// the port at the board table's index (nRF9151 DK: VCOM0, interface 0).
// It is PORT_UNAVAILABLE when the probe is not present, is present twice,
// or lacks that port.
func (l Lister) ConsolePort(ctx context.Context, probe string) (string, error) {
	devs, err := l.Devices(ctx)
	if err != nil {
		return "", err
	}
	return consolePort(devs, probe)
}

// ports merges the enumerator's view of each port with sysfs under the
// root: sysfs is authoritative where it describes the port; the udev by-id
// links supply an interface number sysfs did not.
func (l Lister) ports(ctx context.Context, details []*enumerator.PortDetails) ([]PortInfo, error) {
	root := l.root()
	byID, err := byIDInterfaces(root)
	if err != nil {
		l.log().Debug("by-id links unreadable", "err", err)
	}
	out := make([]PortInfo, 0, len(details))
	for _, d := range details {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("list USB devices: %w", err)
		}
		if d == nil || d.Name == "" {
			continue // no sysfs device: the enumerator left the entry empty
		}
		p := l.port(root, d)
		if n, ok := byID[filepath.Base(d.Name)]; ok && p.Interface < 0 {
			p.Interface = n
		}
		out = append(out, p)
	}
	return out, nil
}

// port is one enumerated port, completed from sysfs.
func (l Lister) port(root string, d *enumerator.PortDetails) PortInfo {
	p := PortInfo{
		Path: d.Name, IsUSB: d.IsUSB, Interface: -1,
		VID: strings.ToLower(d.VID), PID: strings.ToLower(d.PID), Serial: d.SerialNumber,
	}
	s, err := readSysfsCached(root, filepath.Base(d.Name), l.cache)
	if err != nil {
		l.log().Debug("sysfs unreadable", "port", d.Name, "err", err)
		return p
	}
	if !s.IsUSB {
		return p
	}
	s.Path = d.Name
	return s
}

func (l Lister) root() string {
	if l.SysRoot == "" {
		return "/"
	}
	return l.SysRoot
}

func (l Lister) log() *slog.Logger {
	if l.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l.Log
}
