package discover

import (
	"bytes"
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"nrfline/station"
)

// ttyAdd is the message Linux 6.x sends when a J-Link OB's VCOM0 appears.
const ttyAdd = "add@/devices/pci0000:00/0000:00:14.0/usb1/1-4/1-4.3/1-4.3.2/1-4.3.2:1.0/tty/ttyACM0\x00" +
	"ACTION=add\x00DEVPATH=/devices/pci0000:00/0000:00:14.0/usb1/1-4/1-4.3/1-4.3.2/1-4.3.2:1.0/tty/ttyACM0\x00" +
	"SUBSYSTEM=tty\x00MAJOR=166\x00MINOR=0\x00DEVNAME=ttyACM0\x00SEQNUM=4242\x00"

func TestParseUevent(t *testing.T) {
	tests := []struct {
		name, msg string
		want      Uevent
		wakes     bool
		err       string
	}{
		{name: "tty add", msg: ttyAdd, wakes: true, want: Uevent{
			Action: "add", Subsystem: "tty",
			DevPath: "/devices/pci0000:00/0000:00:14.0/usb1/1-4/1-4.3/1-4.3.2/1-4.3.2:1.0/tty/ttyACM0",
			Env: map[string]string{"ACTION": "add", "DEVPATH": "/devices/pci0000:00/0000:00:14.0/usb1/1-4/1-4.3/1-4.3.2/1-4.3.2:1.0/tty/ttyACM0",
				"SUBSYSTEM": "tty", "MAJOR": "166", "MINOR": "0", "DEVNAME": "ttyACM0", "SEQNUM": "4242"},
		}},
		{name: "usb device remove", msg: "remove@/devices/usb1/1-4\x00ACTION=remove\x00DEVPATH=/devices/usb1/1-4\x00SUBSYSTEM=usb\x00DEVTYPE=usb_device\x00", wakes: true,
			want: Uevent{Action: "remove", DevPath: "/devices/usb1/1-4", Subsystem: "usb",
				Env: map[string]string{"ACTION": "remove", "DEVPATH": "/devices/usb1/1-4", "SUBSYSTEM": "usb", "DEVTYPE": "usb_device"}}},
		{name: "a network card does not wake", msg: "change@/devices/virtual/net/lo\x00ACTION=change\x00DEVPATH=/devices/virtual/net/lo\x00SUBSYSTEM=net\x00",
			want: Uevent{Action: "change", DevPath: "/devices/virtual/net/lo", Subsystem: "net",
				Env: map[string]string{"ACTION": "change", "DEVPATH": "/devices/virtual/net/lo", "SUBSYSTEM": "net"}}},
		{name: "udev monitor message", msg: "libudev\x00\xfe\xed\xca\xfe", err: "bad header"},
		{name: "no header", msg: "ACTION=add\x00DEVPATH=/x\x00", err: "bad header"},
		{name: "empty", msg: "", err: "bad header"},
		{name: "field without =", msg: "add@/x\x00ACTION=add\x00DEVPATH=/x\x00junk\x00", err: "bad field"},
		{name: "header and body disagree", msg: "add@/x\x00ACTION=remove\x00DEVPATH=/x\x00", err: "disagrees"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseUevent([]byte(tt.msg))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
			if got.wakes() != tt.wakes {
				t.Errorf("wakes = %v", got.wakes())
			}
		})
	}
}

func TestUeventMessageRoundTrip(t *testing.T) {
	ev, err := ParseUevent([]byte(ttyAdd))
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseUevent(ev.Message())
	if err != nil || !reflect.DeepEqual(back, ev) {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	if !bytes.HasPrefix(ev.Message(), []byte("add@/devices/")) {
		t.Errorf("message %q", ev.Message())
	}
}

func FuzzParseUevent(f *testing.F) {
	f.Add([]byte(ttyAdd))
	f.Add([]byte("remove@/devices/usb1/1-4\x00ACTION=remove\x00DEVPATH=/devices/usb1/1-4\x00SUBSYSTEM=usb\x00"))
	f.Add([]byte("libudev\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := ParseUevent(b)
		if err != nil {
			return
		}
		if ev.Action == "" || !strings.HasPrefix(ev.DevPath, "/") || ev.Env["ACTION"] != ev.Action {
			t.Fatalf("accepted a malformed event %q as %+v", b, ev)
		}
		if _, err := ParseUevent(ev.Message()); err != nil && !strings.ContainsRune(ev.Subsystem+ev.Action+ev.DevPath, 0) {
			t.Fatalf("re-rendered event does not parse: %v", err)
		}
	})
}

// TestNetlinkReceivesKernelUevent subscribes to the kernel's broadcast and
// makes the kernel send a synthetic "change" event for tty0 (writing to
// its uevent file, as udevadm trigger does). It needs root and a sysfs
// that allows the write; a sandbox that forbids either skips with why.
func TestNetlinkReceivesKernelUevent(t *testing.T) {
	conn, err := openNetlink()
	if err != nil {
		t.Skipf("netlink uevent socket unavailable here: %v", err)
	}
	defer conn.Close()
	const trigger = "/sys/class/tty/tty0/uevent"
	if err := os.WriteFile(trigger, []byte("change"), 0); err != nil {
		t.Skipf("cannot trigger a kernel uevent (%s): %v", trigger, err)
	}
	f := conn.(*os.File)
	if err := f.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for {
		n, err := f.Read(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Skip("the kernel accepted the trigger but broadcast nothing to this network namespace (uevents are not delivered into containers)")
		}
		if err != nil && !errors.Is(err, unix.ENOBUFS) {
			t.Fatalf("read netlink: %v", err)
		}
		ev, err := ParseUevent(buf[:n])
		if err != nil {
			t.Fatalf("kernel message does not parse: %v (%q)", err, buf[:n])
		}
		if ev.Action == "change" && strings.HasSuffix(ev.DevPath, "/tty0") {
			if !ev.wakes() {
				t.Errorf("a tty event must wake a rescan: %+v", ev)
			}
			return
		}
	}
}

// TestNetlinkWakesRescan: with the kernel's uevents as the source, a real
// kernel event about a tty makes the watcher rescan at once (the poll is
// an hour away). Skipped where the kernel delivers no uevents here.
func TestNetlinkWakesRescan(t *testing.T) {
	conn, err := openNetlink()
	if err != nil {
		t.Skipf("netlink uevent socket unavailable here: %v", err)
	}
	witness, err := openNetlink()
	if err != nil {
		conn.Close()
		t.Skipf("netlink uevent socket unavailable here: %v", err)
	}
	defer witness.Close()
	scans := make(chan struct{}, 16)
	scan := func(context.Context) ([]station.Device, error) {
		scans <- struct{}{}
		return nil, nil
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch, err := watch(ctx, scan, conn, Options{Poll: time.Hour}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	<-scans // the initial listing
	if err := os.WriteFile("/sys/class/tty/tty0/uevent", []byte("change"), 0); err != nil {
		t.Skipf("cannot trigger a kernel uevent: %v", err)
	}
	select {
	case <-scans:
	case <-time.After(2 * time.Second):
		w := witness.(*os.File)
		w.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		if _, err := w.Read(make([]byte, 64<<10)); err != nil {
			t.Skipf("the kernel delivered no uevent to this namespace: %v", err)
		}
		t.Fatal("a kernel tty uevent arrived but the watcher did not rescan")
	}
	cancel()
	for range ch {
	}
}
