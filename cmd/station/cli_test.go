package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"nrfline/sim"
)

// result is what one command line printed and its exit code.
type result struct {
	code           int
	stdout, stderr string
}

func stationCmd(t *testing.T, args ...string) result {
	t.Helper()
	var out, errOut strings.Builder
	code := run(t.Context(), args, &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

// want fails unless the command ended with code and its stderr (or stdout
// for exit 0) contains every text.
func (r result) want(t *testing.T, code int, texts ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	where := r.stderr
	if code == exitOK {
		where = r.stdout
	}
	for _, s := range texts {
		if !strings.Contains(where, s) {
			t.Errorf("output lacks %q\nstdout: %s\nstderr: %s", s, r.stdout, r.stderr)
		}
	}
}

// jsonErr checks that stderr is exactly one JSON error object with code
// and exit, and returns it.
func (r result) jsonErr(t *testing.T, exit int, code string) jsonError {
	t.Helper()
	var e jsonError
	dec := json.NewDecoder(strings.NewReader(r.stderr))
	if err := dec.Decode(&e); err != nil || dec.More() {
		t.Fatalf("stderr is not one JSON object (%v): %q", err, r.stderr)
	}
	if r.code != exit || e.Exit != exit || e.Code != code || e.Message == "" {
		t.Errorf("exit %d, JSON error %+v; want exit %d code %q", r.code, e, exit, code)
	}
	return e
}

// Every command, and every subcommand, answers --help and `help CMD` on
// stdout with exit 0 and nothing on stderr.
func TestEveryCommandHelp(t *testing.T) {
	var walk func(c *cobra.Command)
	var paths [][]string
	walk = func(c *cobra.Command) {
		paths = append(paths, strings.Fields(c.CommandPath())[1:])
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd(io.Discard, io.Discard))
	if len(paths) < 12 {
		t.Fatalf("only %d commands found", len(paths))
	}
	for _, p := range paths {
		name := strings.Join(append([]string{"station"}, p...), " ")
		t.Run(name, func(t *testing.T) {
			for _, args := range [][]string{append(p, "--help"), append([]string{"help"}, p...)} {
				r := stationCmd(t, args...)
				r.want(t, exitOK, "Usage:", name)
				if r.stderr != "" {
					t.Errorf("%v: stderr %q", args, r.stderr)
				}
				if strings.Contains(r.stdout, " -config") || strings.Contains(r.stdout, "  -json") {
					t.Errorf("%v: single-dash long flag in help:\n%s", args, r.stdout)
				}
			}
		})
	}
}

func TestRootAndVersion(t *testing.T) {
	stationCmd(t, "--version").want(t, exitOK, "station ", "commit", "built", "go      go1.")
	stationCmd(t, "version").want(t, exitOK, "station ", "commit", "built", "go      go1.")
	r := stationCmd(t, "version", "--json")
	var b buildInfo
	if err := json.Unmarshal([]byte(r.stdout), &b); err != nil || b.Version == "" || b.Commit == "" || b.Date == "" || !strings.HasPrefix(b.Go, "go1.") {
		t.Errorf("version --json: %v %+v\n%s", err, b, r.stdout)
	}
	stationCmd(t, "version", "extra").want(t, exitUsage, "unexpected argument")
	stationCmd(t, "version", "--json", "extra").jsonErr(t, exitUsage, "usage")
	stationCmd(t, "frobnicate").want(t, exitUsage, `unknown command "frobnicate"`)
	stationCmd(t, "batch", "--frob").want(t, exitUsage, "unknown flag: --frob", "station batch --help")
	stationCmd(t, "--log-format", "xml", "version").want(t, exitUsage, "--log-format")
}

func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		stationCmd(t, "completion", shell).want(t, exitOK, "station")
	}
	stationCmd(t, "completion", "tcsh").want(t, exitUsage)
}

// goodHex is a valid Intel HEX image: 4 data bytes and the end record.
const goodHex = ":0400000001020304F2\n:00000001FF\n"

