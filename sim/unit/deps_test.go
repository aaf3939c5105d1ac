package unit

import (
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"

	"nrfline/sim/flashctl"
)

// The virtual J-Link drives a Unit.
var _ flashctl.Unit = (*Unit)(nil)

// TestImports guards the package's independence: the unit is written from
// the device's side and must share no code with the station's AT session.
func TestImports(t *testing.T) {
	forbidden := []string{"nrfline/station", "nrfline/inject", "nrfline/flash", "nrfline/records", "nrfline/ui"}
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range forbidden {
				if path == bad || strings.HasPrefix(path, bad+"/") {
					t.Errorf("%s imports %s", name, path)
				}
			}
		}
	}
}
