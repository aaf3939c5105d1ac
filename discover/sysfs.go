package discover

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// readSysfs reads what the sysfs tree under root tells about the tty name
// (e.g. "ttyACM0"): /sys/class/tty/<name>/device resolves to the USB
// interface (cdc_acm) or to a usb-serial port below it (interface and
// bInterfaceNumber one level up); the USB device above holds idVendor, idProduct and serial, and its directory name is
// the physical location ("1-4.3.2"). A tty that is not on USB (a platform
// UART, a virtual console) comes back with IsUSB false and no error.
// Path is left empty.
func readSysfs(root, name string) (PortInfo, error) {
	return readSysfsCached(root, name, nil)
}

// portCache keeps what sysfs told about each USB tty between rescans: a
// rescan on every uevent burst must stay cheap on a 64-unit fixture. An
// entry is reused while the tty's class link names the same directory and
// its USB device's devnum is the same (the kernel gives every enumeration
// a new one); a device without devnum is never cached. The caller holds
// mu for a whole listing; entries of ttys the listing did not see go.
type portCache struct {
	mu   sync.Mutex
	last map[string]cachedPort
	next map[string]cachedPort
}

type cachedPort struct {
	class, usbDev, devnum string
	info                  PortInfo
}

func (c *portCache) begin() { c.next = map[string]cachedPort{} }
func (c *portCache) end()   { c.last, c.next = c.next, nil }

// readSysfsCached is readSysfs, answered from c where it still holds.
func readSysfsCached(root, name string, c *portCache) (PortInfo, error) {
	info := PortInfo{Interface: -1}
	if name == "" || name != filepath.Base(name) || name == "." || name == ".." {
		return info, fmt.Errorf("read sysfs: bad tty name %q", name)
	}
	class, err := resolveLink(filepath.Join(root, "sys", "class", "tty", name))
	if errors.Is(err, fs.ErrNotExist) {
		return info, nil
	}
	if err != nil {
		return info, fmt.Errorf("read sysfs: %w", err)
	}
	if e, ok := c.lookup(name, class); ok {
		return e, nil
	}
	dev, err := resolveLink(filepath.Join(class, "device"))
	if errors.Is(err, fs.ErrNotExist) {
		return info, nil
	}
	if err != nil {
		return info, fmt.Errorf("read sysfs: %w", err)
	}
	usbDev, iface, err := findUSBDevice(dev)
	if err != nil || usbDev == "" {
		return info, err
	}
	// devnum before the rest: a device replaced meanwhile leaves an
	// entry that the next rescan finds stale.
	devnum, _ := readAttr(usbDev, "devnum")
	info, err = readUSBDevice(usbDev, iface)
	if err == nil && c != nil && devnum != "" {
		c.next[name] = cachedPort{class: class, usbDev: usbDev, devnum: devnum, info: info}
	}
	return info, err
}

// lookup returns the cached port of name if its class directory is still
// class and its device's devnum unchanged (c may be nil).
func (c *portCache) lookup(name, class string) (PortInfo, bool) {
	if c == nil {
		return PortInfo{}, false
	}
	e, ok := c.last[name]
	if !ok || e.class != class {
		return PortInfo{}, false
	}
	if n, err := readAttr(e.usbDev, "devnum"); err != nil || n != e.devnum {
		return PortInfo{}, false
	}
	c.next[name] = e
	return e.info, true
}

