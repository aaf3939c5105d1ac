package discover

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"nrfline/station"
)

// broadcaster is a minimal uevent source for a fake tree: it sends each
// message to every connected watcher, as the kernel's netlink multicast.
type broadcaster struct {
	ln    *net.UnixListener
	mu    sync.Mutex
	conns []net.Conn
}

func newBroadcaster(tb testing.TB, path string) *broadcaster {
	tb.Helper()
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		tb.Fatal(err)
	}
	b := &broadcaster{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns = append(b.conns, c)
			b.mu.Unlock()
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, c := range b.conns {
			c.Close()
		}
	})
	return b
}

func (b *broadcaster) send(tb testing.TB, action, devpath, subsystem string) {
	tb.Helper()
	msg := Uevent{Action: action, DevPath: devpath, Subsystem: subsystem}.Message()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.conns {
		if _, err := c.Write(msg); err != nil {
			tb.Fatal(err)
		}
	}
}

// waitConns waits until n watchers are connected.
func (b *broadcaster) waitConns(tb testing.TB, n int) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		b.mu.Lock()
		got := len(b.conns)
		b.mu.Unlock()
		if got >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	tb.Fatalf("no watcher connected")
}

// plug adds a J-Link OB with its VCOM0 at location loc.
func (f *fakeSys) plug(loc, serial, tty string) {
	f.tb.Helper()
	dev := f.usbDevice(loc, jlinkAttrs(serial))
	f.acm(dev, 0, tty)
}

// unplug removes the device at loc and its tty.
func (f *fakeSys) unplug(loc, tty string) {
	f.tb.Helper()
	if err := os.Remove(f.path("sys/class/tty/" + tty)); err != nil {
		f.tb.Fatal(err)
	}
	var matches []string
	for _, depth := range []string{"", "*/", "*/*/"} {
		m, _ := filepath.Glob(f.path("sys/devices/pci0000:00/0000:00:14.0/usb*/" + depth + loc))
		matches = append(matches, m...)
	}
	if len(matches) != 1 {
		f.tb.Fatalf("device %s: %v", loc, matches)
	}
	if err := os.RemoveAll(matches[0]); err != nil {
		f.tb.Fatal(err)
	}
}

// next returns the next event, failing after within.
func next(tb testing.TB, ch <-chan station.DeviceEvent, within time.Duration) (station.DeviceEvent, time.Duration) {
	tb.Helper()
	start := time.Now()
	select {
	case ev, ok := <-ch:
		if !ok {
			tb.Fatal("discovery channel closed")
		}
		return ev, time.Since(start)
	case <-time.After(within):
		tb.Fatalf("no device event within %v", within)
	}
	return station.DeviceEvent{}, 0
}

func quiet(tb testing.TB, ch <-chan station.DeviceEvent, d time.Duration) {
	tb.Helper()
	select {
	case ev := <-ch:
		tb.Fatalf("unexpected event %+v", ev)
	case <-time.After(d):
	}
}

const devpathA = "/devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1.1/1-1.1:1.0/tty/ttyACM0"

// TestUSBWatchUevents drives the usb discovery over a fake sysfs tree and
// a uevent socket: the initial listing, an insertion, a re-enumeration
// blip that must stay silent, and a removal reported after the debounce
// and within the 1 s a slot has to show EMPTY.
func TestUSBWatchUevents(t *testing.T) {
	f := newFakeSys(t)
	sock := filepath.Join(t.TempDir(), "uevent.sock")
	b := newBroadcaster(t, sock)
	f.plug("1-1.1", "001051200001", "ttyACM0")

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// A poll far beyond the test proves the uevents do the work.
	ch, err := NewUSB(f.root, sock, Options{Poll: time.Hour}).Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ev, _ := next(t, ch, time.Second)
	wantA := station.Device{Probe: "1051200001", USB: "1-1.1", Board: "nRF9151 DK",
		Ports: []string{f.path("dev/ttyACM0")}, Console: f.path("dev/ttyACM0")}
	if !ev.Attached || !reflect.DeepEqual(ev.Device, wantA) {
		t.Fatalf("initial event %+v, want attached %+v", ev, wantA)
	}
	b.waitConns(t, 1)

	f.plug("1-1.2", "001051200002", "ttyACM1")
	b.send(t, "add", "/devices/usb1/1-1/1-1.2/1-1.2:1.0/tty/ttyACM1", "tty")
	ev, took := next(t, ch, time.Second)
	if !ev.Attached || ev.Device.Probe != "1051200002" || ev.Device.USB != "1-1.2" {
		t.Fatalf("after plug: %+v", ev)
	}
	if took > 300*time.Millisecond {
		t.Errorf("insertion took %v to report", took)
	}

	f.unplug("1-1.1", "ttyACM0")
	b.send(t, "remove", devpathA, "tty")
	time.Sleep(80 * time.Millisecond)
	f.plug("1-1.1", "001051200001", "ttyACM0")
	b.send(t, "add", devpathA, "tty")
	quiet(t, ch, 700*time.Millisecond)

	f.unplug("1-1.2", "ttyACM1")
	b.send(t, "remove", "/devices/usb1/1-1/1-1.2/1-1.2:1.0/tty/ttyACM1", "tty")
	ev, took = next(t, ch, 2*time.Second)
	if ev.Attached || ev.Device.Probe != "1051200002" {
		t.Fatalf("after unplug: %+v", ev)
	}
	if took < DefaultDebounce || took > time.Second {
		t.Errorf("removal reported after %v, want between the debounce %v and 1 s", took, DefaultDebounce)
	}

	cancel()
	for range ch {
	}
}

