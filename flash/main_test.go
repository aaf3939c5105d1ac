package flash

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nrfline/station"
)

// The test binary doubles as the flash tool: with FAKE_FLASH_SCRIPT set it
// records its argv, plays back the script's output and exit code, and
// exits. FAKE_FLASH_CHILD makes it a helper the fake leaves behind.
func TestMain(m *testing.M) {
	if os.Getenv("FAKE_FLASH_CHILD") != "" {
		os.Exit(fakeChild())
	}
	if script := os.Getenv("FAKE_FLASH_SCRIPT"); script != "" {
		os.Exit(fakeTool(script))
	}
	os.Exit(m.Run())
}

// fakeScript is what one run of the fake tool does.
type fakeScript struct {
	ArgvFile  string `json:"argv_file"` // each run appends its argv as one JSON line
	PIDFile   string `json:"pid_file"`  // the tool's pid
	Stdout    string `json:"stdout"`    // raw bytes
	Stderr    string `json:"stderr"`
	Exit      int    `json:"exit"`
	Hang      bool   `json:"hang"`       // after the output, wait to be stopped
	IgnoreInt bool   `json:"ignore_int"` // ignore SIGINT
	ChildPID  string `json:"child_pid"`  // start a helper that holds stdout open and ignores SIGINT; its pid goes here
}

func fakeTool(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake tool:", err)
		return 99
	}
	var s fakeScript
	if err := json.Unmarshal(b, &s); err != nil {
		fmt.Fprintln(os.Stderr, "fake tool:", err)
		return 99
	}
	if s.IgnoreInt {
		signal.Ignore(os.Interrupt)
	}
	if err := fakeRecord(s); err != nil {
		fmt.Fprintln(os.Stderr, "fake tool:", err)
		return 99
	}
	os.Stdout.WriteString(s.Stdout)
	os.Stderr.WriteString(s.Stderr)
	if s.Hang {
		time.Sleep(time.Hour)
	}
	return s.Exit
}

func fakeRecord(s fakeScript) error {
	if s.ArgvFile != "" {
		line, _ := json.Marshal(os.Args[1:])
		f, err := os.OpenFile(s.ArgvFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		if _, err := f.Write(append(line, '\n')); err != nil {
			return err
		}
	}
	if s.ChildPID != "" {
		child := exec.Command(os.Args[0])
		child.Env = append(os.Environ(), "FAKE_FLASH_SCRIPT=", "FAKE_FLASH_CHILD=1")
		child.Stdout = os.Stdout // the helper keeps the tool's stdout open
		if err := child.Start(); err != nil {
			return err
		}
		if err := os.WriteFile(s.ChildPID, fmt.Appendf(nil, "%d", child.Process.Pid), 0o600); err != nil {
			return err
		}
	}
	if s.PIDFile != "" {
		return os.WriteFile(s.PIDFile, fmt.Appendf(nil, "%d", os.Getpid()), 0o600)
	}
	return nil
}

func fakeChild() int {
	signal.Ignore(os.Interrupt)
	time.Sleep(time.Hour)
	return 0
}

// fake is one test's fake tool.
type fake struct {
	t      *testing.T
	dir    string
	script string
	exe    string
}

// newFake writes the script and points the fake tool at it. Tests using it
// cannot run in parallel (t.Setenv).
func newFake(t *testing.T, s fakeScript) *fake {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f := &fake{t: t, dir: t.TempDir(), exe: exe}
	f.script = filepath.Join(f.dir, "script.json")
	f.set(s)
	t.Setenv("FAKE_FLASH_SCRIPT", f.script)
	// A race-enabled binary sleeps 1 s on a clean exit; the fake need not.
	t.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	return f
}

// set replaces the script for the next runs.
func (f *fake) set(s fakeScript) {
	f.t.Helper()
	s.ArgvFile = filepath.Join(f.dir, "argv")
	b, err := json.Marshal(s)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(f.script, b, 0o600); err != nil {
		f.t.Fatal(err)
	}
}

// argv is every recorded command line so far.
func (f *fake) argv() [][]string {
	f.t.Helper()
	file, err := os.Open(filepath.Join(f.dir, "argv"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	defer file.Close()
	var out [][]string
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		var a []string
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func testConfig(tool string) station.FlashConfig {
	return station.FlashConfig{Tool: tool, Erase: "chip", Verify: true, Recover: true, Timeout: station.Duration{Duration: 30 * time.Second}}
}

// flasher is what both tools offer.
type flasher interface {
	station.Flasher
	Version(ctx context.Context) (string, error)
	List(ctx context.Context) ([]string, error)
	runner() *Runner
}

func (n *Nrfjprog) runner() *Runner { return n.run }
func (u *Nrfutil) runner() *Runner  { return u.run }

// newTool builds the named tool on the fake binary.
func newTool(t *testing.T, f *fake, cfg station.FlashConfig) flasher {
	t.Helper()
	if cfg.Tool == "nrfutil" {
		return NewNrfutil(f.exe, cfg, testLogger(t))
	}
	return NewNrfjprog(f.exe, cfg, testLogger(t))
}

// mustFirmware writes a small valid image and checks it.
func mustFirmware(tb testing.TB) station.Firmware {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "app.hex")
	src := encodeHex([]Segment{{Addr: 0, Data: []byte(strings.Repeat("nrf91 app ", 40))}, {Addr: 0x00FF8000, Data: []byte{1, 2, 3, 4}}})
	if err := os.WriteFile(path, src, 0o600); err != nil {
		tb.Fatal(err)
	}
	fw, err := CheckImage(path, "")
	if err != nil {
		tb.Fatal(err)
	}
	return fw
}
