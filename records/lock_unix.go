//go:build unix

package records

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// fileID is the identity of the database file: what a symlink, a hard
// link, a rename or a replacement cannot fake.
type fileID struct{ dev, ino uint64 }

// dbLock is the single-writer lock: an exclusive advisory lock (flock) on
// the database file itself, so every name of the file — a symlink, a hard
// link — meets the same lock. SQLite locks with fcntl byte ranges, which
// Linux keeps apart from flock. The descriptor stays open until Close (it
// is closed after SQLite's own, so that no fcntl lock of SQLite is dropped
// with it) and tells whether the file still has a name (link count).
type dbLock struct {
	f   *os.File
	id  fileID
	pid *os.File // path.lock: the holder's pid, for people and for a refusal
}

// lockDB locks the database file at path. The kernel drops the lock when
// the process dies, however it dies, so a RUNNING run found while we hold
// it belongs to a station that is gone.
func lockDB(path string) (*dbLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	id, _, err := fstatID(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat database %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("database %s is held by %s: %w", path, holder(id, path), ErrInUse)
		}
		return nil, fmt.Errorf("lock database %s: %w", path, err)
	}
	l := &dbLock{f: f, id: id}
	if p, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600); err == nil {
		p.Truncate(0)
		p.WriteAt([]byte(strconv.Itoa(os.Getpid())), 0)
		l.pid = p
	}
	return l, nil
}

func (l *dbLock) release() error {
	if l.pid != nil {
		l.pid.Truncate(0)
		l.pid.Close()
	}
	return l.f.Close() // closing the descriptor releases the lock
}

// check tells whether path still names the file we locked: not deleted,
// not moved away, not replaced. It costs two stat calls.
func (l *dbLock) check(path string) error {
	_, links, err := fstatID(l.f)
	if err != nil {
		return fmt.Errorf("database %s: stat the open file: %w", path, err)
	}
	if links == 0 {
		return fmt.Errorf("database file %s was deleted while the station ran: nothing since then is recorded; stop the station and restore the file from its backup", path)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return fmt.Errorf("database file %s was deleted or moved while the station ran (%v): nothing since then is recorded; stop the station and put the file back", path, err)
	}
	if (fileID{uint64(st.Dev), uint64(st.Ino)}) != l.id {
		return fmt.Errorf("database file %s was replaced by another file while the station ran: nothing since then is recorded; stop the station and put the original back", path)
	}
	return nil
}

func fstatID(f *os.File) (fileID, uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return fileID{}, 0, err
	}
	return fileID{uint64(st.Dev), uint64(st.Ino)}, uint64(st.Nlink), nil
}

// holder names the process holding the flock on file id: the kernel's
// /proc/locks knows it whatever name that process used; else the pid in
// path.lock.
func holder(id fileID, path string) string {
	if pid := flockHolder(id); pid != "" {
		return "pid " + pid
	}
	if b, err := os.ReadFile(path + ".lock"); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return "pid " + strings.TrimSpace(string(b))
	}
	return "another process"
}

// flockHolder reads /proc/locks: "1: FLOCK  ADVISORY  WRITE 4242 08:01:131074 0 EOF",
// the device as hexadecimal major:minor.
func flockHolder(id fileID) string {
	f, err := os.Open("/proc/locks")
	if err != nil {
		return ""
	}
	defer f.Close()
	major, minor := (id.dev>>8)&0xfff|(id.dev>>32)&^0xfff, id.dev&0xff|(id.dev>>12)&^0xff
	want := fmt.Sprintf("%02x:%02x:%d", major, minor, id.ino)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 6 && fields[1] == "FLOCK" && fields[5] == want {
			return fields[4]
		}
	}
	return ""
}
