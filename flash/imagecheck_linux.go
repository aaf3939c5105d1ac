package flash

import (
	"golang.org/x/sys/unix"
	"io/fs"
	"syscall"
	"time"
)

func sysStat(fi fs.FileInfo) (fileStat, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileStat{}, false
	}
	return fileStat{
		dev: st.Dev, ino: st.Ino, size: fi.Size(), modified: fi.ModTime(),
		changed: time.Unix(st.Ctim.Unix()),
	}, true
}

// exactChangeTime: the file systems whose change time moves, to the
// nanosecond, with every write through any path (statfs(2) magic numbers).
func exactChangeTime(path string) bool {
	var fs unix.Statfs_t
	if unix.Statfs(path, &fs) != nil {
		return false
	}
	switch uint32(fs.Type) {
	case unix.EXT4_SUPER_MAGIC, unix.XFS_SUPER_MAGIC, unix.BTRFS_SUPER_MAGIC, unix.TMPFS_MAGIC:
		return true
	}
	return false
}
