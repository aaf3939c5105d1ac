package lwm2m

import (
	"go/build"
	"strings"
	"testing"
)

// TestImports keeps lwm2m a leaf: nothing of ours, and no project packages
// beyond go-coap, pion/dtls, fxamacker/cbor and the standard library.
func TestImports(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	allowed := []string{"github.com/plgd-dev/go-coap/v3", "github.com/pion/dtls/v3", "github.com/fxamacker/cbor/v2"}
	for _, imp := range pkg.Imports {
		if !strings.Contains(imp, ".") {
			continue // standard library
		}
		ok := false
		for _, a := range allowed {
			ok = ok || imp == a || strings.HasPrefix(imp, a+"/")
		}
		if !ok {
			t.Errorf("lwm2m imports %s", imp)
		}
	}
}
