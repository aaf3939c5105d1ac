package linetest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nrfline/sim"
	"nrfline/sim/faketool"
	"nrfline/station"
)

// stationBin is the station binary built once for all tests.
var stationBin string

func TestMain(m *testing.M) {
	faketool.Dispatch()
	dir, err := os.MkdirTemp("", "linetest")
	if err != nil {
		panic(err)
	}
	stationBin = filepath.Join(dir, "station")
	build := exec.Command("go", "build", "-race", "-o", stationBin, "nrfline/cmd/station")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build station:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// lineSpec describes a virtual line for one test.
type lineSpec struct {
	units  int
	speed  float64
	faults string
	shell  bool
	tool   string
	edit   func(cfg string) string // optional change to the written station.toml
}

type virtualLine struct {
	*sim.Line
	dir    string
	config string
}

// lineSpeed is the virtual line's time scale unless a test asks for another.
const lineSpeed = 20

func startLine(t testing.TB, spec lineSpec) *virtualLine {
	t.Helper()
	if spec.speed == 0 {
		spec.speed = lineSpeed
	}
	faults, err := sim.ParseFaults(spec.faults, spec.units)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	l, err := sim.Start(t.Context(), sim.Options{
		Units: spec.units, Dir: dir, Speed: spec.speed, Faults: faults,
		Shell: spec.shell, Tool: spec.tool, ToolExe: stationBin,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if spec.edit != nil {
		b, err := os.ReadFile(l.ConfigPath())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(l.ConfigPath(), []byte(spec.edit(string(b))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return &virtualLine{Line: l, dir: dir, config: l.ConfigPath()}
}

// batchResult is what one `station batch --once --json` printed.
type batchResult struct {
	exit     int
	stdout   []byte
	stderr   []byte
	events   []station.Event
	verdicts map[string]station.Verdict // by slot
}

func (l *virtualLine) batch(t *testing.T, extra ...string) batchResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	args := append([]string{"batch", "--config", l.config, "--once", "--json", "--debug"}, extra...)
	cmd := exec.CommandContext(ctx, stationBin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := batchResult{stdout: stdout.Bytes(), stderr: stderr.Bytes(), verdicts: map[string]station.Verdict{}}
	if ee, ok := err.(*exec.ExitError); ok {
		res.exit = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("station batch: %v\nstderr:\n%s", err, stderr.Bytes())
	}
	sc := bufio.NewScanner(bytes.NewReader(res.stdout))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev station.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("stdout line is not a JSON event: %q: %v", sc.Text(), err)
		}
		res.events = append(res.events, ev)
		if ev.Kind == station.VerdictReached {
			res.verdicts[ev.Slot] = *ev.Verdict
		}
	}
	return res
}

// of returns the events of one slot, in order.
func (r batchResult) of(slot string) []station.Event {
	var out []station.Event
	for _, ev := range r.events {
		if ev.Slot == slot {
			out = append(out, ev)
		}
	}
	return out
}

func (r batchResult) explain(t *testing.T, slot string) string {
	t.Helper()
	var b strings.Builder
	for _, ev := range r.events {
		if ev.Slot != slot {
			continue
		}
		switch ev.Kind {
		case station.StepFinished:
			fmt.Fprintf(&b, "  step %s %s %s %s\n", ev.Step, ev.Result.Outcome, ev.Result.Code, ev.Result.Detail)
		case station.DeviceLine, station.ToolOutput, station.Note:
			fmt.Fprintf(&b, "  %s %s %q\n", ev.Step, ev.Dir, ev.Text)
		}
	}
	fmt.Fprintf(&b, "stderr:\n%s", r.stderr)
	return b.String()
}

// secrets returns every PSK the line's units and servers hold now, as
// the byte strings that must never appear in what the station wrote:
// lowercase and uppercase hex, and the raw bytes.
func (l *virtualLine) secrets(t *testing.T) [][]byte {
	t.Helper()
	var out [][]byte
	for _, u := range l.Units() {
		for _, tag := range []uint32{100, 101} {
			if k, ok := u.Credentials(tag)[3]; ok && k != "" {
				raw, err := hex.DecodeString(k)
				if err != nil {
					t.Fatalf("unit psk is not hex: %v", err)
				}
				out = append(out, []byte(strings.ToLower(k)), []byte(strings.ToUpper(k)), raw)
			}
		}
	}
	return out
}

// scanForSecrets fails the test if any secret occurs in any of the blobs.
func scanForSecrets(t *testing.T, secrets [][]byte, blobs map[string][]byte) {
	t.Helper()
	if len(secrets) == 0 {
		t.Fatal("no secrets to look for: the scan would prove nothing")
	}
	for name, blob := range blobs {
		for _, s := range secrets {
			if bytes.Contains(blob, s) {
				t.Errorf("%s contains a PSK (%d bytes)", name, len(s))
			}
		}
	}
}

// filesUnder reads every regular file below dir whose name matches one
// of the suffixes.
func filesUnder(t *testing.T, dir string, suffixes ...string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		for _, s := range suffixes {
			if strings.HasSuffix(path, s) {
				if b, err := os.ReadFile(path); err == nil {
					out[path] = b
				}
			}
		}
		return nil
	})
	return out
}
