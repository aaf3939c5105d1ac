package ui

import (
	"os/exec"
	"sort"
	"strings"
	"testing"

	"nrfline/internal/deptest"
)

// TestImports: the TUI uses station's API and events, the charm libraries,
// and no I/O of its own.
func TestImports(t *testing.T) {
	deptest.Check(t, ".", deptest.Rules{
		Ours:       []string{"nrfline/station"},
		ThirdParty: []string{"charm.land/bubbletea/v2", "charm.land/bubbles/v2", "charm.land/lipgloss/v2", "github.com/charmbracelet/x/ansi"},
		Deny:       []string{"os/exec", "database/sql", "net", "os"},
	})
}

// TestLinks keeps the TUI a pure view all the way down: nothing it links may talk to serial
// ports or SQLite, and none of our code on its import graph may run
// processes. Some charm libraries import os/exec for features the TUI does
// not use (tea.ExecProcess, a terminfo fallback, clipboard tools); they are
// listed by name, so a new importer of os/exec fails this test.
func TestLinks(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \",\"}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowedExec := map[string]bool{
		"charm.land/bubbletea/v2":               true, // tea.ExecProcess
		"github.com/charmbracelet/colorprofile": true, // tput fallback
		"github.com/atotto/clipboard":           true, // textinput paste
	}
	var bad []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(l, " ")
		for _, forbidden := range []string{"go.bug.st/serial", "github.com/mattn/go-sqlite3"} {
			if pkg == forbidden || strings.HasPrefix(pkg, forbidden+"/") {
				bad = append(bad, "links "+pkg)
			}
		}
		for _, imp := range strings.Split(imports, ",") {
			if imp == "os/exec" && !allowedExec[pkg] {
				bad = append(bad, pkg+" imports os/exec")
			}
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		t.Errorf("ui's dependencies break its rules:\n%s", strings.Join(bad, "\n"))
	}
}
