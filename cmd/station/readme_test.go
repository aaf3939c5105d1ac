package main

import (
	"os"
	"strings"
	"testing"

	"nrfline/station"
)

// Operators and supervisors look codes up in README.md: every code the
// station can give must be there, with its outcome.
func TestReadmeListsEveryFailureCode(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range station.Codes() {
		row := "| `" + string(c) + "` | " + string(c.Outcome()) + " |"
		if !strings.Contains(string(readme), row) {
			t.Errorf("README.md lacks the row for %s (%s)", c, c.Outcome())
		}
	}
	for _, cmd := range []string{"make demo", "make test"} {
		if !strings.Contains(string(readme), cmd) {
			t.Errorf("README.md lacks %q", cmd)
		}
	}
}
