package ui

import (
	"os/exec"
	"sort"
	"strings"
	"testing"
)

// TestDeps keeps the TUI a pure view: nothing it links may talk to serial
// ports or SQLite, and none of our code on its import graph may run
// processes. Some charm libraries import os/exec for features the TUI does
// not use (tea.ExecProcess, a terminfo fallback, clipboard tools); they are
// listed by name, so a new importer of os/exec fails this test.
func TestDeps(t *testing.T) {
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
