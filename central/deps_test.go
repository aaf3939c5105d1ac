package central

import (
	"testing"

	"nrfline/internal/deptest"
)

// TestImports keeps central an implementation beside the others: station
// for its types and interfaces, pgx for PostgreSQL, nothing else of ours
// but the shared migration reader (the journal it reads is
// station.Journal, not records), and it runs no programs.
func TestImports(t *testing.T) {
	deptest.Check(t, ".", deptest.Rules{
		Ours:       []string{"nrfline/station", "nrfline/internal/migrate"},
		ThirdParty: []string{"github.com/jackc/pgx/v5"},
		Deny:       []string{"os/exec"},
	})
}
