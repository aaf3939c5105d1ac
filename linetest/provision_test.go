package linetest

import (
	"os/exec"
	"strings"
	"testing"

	"nrfline/station"
)

// The acceptance: 4 units, speed 20, `batch --once` exits 0 with 4
// PASS runs, in both modem modes and with both flash tools.
func TestFourUnitsPassInEveryModeAndTool(t *testing.T) {
	for _, tc := range []struct {
		name  string
		shell bool
		tool  string
	}{
		{"at-nrfjprog", false, "nrfjprog"},
		{"shell-nrfjprog", true, "nrfjprog"},
		{"at-nrfutil", false, "nrfutil"},
		{"shell-nrfutil", true, "nrfutil"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := startLine(t, lineSpec{units: 4, shell: tc.shell, tool: tc.tool})
			res := l.batch(t)
			if res.exit != 0 || len(res.verdicts) != 4 {
				t.Fatalf("exit %d, %d verdicts\n%s", res.exit, len(res.verdicts), res.explain(t, "A1"))
			}
			for slot, v := range res.verdicts {
				if v.Outcome != station.Pass {
					t.Errorf("%s: %s %s at %s\n%s", slot, v.Outcome, v.Code, v.Step, res.explain(t, slot))
				}
				if v.PSKSHA256 == "" || v.IMEI == "" {
					t.Errorf("%s: verdict lacks IMEI or PSK fingerprint: %+v", slot, v)
				}
			}
			assertRecorded(t, l, 4)
			blobs := filesUnder(t, l.dir, ".db", ".db-wal", ".toml", ".log")
			blobs["stdout"], blobs["stderr"] = res.stdout, res.stderr
			for name, out := range exports(t, l, res) {
				blobs[name] = out
			}
			scanForSecrets(t, l.secrets(t), blobs)
		})
	}
}

// assertRecorded checks the database holds n PASS runs, through the
// supervisor's own report command.
func assertRecorded(t *testing.T, l *virtualLine, n int) {
	t.Helper()
	out, err := exec.Command(stationBin, "report", "runs", "--db", l.dir+"/station.db", "--format", "csv").CombinedOutput()
	if err != nil {
		t.Fatalf("report runs: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if got := len(lines) - 1; got != n {
		t.Fatalf("report runs: %d rows, want %d\n%s", got, n, out)
	}
	if c := strings.Count(string(out), "PASS"); c < n {
		t.Errorf("report runs: %d PASS, want %d\n%s", c, n, out)
	}
}

// exports runs every report a supervisor can pull from the database,
// transcripts included (they are stored compressed, so scanning the file
// bytes alone could not see into them).
func exports(t *testing.T, l *virtualLine, res batchResult) map[string][]byte {
	t.Helper()
	db := l.dir + "/station.db"
	cmds := map[string][]string{
		"report runs csv":  {"report", "runs", "--db", db, "--format", "csv"},
		"report runs json": {"report", "runs", "--db", db, "--format", "json"},
		"report summary":   {"report", "summary", "--db", db, "--format", "json"},
	}
	for _, v := range res.verdicts {
		if v.IMEI != "" {
			cmds["report unit "+v.IMEI] = []string{"report", "unit", v.IMEI, "--db", db, "--transcripts", "--format", "json"}
		}
	}
	out := map[string][]byte{}
	for name, args := range cmds {
		b, err := exec.Command(stationBin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, b)
		}
		out[name] = b
	}
	for name, b := range out {
		if strings.HasPrefix(name, "report unit") && !strings.Contains(string(b), "AT%CMNG=0,100,3") {
			t.Errorf("%s: transcript lacks the (redacted) credential write; the scan would prove nothing", name)
		}
	}
	return out
}
