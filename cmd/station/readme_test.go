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

func TestUsageAndExitCodes(t *testing.T) {
	var out, errOut strings.Builder
	if code := run(t.Context(), []string{"--help"}, &out, &errOut); code != exitOK || !strings.Contains(out.String(), "station batch") {
		t.Errorf("--help: exit %d\n%s", code, out.String())
	}
	if code := run(t.Context(), []string{"frobnicate"}, &out, &errOut); code != exitUsage {
		t.Errorf("unknown command: exit %d", code)
	}
	if code := run(t.Context(), []string{"run", "--config", "x"}, &out, &errOut); code != exitUsage || !strings.Contains(errOut.String(), "not implemented yet") {
		t.Errorf("run: exit %d %q", code, errOut.String())
	}
	dir := t.TempDir()
	bad := dir + "/station.toml"
	os.WriteFile(bad, []byte("station_id = \"x\"\n[flash]\ntoool = \"nrfjprog\"\n"), 0o644)
	errOut.Reset()
	if code := run(t.Context(), []string{"batch", "--config", bad, "--once"}, &out, &errOut); code != exitUsage ||
		!strings.Contains(errOut.String(), "station.toml:3") || !strings.Contains(errOut.String(), "flash.toool") {
		t.Errorf("broken config: exit %d %q", code, errOut.String())
	}
}
