package discover

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Uevent is one kernel device event as the kernel broadcasts it on
// NETLINK_KOBJECT_UEVENT: "ACTION@DEVPATH" then NUL-separated KEY=VALUE
// pairs. Only its subsystem matters to discovery; the event never carries
// a device's identity for us (sysfs is read again instead).
type Uevent struct {
	Action    string // add, remove, change, move, bind, unbind
	DevPath   string // below /sys, e.g. /devices/…/1-4.3.2:1.0/tty/ttyACM0
	Subsystem string
	Env       map[string]string
}

// ParseUevent parses a kernel uevent message. Messages of udev's monitor
// (which start "libudev") and anything without the header and an ACTION
// and DEVPATH that agree with it are errors.
func ParseUevent(b []byte) (Uevent, error) {
	fields := bytes.Split(bytes.TrimRight(b, "\x00"), []byte{0})
	head := string(fields[0])
	action, devpath, ok := strings.Cut(head, "@")
	if !ok || action == "" || !strings.HasPrefix(devpath, "/") {
		return Uevent{}, fmt.Errorf("uevent: bad header %q", clip(head))
	}
	ev := Uevent{Action: action, DevPath: devpath, Env: make(map[string]string, len(fields)-1)}
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(string(f), "=")
		if !ok || k == "" {
			return Uevent{}, fmt.Errorf("uevent: bad field %q", clip(string(f)))
		}
		ev.Env[k] = v
	}
	if ev.Env["ACTION"] != action || ev.Env["DEVPATH"] != devpath {
		return Uevent{}, fmt.Errorf("uevent: header %q disagrees with ACTION/DEVPATH", clip(head))
	}
	ev.Subsystem = ev.Env["SUBSYSTEM"]
	return ev, nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// Message renders the event in the kernel's wire format (the virtual line
// sends these). Env must hold ACTION, DEVPATH and SUBSYSTEM; keys are
// written in the kernel's order for those three, the rest sorted.
func (ev Uevent) Message() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s@%s\x00ACTION=%s\x00DEVPATH=%s\x00SUBSYSTEM=%s\x00", ev.Action, ev.DevPath, ev.Action, ev.DevPath, ev.Subsystem)
	keys := make([]string, 0, len(ev.Env))
	for k := range ev.Env {
		switch k {
		case "ACTION", "DEVPATH", "SUBSYSTEM":
		default:
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\x00", k, ev.Env[k])
	}
	return b.Bytes()
}

// wakes reports whether the event can change the list of USB serial
// devices: anything on a tty or USB device, interface or usb-serial port.
func (ev Uevent) wakes() bool {
	switch ev.Subsystem {
	case "tty", "usb", "usb-serial":
		return true
	}
	return false
}

// ueventConn reads one uevent message per Read; Close unblocks a Read.
type ueventConn interface {
	io.ReadCloser
}

// openNetlink subscribes to the kernel's uevent broadcast (multicast group
// 1, the kernel's own events; udev's re-broadcast on group 2 is not needed
// and absent in containers). The socket is non-blocking so that reads park
// in the runtime's poller and Close interrupts them.
func openNetlink() (ueventConn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_KOBJECT_UEVENT)
	if err != nil {
		return nil, fmt.Errorf("open uevent netlink socket: %w", err)
	}
	// A burst of events (a hub with 16 units powering up) must not
	// overflow the default buffer; an overflow costs only a rescan.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind uevent netlink socket: %w", err)
	}
	return os.NewFile(uintptr(fd), "uevent-netlink"), nil
}

// openSocket connects to a uevent broadcaster on a unix SOCK_SEQPACKET
// socket (the virtual line's stand-in for the kernel): every packet is one
// message in the kernel's format.
func openSocket(path string) (ueventConn, error) {
	c, err := net.Dial("unixpacket", path)
	if err != nil {
		return nil, fmt.Errorf("connect to uevent socket: %w", err)
	}
	return c, nil
}

// overflowed reports a netlink receive-buffer overflow: events were lost,
// which calls for a rescan, not for giving up.
func overflowed(err error) bool { return errors.Is(err, unix.ENOBUFS) }
