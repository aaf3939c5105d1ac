//go:build unix

package at

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"nrfline/station"
)

// portLock makes a unit's port the station's alone while a session runs:
// two stations (or two slots) on one tty each flashed the unit and stole
// each other's AT replies. The serial driver sets TIOCEXCL, but root (and
// CAP_SYS_ADMIN) opens through it, so the port also gets an exclusive
// advisory lock (flock) that every station takes, whatever name (symlink)
// it uses for the port. The kernel drops both when the descriptor closes,
// however the station ends.
type portLock struct{ f *os.File }

func lockPort(path string) (*portLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, syscall.EBUSY) { // TIOCEXCL of another (unprivileged) holder
			return nil, busy(path, err)
		}
		return nil, openError(path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			if pid := flockHolder(path); pid != "" {
				return nil, station.Errorf(station.PortUnavailable, err, "port %s is held by pid %s (%s): only one station (and one slot) may use a unit's port", path, pid, comm(pid))
			}
			return nil, busy(path, err)
		}
		return nil, station.Errorf(station.PortUnavailable, err, "lock %s", path)
	}
	return &portLock{f: f}, nil
}

func (l *portLock) release() error {
	if l == nil {
		return nil
	}
	return l.f.Close()
}

// busy is PORT_UNAVAILABLE naming who holds the port.
func busy(path string, err error) error {
	return station.Errorf(station.PortUnavailable, err, "port %s is held by %s: only one station (and one slot) may use a unit's port", path, holders(path))
}

// holders names the processes that have the port open, from /proc/*/fd:
// "pid 4242 (station), pid 4250 (minicom)", or "another process" where
// /proc cannot tell (not Linux, or no permission).
func holders(path string) string {
	var want unix.Stat_t
	if unix.Stat(path, &want) != nil {
		return "another process"
	}
	var found []string
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		fds, _ := os.ReadDir(filepath.Join("/proc", p.Name(), "fd"))
		for _, fd := range fds {
			var st unix.Stat_t
			if unix.Stat(filepath.Join("/proc", p.Name(), "fd", fd.Name()), &st) == nil && st.Rdev == want.Rdev && st.Ino == want.Ino && st.Dev == want.Dev {
				found = append(found, fmt.Sprintf("pid %d (%s)", pid, comm(p.Name())))
				break
			}
		}
	}
	if len(found) == 0 {
		return "another process"
	}
	return strings.Join(found, ", ")
}

func comm(pid string) string {
	b, err := os.ReadFile(filepath.Join("/proc", pid, "comm"))
	if err != nil {
		return "?"
	}
	name := strings.TrimSpace(string(b))
	if pid == strconv.Itoa(os.Getpid()) {
		name += ", this station"
	}
	return name
}

// flockHolder finds the pid holding a flock on path's file in /proc/locks
// ("1: FLOCK  ADVISORY  WRITE 4242 00:18:3 0 EOF", the device as hex
// major:minor), whatever name that process opened it by.
func flockHolder(path string) string {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return ""
	}
	b, err := os.ReadFile("/proc/locks")
	if err != nil {
		return ""
	}
	dev := uint64(st.Dev)
	want := fmt.Sprintf("%02x:%02x:%d", unix.Major(dev), unix.Minor(dev), st.Ino)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 && f[1] == "FLOCK" && f[5] == want {
			return f[4]
		}
	}
	return ""
}
