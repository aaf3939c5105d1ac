// Package discover finds the debug probes (J-Link OB, Nordic USB) plugged
// into the station and their serial ports.
//
// The serial enumerator (go.bug.st/serial/enumerator) lists the ports with
// their USB vendor, product and serial; sysfs adds what it cannot tell: the
// USB interface number of each port (which VCOM it is) and the physical
// USB location. Group turns that into devices, Board names the board by its
// probe serial and says which VCOM carries AT. A unit is identified by its
// probe serial, or by its USB location when it has none; never by its
// /dev/ttyACMn name, which changes with plug order.
package discover

import (
	"context"
	"fmt"
	"log/slog"
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
}

var _ station.Lister = Lister{}

// Devices lists the USB serial devices present now, probes first. An
// enumeration failure is PORT_UNAVAILABLE with the enumerator's error
// reachable through errors.As.
func (l Lister) Devices(ctx context.Context) ([]Device, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list USB devices: %w", err)
	}
	details, err := enumerator.GetDetailedPortsList()
	if err != nil {
		return nil, station.Errorf(station.PortUnavailable, err, "enumerate serial ports")
	}
	ports, err := l.ports(ctx, details)
	if err != nil {
		return nil, err
	}
	return Group(ports), nil
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
	s, err := readSysfs(root, filepath.Base(d.Name))
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
