package deptest

import "testing"

func TestRefuse(t *testing.T) {
	r := Rules{Ours: []string{"nrfline/station"}, ThirdParty: []string{"go.bug.st/serial"}, Deny: []string{"os/exec"}}
	for imp, refused := range map[string]bool{
		"fmt": false, "os/exec": true, "nrfline/station": false, "nrfline/stationx": true,
		"nrfline/records": true, "go.bug.st/serial/enumerator": false, "github.com/mattn/go-sqlite3": true,
	} {
		if got := r.refuse(imp) != ""; got != refused {
			t.Errorf("%s: refused %v, want %v", imp, got, refused)
		}
	}
}

// The helper itself: std only, nothing of ours.
func TestImports(t *testing.T) { Check(t, ".", Rules{}) }