// TestUSBWatchPollsWithoutUevents: a tree without a uevent source is
// rescanned on the poll interval.
func TestUSBWatchPollsWithoutUevents(t *testing.T) {
	f := newFakeSys(t)
	ch, err := NewUSB(f.root, "", Options{Poll: 50 * time.Millisecond, Debounce: 100 * time.Millisecond}).Watch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	quiet(t, ch, 100*time.Millisecond)
	f.plug("2-3", "001051200007", "ttyACM4")
	if ev, _ := next(t, ch, time.Second); !ev.Attached || ev.Device.USB != "2-3" {
		t.Fatalf("polled plug: %+v", ev)
	}
	f.unplug("2-3", "ttyACM4")
	if ev, _ := next(t, ch, time.Second); ev.Attached || ev.Device.USB != "2-3" {
		t.Fatalf("polled unplug: %+v", ev)
	}
}

func TestUSBWatchBadSocket(t *testing.T) {
	f := newFakeSys(t)
	if _, err := NewUSB(f.root, filepath.Join(f.root, "nothing.sock"), Options{}).Watch(t.Context()); err == nil {
		t.Fatal("Watch with a missing uevent socket: no error")
	}
}

// TestToolWatch polls a probe listing: the flash tool's, which fails now
// and then (a failed listing is not every probe gone).
func TestToolWatch(t *testing.T) {
	var mu sync.Mutex
	list := []string{"001051200001"}
	fail := false
	lister := func(ctx context.Context) ([]string, error) {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return nil, errors.New("nrfjprog: JLinkARM DLL busy")
		}
		return append([]string(nil), list...), nil
	}
	ch, err := NewTool(lister, Options{Poll: 20 * time.Millisecond, Debounce: 60 * time.Millisecond}).Watch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if ev, _ := next(t, ch, time.Second); !ev.Attached || !reflect.DeepEqual(ev.Device, station.Device{Probe: "1051200001", Board: "nRF9151 DK"}) {
		t.Fatalf("initial: %+v", ev)
	}
	mu.Lock()
	fail = true
	mu.Unlock()
	quiet(t, ch, 200*time.Millisecond)
	mu.Lock()
	fail, list = false, []string{"1051200002"}
	mu.Unlock()
	want := map[string]bool{"+1051200002": true, "-1051200001": true}
	for range 2 {
		ev, _ := next(t, ch, time.Second)
		k := map[bool]string{true: "+", false: "-"}[ev.Attached] + ev.Device.Probe
		if !want[k] {
			t.Fatalf("unexpected %s", k)
		}
		delete(want, k)
	}
}

func TestFromConfig(t *testing.T) {
	list := func(context.Context) ([]string, error) { return nil, nil }
	if d, err := FromConfig(station.LineConfig{Discovery: "usb", SysfsRoot: "/x"}, nil, nil); err != nil || d.(*USB).sysRoot != "/x" {
		t.Errorf("usb: %#v, %v", d, err)
	}
	if d, err := FromConfig(station.LineConfig{Discovery: "tool"}, list, nil); err != nil || d.(*Tool).opt.Debounce != DefaultToolDebounce {
		t.Errorf("tool: %#v, %v", d, err)
	}
	if _, err := FromConfig(station.LineConfig{Discovery: "tool"}, nil, nil); err == nil {
		t.Error("tool without a listing: no error")
	}
	if _, err := FromConfig(station.LineConfig{Discovery: "bluetooth"}, list, nil); err == nil {
		t.Error("unknown discovery: no error")
	}
}

// BenchmarkUSBScan64 is one rescan of a 64-unit fixture: what every
// uevent burst costs the station.
func BenchmarkUSBScan64(b *testing.B) {
	f := newFakeSys(b)
	for i := range 64 {
		attrs := jlinkAttrs(fmt.Sprintf("0010512%05d", i+1))
		attrs["devnum"] = fmt.Sprintf("%d\n", i+2)
		f.acm(f.usbDevice(fmt.Sprintf("1-1.%d", i+1), attrs), 0, fmt.Sprintf("ttyACM%d", i))
	}
	u := NewUSB(f.root, "", Options{})
	for b.Loop() {
		devs, err := u.Scan(b.Context())
		if err != nil || len(devs) != 64 {
			b.Fatalf("%d devices, %v", len(devs), err)
		}
	}
}

// TestScanCacheSeesReplacement: the rescan cache must not outlive the
// device: a new unit at the same USB location, on the same tty name, is
// read afresh (the kernel gave it a new devnum).
func TestScanCacheSeesReplacement(t *testing.T) {
	f := newFakeSys(t)
	plug := func(serial, devnum string) {
		attrs := jlinkAttrs(serial)
		attrs["devnum"] = devnum + "\n"
		f.acm(f.usbDevice("1-1.1", attrs), 0, "ttyACM0")
	}
	u := NewUSB(f.root, "", Options{})
	probes := func() []string {
		devs, err := u.Scan(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, d := range devs {
			out = append(out, d.Probe)
		}
		return out
	}
	plug("001051200001", "5")
	for range 2 { // the second listing comes from the cache
		if got := probes(); !reflect.DeepEqual(got, []string{"1051200001"}) {
			t.Fatalf("probes %q", got)
		}
	}
	f.unplug("1-1.1", "ttyACM0")
	if got := probes(); len(got) != 0 {
		t.Fatalf("after unplug: %q", got)
	}
	plug("001051200002", "6")
	if got := probes(); !reflect.DeepEqual(got, []string{"1051200002"}) {
		t.Fatalf("after replacement: %q", got)
	}
	f.unplug("1-1.1", "ttyACM0")
	plug("001051200003", "7")
	if got := probes(); !reflect.DeepEqual(got, []string{"1051200003"}) {
		t.Fatalf("after a replacement the cache still held: %q", got)
	}
}
