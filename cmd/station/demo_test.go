package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"nrfline/sim/faketool"
)

func TestMain(m *testing.M) {
	faketool.Dispatch() // the virtual line's fake tools run this test binary
	os.Exit(m.Run())
}

// make demo's promises: the faults announced first, a few lines per unit
// (no flash percentages), a hint naming how the binary was run, a reused
// folder called a re-test; --json ends with the summary object.
func TestDemoOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a virtual line")
	}
	dir := t.TempDir()
	r := stationCmd(t, "demo", "--units", "2", "--speed", "50", "--faults", "jlink-transient:1", "--dir", dir)
	r.want(t, exitOK, "demo: injected faults: jlink-transient:1", "2 unit(s): 2 PASS", "report summary --db "+dir+"/station.db")
	lines := strings.Split(r.stdout, "\n")
	if strings.Contains(r.stdout, "%") || len(lines) > 2*14+12 {
		t.Errorf("%d lines, or flash percentages:\n%s", len(lines), r.stdout)
	}
	if !strings.Contains(r.stdout, "ERROR: JLinkARM DLL reported an error. Try again. If error condition persists") {
		t.Errorf("the J-Link note lost the tool's sentence:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, "re-test") {
		t.Errorf("a fresh folder called a re-test:\n%s", r.stdout)
	}

	r = stationCmd(t, "demo", "--units", "2", "--speed", "50", "--dir", dir, "--json")
	out := strings.Split(strings.TrimSpace(r.stdout), "\n")
	var last summaryEvent
	if err := json.Unmarshal([]byte(out[len(out)-1]), &last); err != nil || last.Kind != "summary" || last.Units != 2 || last.Pass != 2 {
		t.Errorf("last --json line %q (%v)", out[len(out)-1], err)
	}
	r = stationCmd(t, "demo", "--units", "2", "--speed", "50", "--dir", dir)
	r.want(t, exitOK, "this is a re-test")
}
