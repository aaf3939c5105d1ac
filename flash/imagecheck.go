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
// stat is unchanged holds the same bytes — on the local file systems whose
// change time is kept to the nanosecond (ext4, xfs, btrfs, tmpfs). On any
// other (FAT keeps 2 s, a network file system may serve cached attributes)
// every Program hashes the file. A file changed within a second of being
// hashed is hashed again next time (the change may share its timestamp
// with the hash), as git does with its index.
type imageChecks struct {
	hashing sync.Mutex // one hash at a time: the first of a fixture's wave fills the cache for the rest
	mu      sync.Mutex
	seen    map[imageKey]fileStat
}

type imageKey struct{ path, sha256 string }

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
	before, cacheable := statFile(abs)
	if cacheable {
		c.hashing.Lock()
		defer c.hashing.Unlock()
		if c.unchanged(key, before) {
			return abs, nil
		}
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
	if after, ok := statFile(abs); cacheable && ok && after == before && !racy {
		c.remember(key, before)
	}
	return abs, nil
}

func (c *imageChecks) unchanged(key imageKey, now fileStat) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.seen[key]
	return ok && s == now
}

func (c *imageChecks) remember(key imageKey, s fileStat) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[imageKey]fileStat{}
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

// statFile stats path; ok is false where the stat cannot tell every
// change (no change time on this platform, or a file system that does not
// keep it exactly): then the file is hashed every time.
func statFile(path string) (fileStat, bool) {
	fi, err := os.Stat(path)
	if err != nil || !exactChangeTime(path) {
		return fileStat{}, false
	}
	return sysStat(fi)
}
