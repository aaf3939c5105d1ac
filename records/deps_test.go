package records

import (
	"testing"

	"nrfline/internal/deptest"
)

// TestImports keeps records a leaf beside the engine: station for its
// types, the shared migration reader, SQLite and uuid, nothing of the other
// parts of the line, and no external programs.
func TestImports(t *testing.T) {
	for _, dir := range []string{".", "seed"} {
		deptest.Check(t, dir, deptest.Rules{
			Ours:       []string{"nrfline/station", "nrfline/records", "nrfline/internal/migrate"},
			ThirdParty: []string{"github.com/mattn/go-sqlite3", "github.com/google/uuid"},
			Deny:       []string{"os/exec"},
		})
	}
}