// findUSBDevice finds the USB device and interface directories of a tty
// device directory by its subsystem, as the serial enumerator does: a
// cdc_acm tty's device is the USB interface ("usb"), the USB device its
// parent; a usb-serial tty's device (FTDI, CP210x, CH340) is a port below
// the interface. Any other subsystem is not USB: usbDev is "".
func findUSBDevice(dev string) (usbDev, iface string, err error) {
	sub, err := resolveLink(filepath.Join(dev, "subsystem"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("read sysfs: %w", err)
	}
	switch filepath.Base(sub) {
	case "usb":
		iface = dev
	case "usb-serial":
		iface = filepath.Dir(dev)
	default:
		return "", "", nil
	}
	if _, err := os.Stat(filepath.Join(iface, "idVendor")); err == nil {
		return iface, "", nil // bound to the device itself, not an interface
	}
	return filepath.Dir(iface), iface, nil
}

// resolveLink resolves the sysfs link at p to the directory it names. Its
// links are relative and point at real directories, so one readlink and a
// lexical join do (p's own directory must be a real one); anything else
// takes the full walk. Every rescan resolves three links per tty: the
// walk's lstat of every path component made a 64-unit rescan cost 15 ms.
func resolveLink(p string) (string, error) {
	t, err := os.Readlink(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("resolve %s: %w", p, err)
	}
	if err != nil || filepath.IsAbs(t) {
		r, err := filepath.EvalSymlinks(p)
		if err != nil {
			return "", fmt.Errorf("resolve %s: %w", p, err)
		}
		return r, nil
	}
	return filepath.Join(filepath.Dir(p), t), nil
}

// readUSBDevice reads the identity of the USB device at dir and the
// interface number of its interface directory iface.
func readUSBDevice(dir, iface string) (PortInfo, error) {
	info := PortInfo{IsUSB: true, Interface: -1, USB: filepath.Base(dir)}
	for _, a := range []struct {
		file string
		to   *string
	}{{"idVendor", &info.VID}, {"idProduct", &info.PID}, {"serial", &info.Serial}} {
		v, err := readAttr(dir, a.file)
		if err != nil {
			return PortInfo{Interface: -1}, err
		}
		*a.to = v
	}
	info.VID, info.PID = strings.ToLower(info.VID), strings.ToLower(info.PID)
	if iface == "" {
		return info, nil
	}
	v, err := readAttr(iface, "bInterfaceNumber")
	if err != nil {
		return PortInfo{Interface: -1}, err
	}
	info.Interface = parseHexByte(v)
	if info.Interface < 0 {
		info.Interface = interfaceFromDir(filepath.Base(iface))
	}
	return info, nil
}

// readAttr reads a one-line sysfs attribute; a missing one reads as "".
func readAttr(dir, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read sysfs: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// interfaceFromDir takes the interface number from a USB interface
// directory name, "<location>:<config>.<interface>" in decimal
// ("1-4.3.2:1.2" → 2); -1 if the name is not one.
func interfaceFromDir(name string) int {
	_, ci, ok := strings.Cut(name, ":")
	if !ok {
		return -1
	}
	_, num, ok := strings.Cut(ci, ".")
	if !ok {
		return -1
	}
	n, err := strconv.ParseUint(num, 10, 8)
	if err != nil {
		return -1
	}
	return int(n)
}

// byIDInterfaces reads the udev links in <root>/dev/serial/by-id
// (usb-SEGGER_J-Link_001050238928-if02 -> ../../ttyACM1) and returns the
// interface number each names, by tty name. A missing folder is no error.
func byIDInterfaces(root string) (map[string]int, error) {
	dir := filepath.Join(root, "dev", "serial", "by-id")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]int{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	out := map[string]int{}
	for _, e := range entries {
		n := byIDInterface(e.Name())
		if n < 0 {
			continue
		}
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		out[filepath.Base(target)] = n
	}
	return out, nil
}

// byIDInterface parses the "-ifNN" (hex, as udev's ID_USB_INTERFACE_NUM)
// at the end of a by-id link name, optionally followed by "-portN"
// (usb-serial drivers); -1 if there is none.
func byIDInterface(name string) int {
	i := strings.LastIndex(name, "-if")
	if i < 0 || len(name) < i+5 {
		return -1
	}
	rest := name[i+5:]
	if rest != "" {
		port, ok := strings.CutPrefix(rest, "-port")
		if !ok || port == "" || !allDigits(port) {
			return -1
		}
	}
	return parseHexByte(name[i+3 : i+5])
}

// parseHexByte parses a sysfs hex attribute such as bInterfaceNumber
// ("00", "0a"); -1 if it is not one.
func parseHexByte(s string) int {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 16, 8)
	if err != nil {
		return -1
	}
	return int(n)
}
