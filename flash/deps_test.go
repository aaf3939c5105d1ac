package flash

import (
	"go/build"
	"strings"
	"testing"
)

// TestImports keeps flash on its side of the house: of ours it imports
// only station (never inject, records, sim, ui, lwm2m or cmd), and nothing
// outside the standard library.
func TestImports(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		switch {
		case imp == "nrfline/station":
		case strings.HasPrefix(imp, "nrfline/"):
			t.Errorf("flash imports %s", imp)
		case strings.Contains(strings.Split(imp, "/")[0], "."):
			t.Errorf("flash imports a third-party package %s", imp)
		}
	}
}
