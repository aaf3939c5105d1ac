package faketool

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"nrfline/sim/flashctl"
)

// The test binary doubles as the fake tools: the scripts exec it with
// NRFLINE_FAKE_TOOL set, and Dispatch turns it into nrfjprog or nrfutil.
func TestMain(m *testing.M) {
	Dispatch()
	os.Exit(m.Run())
}

// recUnit records the calls the virtual probe makes, in order.
type recUnit struct {
	mu    sync.Mutex
	calls []string
}

var _ flashctl.Unit = (*recUnit)(nil)

func (u *recUnit) add(s string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.calls = append(u.calls, s)
}
func (u *recUnit) Halt()           { u.add("halt") }
func (u *recUnit) Erase(chip bool) { u.add(fmt.Sprintf("erase chip=%v", chip)) }
func (u *recUnit) Program(size int, sha string) {
	u.add(fmt.Sprintf("program %d %s", size, sha))
}
func (u *recUnit) Reset()  { u.add("reset") }
func (u *recUnit) Unplug() { u.add("unplug") }
func (u *recUnit) Calls() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.calls)
}

// vline is a virtual line: a control server with probes and the scripts.
type vline struct {
	srv    *flashctl.Server
	jprog  string
	util   string
	socket string
}

const testSerial = "001051200001"

func mustLine(tb testing.TB, probes ...*flashctl.Probe) *vline {
	tb.Helper()
	dir := tb.TempDir()
	sock := filepath.Join(dir, "control.sock")
	srv := flashctl.NewServer(probes, func(d time.Duration) time.Duration { return d / 1000 }, nil)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeListener(ln) }()
	tb.Cleanup(func() {
		if err := srv.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
		if err := <-done; err != nil {
			tb.Errorf("serve: %v", err)
		}
	})
	jp, nu, err := WriteScripts(filepath.Join(dir, "bin"), mustExe(tb), sock)
	if err != nil {
		tb.Fatalf("WriteScripts: %v", err)
	}
	return &vline{srv: srv, jprog: jp, util: nu, socket: sock}
}

// oneUnit is a line with one probe and the given faults.
func oneUnit(tb testing.TB, f flashctl.Faults) (*vline, *recUnit) {
	u := &recUnit{}
	l := mustLine(tb, &flashctl.Probe{Serial: testSerial, Port: "/dev/pts/91", Port2: "/dev/pts/92", Unit: u, Faults: f})
	return l, u
}

type runResult struct {
	stdout, stderr string
	code           int
}

func (r runResult) outLines() []string { return splitLines(r.stdout) }
func (r runResult) errLines() []string { return splitLines(r.stderr) }

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// run executes a script as a real process.
func run(tb testing.TB, script string, args ...string) runResult {
	tb.Helper()
	cmd := exec.CommandContext(tb.Context(), script, args...)
	// A race-enabled child otherwise sleeps 1 s at a clean exit.
	cmd.Env = append(os.Environ(), "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		tb.Fatalf("run %s: %v", script, err)
	}
	return runResult{stdout: out.String(), stderr: errb.String(), code: code}
}

// hexRecord encodes one Intel HEX record.
func hexRecord(typ byte, addr uint16, data []byte) string {
	raw := append([]byte{byte(len(data)), byte(addr >> 8), byte(addr), typ}, data...)
	var sum byte
	for _, b := range raw {
		sum += b
	}
	raw = append(raw, -sum)
	return ":" + strings.ToUpper(hex.EncodeToString(raw))
}

// makeHex builds an Intel HEX file (16-byte data records, extended linear
// address records as needed).
func makeHex(segs map[uint32][]byte) []byte {
	addrs := make([]uint32, 0, len(segs))
	for a := range segs {
		addrs = append(addrs, a)
	}
	sort.Slice(addrs, func(i, j int) bool { return addrs[i] < addrs[j] })
	var lines []string
	high := uint32(0)
	for _, a := range addrs {
		data := segs[a]
		for off := 0; off < len(data); off += 16 {
			addr := a + uint32(off)
			if addr>>16 != high {
				high = addr >> 16
				lines = append(lines, hexRecord(4, 0, []byte{byte(high >> 8), byte(high)}))
			}
			lines = append(lines, hexRecord(0, uint16(addr), data[off:min(off+16, len(data))]))
		}
	}
	lines = append(lines, ":00000001FF")
	return []byte(strings.Join(lines, "\r\n") + "\r\n")
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

// appHex writes a 32 KiB application image at 0 and returns path, data, sha.
func appHex(tb testing.TB) (string, []byte, string) {
	tb.Helper()
	data := pattern(32<<10, 3)
	file := makeHex(map[uint32][]byte{0: data})
	p := filepath.Join(tb.TempDir(), "app.hex")
	if err := os.WriteFile(p, file, 0o644); err != nil {
		tb.Fatal(err)
	}
	sum := sha256.Sum256(file)
	return p, data, hex.EncodeToString(sum[:])
}

func writeFile(tb testing.TB, name, body string) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

func assertLines(tb testing.TB, what string, got, want []string) {
	tb.Helper()
	if !slices.Equal(got, want) {
		tb.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

func TestWriteScripts(t *testing.T) {
	dir := t.TempDir()
	jp, nu, err := WriteScripts(filepath.Join(dir, "bin"), "/opt/it's here/station", "/run/sim/control.sock")
	if err != nil {
		t.Fatal(err)
	}
	for tool, p := range map[string]string{Nrfjprog: jp, Nrfutil: nu} {
		if p != filepath.Join(dir, "bin", tool) {
			t.Errorf("%s written to %s", tool, p)
		}
		body, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		want := "#!/bin/sh\nNRFLINE_FAKE_TOOL=" + tool +
			" NRFLINE_SIM_CONTROL='/run/sim/control.sock' exec '/opt/it'\\''s here/station' \"$@\"\n"
		if string(body) != want {
			t.Errorf("%s script\n got %q\nwant %q", tool, body, want)
		}
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o755 {
			t.Errorf("%s mode %v", tool, fi.Mode())
		}
	}
}

func TestMainUnknownTool(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main("jlinkexe", nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), "unknown tool") {
		t.Errorf("code %d stderr %q", code, errb.String())
	}
}

func mustExe(tb testing.TB) string {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	return exe
}
