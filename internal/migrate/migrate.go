// Package migrate reads numbered SQL migrations embedded in a store's
// package: the SQLite records and the central PostgreSQL keep the same
// discipline (one file per version, applied in name order, each in one
// transaction by its store).
package migrate

import (
	"fmt"
	"io/fs"
	"sort"
)

// Load returns the migrations matching pattern in fsys, in name order:
// migration i (from 0) brings a schema from version i to i+1.
func Load(fsys fs.FS, pattern string) ([]string, error) {
	names, err := fs.Glob(fsys, pattern)
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	sort.Strings(names)
	out := make([]string, 0, len(names))
	for _, n := range names {
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", n, err)
		}
		out = append(out, string(b))
	}
	return out, nil
}
