package unit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"nrfline/internal/rawtty"
)

// port is the unit's end of a pseudo-terminal. The unit owns the master;
// the station opens the slave path like a serial port. The unit also keeps
// the slave open itself, so that the master never reads EIO while no
// station has the port open (output then waits in the tty buffer).
type port struct {
	master *os.File
	slave  *os.File
	path   string // /dev/pts/N
	link   string
	done   chan struct{} // closed by close()

	once sync.Once
	err  error
}

// openPort opens a pty in raw mode and creates link (if set).
func openPort(link string) (*port, error) {
	m, s, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("open pty: %w", err)
	}
	p := &port{master: m, slave: s, path: s.Name(), link: link, done: make(chan struct{})}
	if err := p.setup(); err != nil {
		m.Close()
		s.Close()
		return nil, err
	}
	return p, nil
}

func (p *port) setup() error {
	if err := rawtty.Set(int(p.slave.Fd())); err != nil {
		return fmt.Errorf("set pty %s raw: %w", p.path, err)
	}
	// creack/pty's ioctls went through Fd(), which made the master
	// blocking; back to non-blocking so reads and writes park in the
	// runtime poller and Close interrupts them.
	if err := unix.SetNonblock(int(p.master.Fd()), true); err != nil {
		return fmt.Errorf("set pty master non-blocking: %w", err)
	}
	if p.link == "" {
		return nil
	}
	return makeLink(p.path, p.link)
}

// makeLink points link at target, replacing an old symlink.
func makeLink(target, link string) error {
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		return fmt.Errorf("create link dir: %w", err)
	}
	fi, err := os.Lstat(link)
	switch {
	case err == nil && fi.Mode()&fs.ModeSymlink == 0:
		return fmt.Errorf("link %s exists and is not a symlink", link)
	case err == nil:
		if err := os.Remove(link); err != nil {
			return fmt.Errorf("replace link %s: %w", link, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("check link %s: %w", link, err)
	}
	if err := os.Symlink(target, link); err != nil {
		return fmt.Errorf("create link %s: %w", link, err)
	}
	return nil
}

// close removes the link (if it still points at this pty) and closes both
// ends. Safe to call more than once.
func (p *port) close() error {
	p.once.Do(func() {
		// The link goes first: once the station sees the port closed,
		// the device path is already gone, as after a USB unplug.
		var errs []error
		if p.link != "" {
			if t, err := os.Readlink(p.link); err == nil && t == p.path {
				errs = append(errs, os.Remove(p.link))
			}
		}
		close(p.done)
		errs = append(errs, p.master.Close(), p.slave.Close())
		p.err = errors.Join(errs...)
	})
	return p.err
}
