package records

import (
	"go/build"
	"strings"
	"testing"
)

// TestImports keeps records a leaf beside the engine: station for its
// types, SQLite and uuid, nothing of the other parts of the line, and no
// external programs.
func TestImports(t *testing.T) {
	for _, dir := range []string{".", "seed"} {
		pkg, err := build.ImportDir(dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range pkg.Imports {
			switch {
			case imp == "os/exec":
				t.Errorf("%s imports os/exec", dir)
			case strings.HasPrefix(imp, "nrfline/") && imp != "nrfline/station" && imp != "nrfline/records":
				t.Errorf("%s imports %s", dir, imp)
			case strings.Contains(imp, ".") && imp != "github.com/mattn/go-sqlite3" && imp != "github.com/google/uuid":
				t.Errorf("%s imports %s", dir, imp)
			}
		}
	}
}
