package central

import (
	"go/build"
	"strings"
	"testing"
)

// TestImports keeps central an implementation beside the others: station
// for its types and interfaces, pgx for PostgreSQL, nothing else of ours
// (the journal it reads is station.Journal, not records).
func TestImports(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		switch {
		case imp == "os/exec":
			t.Errorf("central imports os/exec")
		case strings.HasPrefix(imp, "nrfline/") && imp != "nrfline/station":
			t.Errorf("central imports %s", imp)
		case strings.Contains(imp, ".") && !strings.HasPrefix(imp, "github.com/jackc/pgx/v5"):
			t.Errorf("central imports %s", imp)
		}
	}
}
