package sim

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// usbTree is the virtual line's USB bus as Linux shows it, so that the
// station finds virtual units with the same code as real ones: a sysfs
// tree under DIR/sys (sys/class/tty, sys/bus/usb/devices, the device,
// interface and tty directories), device nodes DIR/dev/ttyACMn (links to
// the units' ptys), and the kernel's uevent broadcast, as kernel-format
// messages on the SOCK_SEQPACKET socket DIR/uevent.sock (one packet per
// message, to every connected listener, as netlink multicasts).
//
// Each virtual unit is an nRF9151 DK: its J-Link OB (SEGGER 1366:1069)
// at hub port N of bus 1's hub (location 1-1.N), its VCOM0 (interface 0)
// the unit's console.
type usbTree struct {
	root string
	log  *slog.Logger
	ln   *net.UnixListener

	mu      sync.Mutex
	subs    []net.Conn
	seq     uint64
	devices map[string]*usbDevice // by location
	ttys    map[int]string        // ttyACM number → location
	closed  bool
	wg      sync.WaitGroup
}

// usbDevice is one J-Link OB on the virtual bus.
type usbDevice struct {
	loc    string
	serial string
	pty    string // the unit's pty slave
	tty    int    // ttyACM number
	devnum int
	gen    int  // bumped by every removal: a pending re-enumeration checks it
	parked bool // its links are parked aside during a re-enumeration
}

// Fixed facts of the virtual bus.
const (
	usbHub     = "1-1"
	usbBusDir  = "sys/devices/pci0000:00/0000:00:14.0/usb1/" + usbHub
	acmMajor   = 166
	jlinkVID   = "1366"
	jlinkPID   = "1069"
	ueventSock = "uevent.sock"
	// reenumTime is how long a J-Link OB is off the bus when it
	// re-enumerates during a reset of its target.
	reenumTime = 60 * time.Millisecond
	// subscriberWrite bounds a write to a listener that stopped reading.
	subscriberWrite = 200 * time.Millisecond
)

// usbLocation is the USB location of the unit at hub port index.
func usbLocation(index int) string { return fmt.Sprintf("%s.%d", usbHub, index) }

// newUSBTree creates the tree's skeleton under root and starts the uevent
// broadcaster.
func newUSBTree(root string, log *slog.Logger) (*usbTree, error) {
	// A line killed before it could clean up left its devices behind.
	stale, _ := filepath.Glob(filepath.Join(root, "dev", "ttyACM*"))
	for _, p := range append(stale, filepath.Join(root, "sys"), filepath.Join(root, parkedDir)) {
		if err := os.RemoveAll(p); err != nil {
			return nil, fmt.Errorf("sim usb tree: %w", err)
		}
	}
	for _, d := range []string{"sys/class/tty", "sys/bus/usb/devices", usbBusDir, "dev"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return nil, fmt.Errorf("sim usb tree: %w", err)
		}
	}
	sock := filepath.Join(root, ueventSock)
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("sim uevent socket: %w", err)
	}
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: sock, Net: "unixpacket"})
	if err != nil {
		return nil, fmt.Errorf("sim uevent socket: %w", err)
	}
	t := &usbTree{root: root, log: log, ln: ln, devices: map[string]*usbDevice{}, ttys: map[int]string{}}
	t.wg.Add(1)
	go t.accept()
	return t, nil
}

func (t *usbTree) accept() {
	defer t.wg.Done()
	for {
		c, err := t.ln.Accept()
		if err != nil {
			return
		}
		t.mu.Lock()
		if t.closed {
			c.Close()
		} else {
			t.subs = append(t.subs, c)
		}
		t.mu.Unlock()
	}
}

// Close unplugs every device (the config's sysfs_root must not show
// units of a line that is gone) and stops the broadcaster.
func (t *usbTree) Close() {
	t.mu.Lock()
	for loc, d := range t.devices {
		t.removeLocked(d)
		delete(t.devices, loc)
	}
	t.closed = true
	for _, c := range t.subs {
		c.Close()
	}
	t.subs = nil
	t.mu.Unlock()
	t.ln.Close()
	t.wg.Wait()
}

