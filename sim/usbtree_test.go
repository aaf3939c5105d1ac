package sim

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"log/slog"
)

// readHeads reads uevent headers ("add@/devices/…") from c until quiet.
func readHeads(t *testing.T, c net.Conn, quiet time.Duration) []string {
	t.Helper()
	var out []string
	buf := make([]byte, 4096)
	for {
		c.SetReadDeadline(time.Now().Add(quiet))
		n, err := c.Read(buf)
		if err != nil {
			return out
		}
		head, _, _ := strings.Cut(string(buf[:n]), "\x00")
		action, devpath, _ := strings.Cut(head, "@")
		out = append(out, action+" "+filepath.Base(devpath))
	}
}

// TestUSBTree: a plugged J-Link is in sysfs as Linux lays it out and
// announced device first; a re-enumeration is a remove and an add within
// 100 ms; Close leaves no device behind, and a new tree clears what a
// killed line left.
func TestUSBTree(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "sys/class/tty"), 0o755)
	os.MkdirAll(filepath.Join(root, "dev"), 0o755)
	os.Symlink("/dev/null", filepath.Join(root, "sys/class/tty/ttyACM7"))
	os.Symlink("/dev/null", filepath.Join(root, "dev/ttyACM7"))
	os.MkdirAll(filepath.Join(root, parkedDir, "1-1.5"), 0o755) // killed mid re-enumeration
	os.Symlink("/dev/null", filepath.Join(root, parkedDir, "1-1.5", "3"))
	tr, err := newUSBTree(root, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(root, parkedDir)); !os.IsNotExist(err) {
		t.Errorf("links parked by a killed line survived: %v", err)
	}
	defer tr.Close()
	if _, err := os.Lstat(filepath.Join(root, "dev/ttyACM7")); !os.IsNotExist(err) {
		t.Errorf("stale device node survived: %v", err)
	}
	c, err := net.Dial("unixpacket", filepath.Join(root, ueventSock))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		tr.mu.Lock()
		n := len(tr.subs)
		tr.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the broadcaster did not accept the listener")
		}
	}
	node, err := tr.plug("1-1.3", "001051200003", "/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	if node != filepath.Join(root, "dev/ttyACM0") {
		t.Errorf("device node %s", node)
	}
	if _, err := tr.plug("1-1.3", "001051200009", "/dev/null"); err == nil {
		t.Error("two devices at one location")
	}
	for rel, want := range map[string]string{
		"sys/class/tty/ttyACM0/device/bInterfaceNumber": "00\n",
		"sys/bus/usb/devices/1-1.3/serial":              "001051200003\n",
		"sys/bus/usb/devices/1-1.3/idVendor":            "1366\n",
		"sys/bus/usb/devices/1-1.3/devpath":             "1.3\n",
		"sys/bus/usb/devices/1-1.3/busnum":              "1\n",
		"sys/bus/usb/devices/1-1.3:1.0/tty/ttyACM0/dev": "166:0\n",
	} {
		p, err := filepath.EvalSymlinks(filepath.Join(root, filepath.Dir(rel)))
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		if b, err := os.ReadFile(filepath.Join(p, filepath.Base(rel))); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", rel, b, err, want)
		}
	}
	for link, want := range map[string]string{"sys/class/tty/ttyACM0/subsystem": "sys/class/tty", "sys/bus/usb/devices/1-1.3/subsystem": "sys/bus/usb"} {
		if p, err := filepath.EvalSymlinks(filepath.Join(root, link)); err != nil || p != filepath.Join(root, want) {
			t.Errorf("%s -> %s, %v; want %s", link, p, err, want)
		}
	}
	want := []string{"add 1-1.3", "add 1-1.3:1.0", "add ttyACM0", "bind 1-1.3:1.0", "bind 1-1.3"}
	if got := readHeads(t, c, 50*time.Millisecond); !slices.Equal(got, want) {
		t.Errorf("plug uevents %q, want %q", got, want)
	}

	devnumBefore, _ := os.ReadFile(filepath.Join(root, "sys/bus/usb/devices/1-1.3/devnum"))
	tr.reenumerate("1-1.3")
	if _, err := os.Lstat(filepath.Join(root, "sys/class/tty/ttyACM0")); !os.IsNotExist(err) {
		t.Errorf("re-enumerating device still in sysfs: %v", err)
	}
	got := readHeads(t, c, 150*time.Millisecond)
	if len(got) != 10 || got[4] != "remove 1-1.3" || got[5] != "add 1-1.3" {
		t.Errorf("re-enumeration uevents %q", got)
	}
	if _, err := os.Stat(filepath.Join(root, "sys/class/tty/ttyACM0/dev")); err != nil {
		t.Errorf("device not back after re-enumeration: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "sys/bus/usb/devices/1-1.3/devnum")); len(b) == 0 || string(b) == string(devnumBefore) {
		t.Errorf("devnum %q after re-enumeration, was %q: a new enumeration gets a new number", b, devnumBefore)
	}
	for rel, want := range map[string]string{"dev/ttyACM0": "/dev/null", "sys/bus/usb/devices/1-1.3/serial": "001051200003\n"} {
		if p, err := filepath.EvalSymlinks(filepath.Join(root, rel)); err != nil {
			t.Errorf("%s after re-enumeration: %v", rel, err)
		} else if want == "/dev/null" && p != want {
			t.Errorf("%s -> %s after re-enumeration, want %s", rel, p, want)
		} else if b, _ := os.ReadFile(p); want != "/dev/null" && string(b) != want {
			t.Errorf("%s = %q after re-enumeration, want %q", rel, b, want)
		}
	}
	if !tr.unplug("1-1.3") {
		t.Fatal("unplug after re-enumeration")
	}
	if entries, _ := os.ReadDir(filepath.Join(root, parkedDir)); len(entries) != 0 {
		t.Errorf("parked links left after unplug: %v", entries)
	}
	readHeads(t, c, 50*time.Millisecond)
	if node, err = tr.plug("1-1.3", "001051200003", "/dev/null"); err != nil {
		t.Fatal(err)
	}

	tr.Close()
	if entries, _ := os.ReadDir(filepath.Join(root, "sys/class/tty")); len(entries) != 0 {
		t.Errorf("ttys left after Close: %v", entries)
	}
	if _, err := os.Lstat(node); !os.IsNotExist(err) {
		t.Errorf("device node left after Close: %v", err)
	}
}
