package flash

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"nrfline/station"
)

// imageChecks remembers which firmware files were hashed and found to be
// the checked image, by what the file system says of them (device, inode,
// size, modification and change times). Each Program makes sure the image
// has not changed since CheckImage saw it; re-reading and hashing a
// megabyte for every unit put a burst of CPU on the start of a full
// fixture, when every slot starts flashing at once. Any write to the file
// moves its change time, which no program can set back, so a file whose
// stat is unchanged holds the same bytes. A file changed within a second
// of being hashed is hashed again (the change may share its timestamp
// with the hash), as git does with its index.
type imageChecks struct {
	mu   sync.Mutex
	seen map[imageKey]imageStamp
}

type imageKey struct{ path, sha256 string }

type imageStamp struct {
	stat     fileStat
	hashedAt time.Time // more than racyWindow after stat.changed
}

// racyWindow: a change this close to the hash may not show in the stat.
const racyWindow = time.Second

// firmwareArg checks that the image is still the one CheckImage saw and
// returns its absolute path (never starting with "-", so no tool can read
// it as an option).
func (c *imageChecks) firmwareArg(fw station.Firmware) (string, error) {
	if fw.Path == "" {
		return "", station.Errorf(station.FlashTool, nil, "no firmware image (run CheckImage first)")
	}
	abs, err := filepath.Abs(fw.Path)
	if err != nil {
		return "", station.Errorf(station.FlashTool, err, "firmware path %s", fw.Path)
	}
	if fw.SHA256 == "" {
		return abs, nil
	}
	key := imageKey{abs, strings.ToLower(fw.SHA256)}
	before, statOK := statFile(abs)
	if statOK && c.unchanged(key, before) {
		return abs, nil
	}
	hashedAt := time.Now()
	sum, err := fileSHA256(abs)
	if err != nil {
		return "", station.Errorf(station.FlashTool, err, "hash firmware %s", abs)
	}
	if !strings.EqualFold(sum, fw.SHA256) {
		return "", station.Errorf(station.FlashTool, nil, "firmware %s changed since it was checked: sha256 %s, checked %s", abs, sum, fw.SHA256)
	}
	racy := before.changed.After(hashedAt.Add(-racyWindow))
	if after, ok := statFile(abs); statOK && ok && after == before && !racy {
		c.remember(key, imageStamp{stat: before, hashedAt: hashedAt})
	}
	return abs, nil
}

func (c *imageChecks) unchanged(key imageKey, now fileStat) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.seen[key]
	return ok && s.stat == now
}

func (c *imageChecks) remember(key imageKey, s imageStamp) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[imageKey]imageStamp{}
	}
	c.seen[key] = s
}

// fileStat is what tells two versions of a file apart without reading it.
type fileStat struct {
	dev, ino uint64
	size     int64
	modified time.Time
	changed  time.Time
}

// statFile stats path; ok is false where the platform gives no change
// time (then the file is hashed every time).
func statFile(path string) (fileStat, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStat{}, false
	}
	return sysStat(fi)
}
