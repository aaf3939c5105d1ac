// Package deptest guards the house's import directions (STYLE.md; the
// "deptest" idea of tailscale): each package's TestImports states what it
// may import, and Check fails the test for anything else. Only non-test
// files count.
package deptest

import (
	"go/build"
	"strings"
	"testing"
)

// Rules say what one package may import.
type Rules struct {
	// Ours lists the nrfline packages allowed; each also allows the
	// packages below it.
	Ours []string
	// ThirdParty lists the module or package paths allowed outside the
	// standard library, with the packages below them.
	ThirdParty []string
	// Deny lists standard-library packages the package must not use
	// (os/exec, database/sql, net/http …).
	Deny []string
}

// Check fails tb for every import of the package in dir that r does not
// allow.
func Check(tb testing.TB, dir string, r Rules) {
	tb.Helper()
	pkg, err := build.ImportDir(dir, 0)
	if err != nil {
		tb.Fatalf("read package %s: %v", dir, err)
	}
	for _, imp := range pkg.Imports {
		if why := r.refuse(imp); why != "" {
			tb.Errorf("%s imports %s: %s", pkg.ImportPath, imp, why)
		}
	}
}

func (r Rules) refuse(imp string) string {
	switch {
	case under(imp, "nrfline"):
		if !underAny(imp, r.Ours) {
			return "not one of ours it may use " + list(r.Ours)
		}
	case strings.Contains(strings.Split(imp, "/")[0], "."):
		if !underAny(imp, r.ThirdParty) {
			return "third-party package not allowed here " + list(r.ThirdParty)
		}
	case underAny(imp, r.Deny):
		return "standard-library package denied here"
	}
	return ""
}

func under(path, root string) bool { return path == root || strings.HasPrefix(path, root+"/") }

func underAny(path string, roots []string) bool {
	for _, r := range roots {
		if under(path, r) {
			return true
		}
	}
	return false
}

func list(s []string) string {
	if len(s) == 0 {
		return "(none)"
	}
	return "(" + strings.Join(s, ", ") + ")"
}