// plug adds the J-Link OB with serial (USB form) at loc, its VCOM0 a link
// to pty, and announces it. It returns the tty's device node.
func (t *usbTree) plug(loc, serial, pty string) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if d := t.devices[loc]; d != nil {
		return "", fmt.Errorf("usb %s: a device is plugged in there already (probe %s)", loc, d.serial)
	}
	d := &usbDevice{loc: loc, serial: serial, pty: pty, tty: t.freeTTY(), devnum: t.nextDevnum()}
	if err := t.addLocked(d); err != nil {
		t.removeFiles(d)
		return "", err
	}
	return t.devNode(d), nil
}

// unplug removes the device at loc and announces it; false if none.
func (t *usbTree) unplug(loc string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := t.devices[loc]
	if d == nil {
		return false
	}
	t.removeLocked(d)
	delete(t.devices, loc)
	delete(t.ttys, d.tty)
	return true
}

// reenumerate takes the device at loc off the bus and brings it back
// after reenumTime, as a J-Link OB does during a reset of its target; the
// unit's pty is not touched (the target's UART stays as it was). A device
// unplugged in between stays away.
func (t *usbTree) reenumerate(loc string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := t.devices[loc]
	if d == nil || t.closed {
		return
	}
	t.unpublishLocked(d, true)
	gen := d.gen
	time.AfterFunc(reenumTime, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.devices[loc] != d || d.gen != gen || t.closed {
			return
		}
		d.devnum = t.nextDevnum()
		err := t.write(d.dir()+"/devnum", strconv.Itoa(d.devnum)+"\n")
		if err == nil {
			err = t.publishLocked(d)
		}
		if err != nil {
			t.log.Warn("usb re-enumeration failed", "usb", loc, "err", err)
		}
	})
}

func (t *usbTree) freeTTY() int {
	n := 0
	for t.ttys[n] != "" {
		n++
	}
	return n
}

func (t *usbTree) nextDevnum() int {
	t.seq++ // shared with uevent SEQNUM: both only grow
	return int(t.seq%126) + 2
}

// Paths of one device, relative to the root.
func (d *usbDevice) dir() string     { return usbBusDir + "/" + d.loc }
func (d *usbDevice) iface() string   { return d.dir() + "/" + d.loc + ":1.0" }
func (d *usbDevice) ttyName() string { return "ttyACM" + strconv.Itoa(d.tty) }
func (d *usbDevice) ttyDir() string  { return d.iface() + "/tty/" + d.ttyName() }
func (t *usbTree) devNode(d *usbDevice) string {
	return filepath.Join(t.root, "dev", d.ttyName())
}

// addLocked writes the device as the kernel does, attributes before the
// class link (a scan never sees half a device), then sends the uevents:
// the device, its interface, its tty.
func (t *usbTree) addLocked(d *usbDevice) error {
	_, ports, _ := strings.Cut(d.loc, "-")
	files := []struct{ rel, content string }{
		{d.dir() + "/idVendor", jlinkVID}, {d.dir() + "/idProduct", jlinkPID},
		{d.dir() + "/serial", d.serial}, {d.dir() + "/manufacturer", "SEGGER"},
		{d.dir() + "/product", "J-Link"}, {d.dir() + "/busnum", "1"},
		{d.dir() + "/devnum", strconv.Itoa(d.devnum)}, {d.dir() + "/devpath", ports},
		{d.iface() + "/bInterfaceNumber", "00"}, {d.iface() + "/bInterfaceClass", "02"},
		{d.ttyDir() + "/dev", fmt.Sprintf("%d:%d", acmMajor, d.tty)},
	}
	for _, f := range files {
		if err := t.write(f.rel, f.content+"\n"); err != nil {
			return err
		}
	}
	links := []struct{ rel, target string }{
		{d.dir() + "/subsystem", "sys/bus/usb"},
		{d.iface() + "/subsystem", "sys/bus/usb"},
		{d.ttyDir() + "/device", d.iface()},
		{d.ttyDir() + "/subsystem", "sys/class/tty"},
	}
	for _, l := range links {
		if err := t.link(l.rel, l.target); err != nil {
			return err
		}
	}
	return t.publishLocked(d)
}

