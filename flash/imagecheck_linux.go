package flash

import (
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
