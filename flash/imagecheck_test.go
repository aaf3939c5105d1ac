package flash

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"nrfline/station"
)

// TestImageChecksSeeEveryChange: once an image was hashed, a Program skips
// the hash only while the file is untouched. A same-size edit whose
// modification time is set back is still caught (its change time moved).
func TestImageChecksSeeEveryChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.hex")
	content := []byte(":0100000042BD\n:00000001FF\n")
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(content)
	fw := station.Firmware{Path: path, SHA256: hex.EncodeToString(sum[:])}
	var c imageChecks
	if _, err := c.firmwareArg(fw); err != nil {
		t.Fatalf("first check: %v", err)
	}
	if len(c.seen) != 0 {
		t.Fatalf("a file changed within %s of its hash was remembered", racyWindow)
	}
	// As if hashed long after the last change: later checks trust the stat.
	key := imageKey{path, fw.SHA256}
	st, ok := statFile(path)
	if !ok {
		t.Skipf("%s is on a file system whose change time the cache does not trust", path)
	}
	c.remember(key, st)
	if _, err := c.firmwareArg(fw); err != nil {
		t.Fatalf("unchanged file: %v", err)
	}

	fi, _ := os.Stat(path)
	edited := []byte(":0100000043BC\n:00000001FF\n") // same size, other data
	if err := os.WriteFile(path, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	_, err := c.firmwareArg(fw)
	if station.CodeOf(err) != station.FlashTool {
		t.Fatalf("edited image: got %v, want FLASH_TOOL (changed since it was checked)", err)
	}
}

// Only file systems that keep change times exactly are trusted; elsewhere
// (here /proc, like a FAT stick or NFS) every Program hashes the image.
func TestImageChecksTrustOnlyExactFileSystems(t *testing.T) {
	if exactChangeTime("/proc/self/status") {
		t.Error("procfs trusted")
	}
	if _, ok := statFile("/proc/self/status"); ok {
		t.Error("statFile offers a cacheable stat on procfs")
	}
}