// publishLocked makes the device's files reachable — the bus and class
// links the station walks, its device node — and announces it.
func (t *usbTree) publishLocked(d *usbDevice) error {
	if err := t.placeLinks(d); err != nil {
		return err
	}
	t.devices[d.loc] = d
	t.ttys[d.tty] = d.loc
	product := fmt.Sprintf("PRODUCT=%s/%s/100", strings.TrimLeft(jlinkVID, "0"), strings.TrimLeft(jlinkPID, "0"))
	t.announce("add", d.dir(), "usb", "DEVTYPE=usb_device", product, "TYPE=239/2/1",
		"BUSNUM=001", fmt.Sprintf("DEVNUM=%03d", d.devnum), fmt.Sprintf("DEVNAME=bus/usb/001/%03d", d.devnum), "MAJOR=189")
	t.announce("add", d.iface(), "usb", "DEVTYPE=usb_interface", product, "INTERFACE=2/2/1")
	t.announce("add", d.ttyDir(), "tty", "DEVNAME="+d.ttyName(), fmt.Sprintf("MAJOR=%d", acmMajor), fmt.Sprintf("MINOR=%d", d.tty))
	t.announce("bind", d.iface(), "usb", "DEVTYPE=usb_interface", "DRIVER=cdc_acm", product, "INTERFACE=2/2/1")
	t.announce("bind", d.dir(), "usb", "DEVTYPE=usb_device", "DRIVER=usb", product)
	return nil
}

// removeLocked takes the device off the tree and announces it.
func (t *usbTree) removeLocked(d *usbDevice) {
	t.unpublishLocked(d, false)
	t.removeDir(d)
}

// removeDir removes the device's directory and any links parked for it.
func (t *usbTree) removeDir(d *usbDevice) {
	d.parked = false
	for _, dir := range []string{filepath.Join(t.root, d.dir()), t.parkDir(d)} {
		if err := os.RemoveAll(dir); err != nil {
			t.log.Warn("usb tree: remove device", "usb", d.loc, "err", err)
		}
	}
}

// unpublishLocked takes the device's links away, the class link first —
// parked (renamed aside) when it comes back soon (park), removed when not —
// and sends the uevents in the kernel's order: tty, interface, device. Its
// own directory stays until removeLocked: nothing reaches it without the
// links, and a re-enumeration brings the same attributes back. Renaming
// matters on a disk-backed --dir: every created file or symlink is an inode
// to allocate, and re-creating a unit's tree at every reset made the sim
// the busiest process of a 64-slot line.
func (t *usbTree) unpublishLocked(d *usbDevice, park bool) {
	d.gen++
	if park {
		t.parkLinks(d)
	} else {
		t.removeLinks(d)
	}
	t.announce("remove", d.ttyDir(), "tty", "DEVNAME="+d.ttyName(), fmt.Sprintf("MAJOR=%d", acmMajor), fmt.Sprintf("MINOR=%d", d.tty))
	t.announce("unbind", d.iface(), "usb", "DEVTYPE=usb_interface")
	t.announce("remove", d.iface(), "usb", "DEVTYPE=usb_interface")
	t.announce("unbind", d.dir(), "usb", "DEVTYPE=usb_device")
	t.announce("remove", d.dir(), "usb", "DEVTYPE=usb_device", fmt.Sprintf("DEVNAME=bus/usb/001/%03d", d.devnum))
}

// deviceLink is one of the links that make a device reachable.
type deviceLink struct{ rel, target string }

// links are the device's bus and class links and its device node; target
// is relative to the tree's root, except the node's (the unit's pty).
func (d *usbDevice) links() []deviceLink {
	return []deviceLink{
		{"sys/bus/usb/devices/" + d.loc, d.dir()},
		{"sys/bus/usb/devices/" + d.loc + ":1.0", d.iface()},
		{"sys/class/tty/" + d.ttyName(), d.ttyDir()},
		{"dev/" + d.ttyName(), ""},
	}
}

