package server

import (
	"go/build"
	"strings"
	"testing"
)

// TestImports: of our packages the virtual servers use only lwm2m (they
// play the far side of the wire and must not reuse station code).
func TestImports(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if strings.HasPrefix(imp, "nrfline/") && imp != "nrfline/lwm2m" {
			t.Errorf("sim/server imports %s", imp)
		}
	}
}