// writeConfig writes a station.toml (plus fw/app.hex unless hex is empty)
// into a fresh folder and returns its path.
func writeConfig(t *testing.T, body, hex string) string {
	t.Helper()
	dir := t.TempDir()
	if hex != "" {
		os.MkdirAll(filepath.Join(dir, "fw"), 0o755)
		if err := os.WriteFile(filepath.Join(dir, "fw", "app.hex"), []byte(hex), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "station.toml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const minimalConfig = `station_id = "t1"
[firmware]
hex = "fw/app.hex"
[portal]
kind = "none"
[[slot]]
name = "A1"
probe = "1051202135"
`

func TestBatchExitCodes(t *testing.T) {
	stationCmd(t, "batch", "--once").want(t, exitUsage, "--config is required")
	bad := writeConfig(t, "station_id = \"x\"\n[flash]\ntoool = \"nrfjprog\"\n", "")
	stationCmd(t, "batch", "--config", bad, "--once").want(t, exitUsage, "station.toml:3", "flash.toool")
	e := stationCmd(t, "batch", "--config", bad, "--once", "--json").jsonErr(t, exitUsage, "config")
	if e.Line != 3 || e.Key != "flash.toool" || e.File != bad {
		t.Errorf("JSON config error lacks where: %+v", e)
	}
	noFW := writeConfig(t, minimalConfig, "")
	stationCmd(t, "batch", "--config", noFW, "--once").want(t, exitUsage, "firmware")
	stationCmd(t, "batch", "--config", noFW, "--once", "--json").jsonErr(t, exitUsage, "firmware")
	badDB := writeConfig(t, "database = \"no/such/folder/x.db\"\n"+strings.Replace(minimalConfig, "[portal]", "[flash]\npath = \"/bin/true\"\n[portal]", 1), goodHex)
	stationCmd(t, "batch", "--config", badDB, "--once").want(t, exitInternal, "open records")
	stationCmd(t, "batch", "--config", badDB, "--count", "0").want(t, exitUsage, "--count")
}

func TestCheckExitCodes(t *testing.T) {
	stationCmd(t, "check").want(t, exitUsage, "--config is required")
	noFW := writeConfig(t, minimalConfig, "")
	stationCmd(t, "check", "--config", noFW).want(t, exitUsage, "firmware")
	stationCmd(t, "check", "--config", noFW, "--json").jsonErr(t, exitUsage, "firmware")
	badHex := writeConfig(t, minimalConfig, ":04000000010203\n")
	stationCmd(t, "check", "--config", badHex).want(t, exitUsage, "firmware")

	// A flash tool that does not run is a failed check (batch would fail
	// every unit with FLASH_TOOL), no longer "ok".
	noTool := writeConfig(t, strings.Replace(minimalConfig, "[portal]", "[flash]\npath = \"/nonexistent/nrfjprog\"\n[portal]", 1), goodHex)
	r := stationCmd(t, "check", "--config", noTool)
	if r.code != exitUnitFail || !strings.Contains(r.stdout, "flash_tool       FAIL") {
		t.Errorf("missing flash tool: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	tool := filepath.Join(t.TempDir(), "nrfjprog")
	os.WriteFile(tool, []byte("#!/bin/sh\necho 'nrfjprog version: 10.24.2 external'\necho 'JLinkARM.dll version: 7.94e'\n"), 0o755)
	present := filepath.Join(t.TempDir(), "ttyACM0")
	os.WriteFile(present, nil, 0o644)
	slots := fmt.Sprintf("[flash]\npath = %q\n[portal]", tool)
	body := strings.Replace(minimalConfig, "[portal]", slots, 1) +
		fmt.Sprintf("port = %q\n[[slot]]\nname = \"A2\"\nprobe = \"1051202136\"\nport = \"/dev/ttyNOPE7\"\n", present)
	good := writeConfig(t, body, goodHex)
	r = stationCmd(t, "check", "--config", good)
	r.want(t, exitOK, "flash_tool       ok    nrfjprog 10.24.2", "slot A1          ok    port "+present+" present",
		"slot A2          wait  port /dev/ttyNOPE7 not present now; the station waits for it (hot-plug)")

	// --online: a portal and a bootstrap server that are not there fail.
	online := writeConfig(t, strings.Replace(body, "kind = \"none\"", "kind = \"leshan\"\nurl = \"http://127.0.0.1:1/api\"\ntarget_uri = \"coaps://127.0.0.1:2\"", 1)+
		"[bootstrap]\nserver_uri = \"coaps://127.0.0.1:1\"\n", goodHex)
	r = stationCmd(t, "check", "--config", online, "--online", "--json")
	var items []checkItem
	if err := json.Unmarshal([]byte(r.stdout), &items); err != nil || r.code != exitUnitFail {
		t.Fatalf("check --online --json: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if e := r.jsonErr(t, exitUnitFail, "failed"); !strings.Contains(e.Message, "2 check(s) failed: portal, bootstrap_server") {
		t.Errorf("JSON error %+v", e)
	}
	status := map[string]string{}
	for _, it := range items {
		status[it.Item] = it.Status + " " + it.Detail
	}
	if !strings.HasPrefix(status["portal"], "FAIL") || !strings.Contains(status["bootstrap_server"], "nothing listens") {
		t.Errorf("online checks: %q", status)
	}
}

func TestDevicesExitCodes(t *testing.T) {
	bad := writeConfig(t, "station_id = 3\n", "")
	stationCmd(t, "devices", "--config", bad).want(t, exitUsage, "station.toml:1", "station_id")
	stationCmd(t, "devices", "--config", bad, "--json").jsonErr(t, exitUsage, "config")
	stationCmd(t, "devices", "extra").want(t, exitUsage, "unexpected argument")
}

func TestRunExitCodes(t *testing.T) {
	stationCmd(t, "run").want(t, exitUsage, "--config FILE is required")
	bad := writeConfig(t, "station_id = 3\n", "")
	stationCmd(t, "run", "--config", bad).want(t, exitUsage, "station.toml:1", "station_id")
	// The test's stdout is no terminal: the TUI refuses, naming the way out.
	good := writeConfig(t, minimalConfig, ":00000001FF\n")
	stationCmd(t, "run", "--config", good).want(t, exitUsage, "needs a terminal", "station batch")
	stationCmd(t, "run", "--config", good, "--json").jsonErr(t, exitUsage, "usage")
}

func TestReportExitCodes(t *testing.T) {
	dir := t.TempDir()
	stationCmd(t, "report").want(t, exitUsage, "summary, runs or unit")
	stationCmd(t, "report", "summary").want(t, exitUsage, "--db FILE is required")
	stationCmd(t, "report", "summary", "--db", filepath.Join(dir, "none.db")).want(t, exitUsage, "none.db")
	stationCmd(t, "report", "summary", "--db", dir).want(t, exitUsage, "is a folder")
	stationCmd(t, "report", "runs", "--db", dir, "--json").jsonErr(t, exitUsage, "usage")
	notDB := filepath.Join(dir, "notes.txt")
	os.WriteFile(notDB, []byte("not a database, just some text that is long enough to be read"), 0o644)
	stationCmd(t, "report", "runs", "--db", notDB).want(t, exitUsage, "notes.txt")
	stationCmd(t, "report", "runs", "--db", notDB, "--format", "xml").want(t, exitUsage, "--format")
	stationCmd(t, "report", "runs", "--db", notDB, "--json", "--format", "csv").want(t, exitUsage, "disagree")
	stationCmd(t, "report", "summary", "--db", notDB, "--since", "yesterday").want(t, exitUsage, "--since")
	stationCmd(t, "report", "unit", "12345", "--db", notDB).want(t, exitUsage, "not an IMEI", "15 digits")
	stationCmd(t, "report", "unit", "352656100000001", "--db", notDB).want(t, exitUsage, "Luhn")
	stationCmd(t, "report", "unit", "12345", "--db", notDB, "--json").jsonErr(t, exitUsage, "usage")
	stationCmd(t, "report", "unit", "--db", notDB).want(t, exitUsage, "exactly one IMEI")
	stationCmd(t, "report", "runs", "--db", notDB, "--imei", "35265610000000X").want(t, exitUsage, "digits only")
}

func TestSimExitCodes(t *testing.T) {
	stationCmd(t, "sim", "--units", "0").want(t, exitUsage, "--units")
	stationCmd(t, "sim", "--faults", "bogus").want(t, exitUsage, "--faults")
	stationCmd(t, "sim", "--faults", "bogus", "--json").jsonErr(t, exitUsage, "usage")
	stationCmd(t, "sim", "--modem", "x").want(t, exitUsage, "--modem")
	file := filepath.Join(t.TempDir(), "afile")
	os.WriteFile(file, nil, 0o644)
	r := stationCmd(t, "sim", "--dir", file, "--units", "1")
	r.want(t, exitUsage, "afile")
	if strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
		t.Errorf("a start failure is one message, got:\n%s", r.stderr)
	}
	// A folder in use by a running line is refused, naming its pid.
	busy := t.TempDir()
	l, err := sim.Start(t.Context(), sim.Options{Units: 1, Dir: busy, Speed: 50, ToolExe: os.Args[0]})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	pid := fmt.Sprintf("pid %d", os.Getpid())
	stationCmd(t, "sim", "--dir", busy, "--units", "1").want(t, exitUsage, "in use by a running line", pid)
	stationCmd(t, "sim", "--dir", busy, "--units", "1", "--background").want(t, exitUsage, "in use by a running line", pid)
	stationCmd(t, "demo", "--dir", busy, "--units", "1").want(t, exitUsage, "in use by a running line", pid)
	stationCmd(t, "sim", "--dir", busy, "--json").jsonErr(t, exitUsage, "dir_in_use")

	stationCmd(t, "sim", "stop").want(t, exitUsage, "--dir is required")
	stationCmd(t, "sim", "stop", "--dir", t.TempDir()).want(t, exitOK, "no line running")
	stationCmd(t, "demo", "--units", "0").want(t, exitUsage, "--units")
	stationCmd(t, "demo", "--speed", "-1").want(t, exitUsage, "--speed")
}

// Warnings are one human line unless --debug or --log-format json asks for
// more; info never shows by default.
func TestWarningsAreHumanUnlessAsked(t *testing.T) {
	for _, tc := range []struct {
		g          globalFlags
		want, not  string
		infoShown  bool
		jsonOutput bool
	}{
		{globalFlags{logFormat: "text"}, "station: warn: portal request failed, retrying (part=portal, attempt=1)\n", "time=", false, false},
		{globalFlags{logFormat: "text", debug: true}, "level=WARN msg=\"portal request failed, retrying\" part=portal attempt=1", "station: warn", true, false},
		{globalFlags{logFormat: "json"}, `"msg":"portal request failed, retrying","part":"portal","attempt":1}`, "station: warn", false, true},
	} {
		var b strings.Builder
		l := tc.g.logger(&b).With("part", "portal")
		l.Info("quiet")
		l.Warn("portal request failed, retrying", "attempt", 1)
		out := b.String()
		if !strings.Contains(out, tc.want) || strings.Contains(out, tc.not) || strings.Contains(out, "quiet") != tc.infoShown {
			t.Errorf("%+v: %q", tc.g, out)
		}
	}
}