// parkedDir (in the tree's root) holds re-enumerating devices' links,
// outside sys/ and dev/.
const parkedDir = ".usb-parked"

func (t *usbTree) parkDir(d *usbDevice) string {
	return filepath.Join(t.root, parkedDir, d.loc)
}

// placeLinks makes the device reachable: its parked links moved back, or
// new ones.
func (t *usbTree) placeLinks(d *usbDevice) error {
	if d.parked {
		d.parked = false
		moved := true
		for i, l := range d.links() {
			if err := os.Rename(filepath.Join(t.parkDir(d), strconv.Itoa(i)), filepath.Join(t.root, l.rel)); err != nil {
				moved = false
			}
		}
		if moved {
			return nil
		}
	}
	for _, l := range d.links() {
		var err error
		if l.target == "" {
			err = replaceLink(d.pty, t.devNode(d))
		} else {
			err = t.link(l.rel, l.target)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// parkLinks renames the device's links aside (no inode is freed or made).
func (t *usbTree) parkLinks(d *usbDevice) {
	if err := os.MkdirAll(t.parkDir(d), 0o755); err != nil {
		t.log.Warn("usb tree: park", "usb", d.loc, "err", err)
		t.removeLinks(d)
		return
	}
	for i, l := range d.links() {
		err := os.Rename(filepath.Join(t.root, l.rel), filepath.Join(t.parkDir(d), strconv.Itoa(i)))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.log.Warn("usb tree: park", "path", l.rel, "err", err)
		}
	}
	d.parked = true
}

func (t *usbTree) removeLinks(d *usbDevice) {
	for _, l := range d.links() {
		if err := os.Remove(filepath.Join(t.root, l.rel)); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.log.Warn("usb tree: remove", "path", l.rel, "err", err)
		}
	}
}

// removeFiles undoes a plug that failed half-way.
func (t *usbTree) removeFiles(d *usbDevice) {
	t.removeLinks(d)
	t.removeDir(d)
}

func (t *usbTree) write(rel, content string) error {
	p := filepath.Join(t.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("sim usb tree: %w", err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		return fmt.Errorf("sim usb tree: %w", err)
	}
	return nil
}

// link makes rel a relative symlink to target, as sysfs does.
func (t *usbTree) link(rel, target string) error {
	p := filepath.Join(t.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("sim usb tree: %w", err)
	}
	r, err := filepath.Rel(filepath.Dir(p), filepath.Join(t.root, target))
	if err != nil {
		return fmt.Errorf("sim usb tree: %w", err)
	}
	return replaceLink(r, p)
}

func replaceLink(target, link string) error {
	if err := os.Remove(link); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("sim usb tree: %w", err)
	}
	if err := os.Symlink(target, link); err != nil {
		return fmt.Errorf("sim usb tree: %w", err)
	}
	return nil
}

// announce sends one kernel-format uevent for the device directory rel
// to every listener; a listener that does not take it in time is dropped
// (the kernel drops messages for a full socket too).
func (t *usbTree) announce(action, rel, subsystem string, env ...string) {
	t.seq++
	devpath := strings.TrimPrefix(rel, "sys")
	fields := append([]string{action + "@" + devpath, "ACTION=" + action, "DEVPATH=" + devpath, "SUBSYSTEM=" + subsystem}, env...)
	fields = append(fields, "SEQNUM="+strconv.FormatUint(t.seq, 10))
	msg := []byte(strings.Join(fields, "\x00") + "\x00")
	live := t.subs[:0]
	for _, c := range t.subs {
		c.SetWriteDeadline(time.Now().Add(subscriberWrite))
		if _, err := c.Write(msg); err != nil {
			t.log.Debug("uevent listener dropped", "err", err)
			c.Close()
			continue
		}
		live = append(live, c)
	}
	t.subs = live
}
