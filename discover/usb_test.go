package discover

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"go.bug.st/serial/enumerator"

	"nrfline/internal/deptest"
	"nrfline/station"
)

// line builds a fake bench: two nRF9151 DKs, a Thingy:91 X on Nordic USB,
// a CH340 adapter without serial, a J-Link whose sysfs entry is gone (by-id
// link only) and a platform UART. It returns the root and what the
// serial enumerator reports for it (its Linux shape: upper-case IDs, an
// empty entry for a tty without a sysfs device).
func line(tb testing.TB) (string, []*enumerator.PortDetails) {
	tb.Helper()
	f := newFakeSys(tb)
	a := f.usbDevice("1-4.3.2", jlinkAttrs("001051202135"))
	f.acm(a, 0, "ttyACM0")
	f.acm(a, 2, "ttyACM1")
	b := f.usbDevice("1-4.3.3", jlinkAttrs("001051202136"))
	f.acm(b, 2, "ttyACM2") // plug order put VCOM1 first
	f.acm(b, 0, "ttyACM3")
	th := f.usbDevice("3-1", map[string]string{"idVendor": "1915\n", "idProduct": "910a\n", "serial": "THINGY91X_F39CC1B120C\n"})
	f.acm(th, 1, "ttyACM4")
	f.acm(th, 4, "ttyACM5")
	ch := f.usbDevice("1-2", map[string]string{"idVendor": "1a86\n", "idProduct": "7523\n"})
	f.usbSerial(ch, 0, "ttyUSB0")
	f.byID("usb-SEGGER_J-Link_001050012345-if00", "ttyACM6")
	f.byID("usb-SEGGER_J-Link_001050012345-if02", "ttyACM7")
	jl := func(name, serial string) *enumerator.PortDetails {
		return &enumerator.PortDetails{Name: name, IsUSB: true, VID: "1366", PID: "1069", SerialNumber: serial}
	}
	return f.root, []*enumerator.PortDetails{
		jl("/dev/ttyACM0", "001051202135"), jl("/dev/ttyACM1", "001051202135"),
		jl("/dev/ttyACM2", "001051202136"), jl("/dev/ttyACM3", "001051202136"),
		{Name: "/dev/ttyACM4", IsUSB: true, VID: "1915", PID: "910A", SerialNumber: "THINGY91X_F39CC1B120C"},
		{Name: "/dev/ttyACM5", IsUSB: true, VID: "1915", PID: "910A", SerialNumber: "THINGY91X_F39CC1B120C"},
		{Name: "/dev/ttyUSB0", IsUSB: true, VID: "1A86", PID: "7523"},
		jl("/dev/ttyACM6", "001050012345"), jl("/dev/ttyACM7", "001050012345"),
		{Name: "/dev/ttyS0"},
		{},
		nil,
	}
}

// TestListerPorts runs everything below the enumerator call on a fake
// tree: sysfs and by-id merge, grouping, probes and console ports.
func TestListerPorts(t *testing.T) {
	root, details := line(t)
	l := Lister{SysRoot: root}
	ports, err := l.ports(t.Context(), details)
	if err != nil {
		t.Fatal(err)
	}
	devs := Group(ports)
	want := []Device{
		{Serial: "001050012345", Probe: "1050012345", Board: "nRF5340 DK", VID: "1366", PID: "1069",
			Ports: []Port{{"/dev/ttyACM6", 0, 0}, {"/dev/ttyACM7", 2, 1}}},
		{Serial: "001051202135", Probe: "1051202135", Board: "nRF9151 DK", VID: "1366", PID: "1069", USB: "1-4.3.2",
			Ports: []Port{{"/dev/ttyACM0", 0, 0}, {"/dev/ttyACM1", 2, 1}}},
		{Serial: "001051202136", Probe: "1051202136", Board: "nRF9151 DK", VID: "1366", PID: "1069", USB: "1-4.3.3",
			Ports: []Port{{"/dev/ttyACM3", 0, 0}, {"/dev/ttyACM2", 2, 1}}},
		{Serial: "THINGY91X_F39CC1B120C", Probe: "THINGY91X_F39CC1B120C", Board: "Thingy:91 X", VID: "1915", PID: "910a", USB: "3-1",
			Ports: []Port{{"/dev/ttyACM4", 1, 0}, {"/dev/ttyACM5", 4, 1}}},
		{VID: "1a86", PID: "7523", USB: "1-2", Ports: []Port{{"/dev/ttyUSB0", 0, 0}}},
	}
	if !reflect.DeepEqual(devs, want) {
		t.Fatalf("devices:\n got %+v\nwant %+v", devs, want)
	}
	if got, want := probes(devs), []string{"1050012345", "1051202135", "1051202136", "THINGY91X_F39CC1B120C"}; !reflect.DeepEqual(got, want) {
		t.Errorf("probes = %q, want %q", got, want)
	}
	consoles := []struct{ probe, want string }{
		{"1051202135", "/dev/ttyACM0"},
		{"001051202136", "/dev/ttyACM3"},
		{"THINGY91X_F39CC1B120C", "/dev/ttyACM4"},
		{"1050012345", "/dev/ttyACM7"},
	}
	for _, c := range consoles {
		if got, err := consolePort(devs, c.probe); err != nil || got != c.want {
			t.Errorf("consolePort(%s) = %q, %v; want %q", c.probe, got, err, c.want)
		}
	}
}

func TestListerPortsCancelled(t *testing.T) {
	root, details := line(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := (Lister{SysRoot: root}).ports(ctx, details); !errors.Is(err, context.Canceled) {
		t.Fatalf("ports on a cancelled ctx: %v", err)
	}
	if _, err := (Lister{SysRoot: root}).Devices(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Devices on a cancelled ctx: %v", err)
	}
	if code := station.CodeOf(func() error { _, err := (Lister{}).Probes(ctx); return err }()); code != station.Interrupted {
		t.Errorf("Probes on a cancelled ctx classifies as %s, want %s", code, station.Interrupted)
	}
}

// TestListerThisMachine runs the real enumerator. Whatever is plugged in,
// listing must work and a probe that cannot exist is PORT_UNAVAILABLE.
func TestListerThisMachine(t *testing.T) {
	l := Lister{}
	devs, err := l.Devices(t.Context())
	if err != nil {
		t.Fatalf("Devices: %v", err)
	}
	for _, d := range devs {
		if len(d.Ports) == 0 || (d.Probe != "" && !IsProbe(d.VID)) {
			t.Errorf("bad device %+v", d)
		}
	}
	if _, err := l.Probes(t.Context()); err != nil {
		t.Fatalf("Probes: %v", err)
	}
	port, err := l.ConsolePort(t.Context(), "999999999999")
	if code := station.CodeOf(err); code != station.PortUnavailable {
		t.Fatalf("ConsolePort(absent) = %q, %v; want %s", port, err, station.PortUnavailable)
	}
}

func TestIsProbe(t *testing.T) {
	for vid, want := range map[string]bool{"1366": true, "1915": true, "1915 ": false, "0403": false, "1A86": false, "": false} {
		if got := IsProbe(vid); got != want {
			t.Errorf("IsProbe(%q) = %v", vid, got)
		}
	}
}

// TestImports: of ours, discover imports only station; of third parties
// only the serial enumerator's types and x/sys (netlink).
func TestImports(t *testing.T) {
	deptest.Check(t, ".", deptest.Rules{Ours: []string{"nrfline/station"}, ThirdParty: []string{"go.bug.st/serial/enumerator", "golang.org/x/sys/unix"}})
}
