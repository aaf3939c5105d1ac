package sim

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// DirInUseError says a line folder belongs to a line that is running: two
// lines on one folder would overwrite each other's station.toml and unit
// stores.
type DirInUseError struct {
	Dir string
	PID int // 0 when the holder did not write its pid yet
}

func (e *DirInUseError) Error() string {
	return fmt.Sprintf("%s is in use by a running line (pid %d); stop it first: station sim stop --dir %s", e.Dir, e.PID, e.Dir)
}

// pidFile holds the pid of the line running in a folder, under an flock
// that the kernel drops when that process dies, so a crashed line never
// leaves its folder locked.
const pidFile = "sim.pid"

type dirLock struct{ f *os.File }

// lockDir claims dir for this process or says who holds it.
func lockDir(dir string) (*dirLock, error) {
	f, err := os.OpenFile(filepath.Join(dir, pidFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("sim dir: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &DirInUseError{Dir: dir, PID: readPID(f)}
		}
		return nil, fmt.Errorf("sim dir: lock %s: %w", f.Name(), err)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &dirLock{f: f}, nil
}

func (l *dirLock) release() {
	if l == nil {
		return
	}
	l.f.Truncate(0)
	l.f.Close() // drops the flock
}

func readPID(f *os.File) int {
	b, _ := io.ReadAll(io.NewSectionReader(f, 0, 32))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// Running says whether a line runs in dir, and its pid (0 if it did not
// write it yet).
func Running(dir string) (pid int, running bool, err error) {
	f, err := os.Open(filepath.Join(dir, pidFile))
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return readPID(f), true, nil
		}
		return 0, false, err
	}
	unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return 0, false, nil
}
