package main

import (
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"

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

// The README stands alone: no link out of the repository, the Go version
// go.mod needs, every command in its table, the real-hardware and service
// sections, and a by-hand block marked for scripts/readme-run.sh (which CI
// runs: make docs-check).
func TestReadmeStandsAlone(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\S+)$`).FindStringSubmatch(string(mod))
	if goVersion == nil || !strings.Contains(readme, "Go "+goVersion[1]+" or newer") {
		t.Errorf("README does not name go.mod's Go version %v", goVersion)
	}
	for _, bad := range []string{"../shared", "CONTRACT.md"} {
		if strings.Contains(readme, bad) {
			t.Errorf("README points out of the repository: %q", bad)
		}
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.HasParent() && c.IsAvailableCommand() && c.Parent().Name() != "completion" && c.Parent().Name() != "report" {
			if !strings.Contains(readme, "`"+c.CommandPath()) {
				t.Errorf("README's command table lacks %q", c.CommandPath())
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd(io.Discard, io.Discard))
	for _, want := range []string{"<!-- ci: run -->\n```sh\n", "station sim stop --dir", "--background",
		"dialout", "99-station-jlink.rules", "station-batch.service", "Restart=on-failure",
		"docs/station.example.toml", "docs/contract.md", "local midnight", "database"} {
		if !strings.Contains(readme, want) {
			t.Errorf("README lacks %q", want)
		}
	}
	for _, f := range []string{"../../docs/contract.md", "../../docs/station.example.toml", "../../deploy/station-batch.service", "../../deploy/99-station-jlink.rules"} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("README links %s: %v", f, err)
		}
	}
}
