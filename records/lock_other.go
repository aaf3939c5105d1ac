//go:build !unix

package records

import (
	"fmt"
	"os"
)

// lockFile only creates the lock file where flock is not available; the
// station runs on Linux, this keeps the package building elsewhere.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file %s: %w", path, err)
	}
	return f, nil
}

func unlockFile(f *os.File) error { return f.Close() }
