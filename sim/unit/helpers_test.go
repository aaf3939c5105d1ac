package unit

import (
	"bytes"
	"errors"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.bug.st/serial"
)

// Test identity: the golden transcript's unit (modem-at.md §11).
const (
	testIMEI  = "352656100367872"
	testIMSI  = "204080813630037"
	testICCID = "8901234567012345678F"
	testUUID  = "25c95751-efa4-40d4-8b4a-1dcaab81fac9"
	testPSK   = "000102030405060708090a0b0c0d0e0f"
	waitLimit = 15 * time.Second // generous: -race on 2 cores
)

// instant makes every simulated delay zero: events happen at once.
func instant(time.Duration) time.Duration { return 0 }

// fast divides simulated time by 100.
func fast(d time.Duration) time.Duration { return d / 100 }

// logBuffer collects the unit's diagnostics; they are shown when the test
// fails.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Contains(l.b.String(), s)
}

func testLogger(t testing.TB) (*slog.Logger, *logBuffer) {
	lb := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			lb.mu.Lock()
			t.Logf("unit diagnostics:\n%s", lb.b.String())
			lb.mu.Unlock()
		}
	})
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

// testConfig is an AT host unit with the golden identity.
func testConfig(t testing.TB) Config {
	t.Helper()
	log, _ := testLogger(t)
	return Config{
		Index:     1,
		IMEI:      testIMEI,
		IMSI:      testIMSI,
		ICCID:     testICCID,
		UUID:      testUUID,
		StatePath: filepath.Join(t.TempDir(), "unit1.json"),
		Delay:     instant,
		NoApp:     true,
		Logger:    log,
	}
}

func mustStart(t testing.TB, cfg Config) *Unit {
	t.Helper()
	u, err := Start(cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := u.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return u
}

// term is the station's side: the pty slave opened with go.bug.st/serial.
type term struct {
	t   testing.TB
	p   serial.Port
	buf []byte
	err error // first read error (port closed)
}

func mustOpen(t testing.TB, path string) *term {
	t.Helper()
	p, err := serial.Open(path, &serial.Mode{BaudRate: 115200})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	if err := p.SetReadTimeout(50 * time.Millisecond); err != nil {
		t.Fatalf("set read timeout: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return &term{t: t, p: p}
}

func (c *term) send(s string) {
	c.t.Helper()
	if _, err := c.p.Write([]byte(s)); err != nil {
		c.t.Fatalf("write %q: %v", s, err)
	}
}

// fill reads once (≤ 50 ms); false once the port is closed.
func (c *term) fill() bool {
	if c.err != nil {
		return false
	}
	b := make([]byte, 4096)
	n, err := c.p.Read(b)
	c.buf = append(c.buf, b[:n]...)
	if err != nil {
		c.err = err
		return false
	}
	return true
}

// expect reads exactly len(want) bytes and compares them byte for byte.
func (c *term) expect(want string) {
	c.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for len(c.buf) < len(want) && time.Now().Before(deadline) && c.fill() {
	}
	n := min(len(want), len(c.buf))
	got := string(c.buf[:n])
	c.buf = c.buf[n:]
	if got != want {
		c.t.Fatalf("received\n%q\nwant\n%q", got, want)
	}
}

// waitFor reads until sub has arrived; it returns everything up to and
// including the end of the line holding sub, and keeps the rest.
func (c *term) waitFor(sub string) string {
	c.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		if i := bytes.Index(c.buf, []byte(sub)); i >= 0 {
			end := i + len(sub) - 1
			if j := bytes.IndexByte(c.buf[end:], '\n'); j >= 0 {
				end += j + 1
				out := string(c.buf[:end])
				c.buf = c.buf[end:]
				return out
			}
		}
		if !time.Now().Before(deadline) || !c.fill() {
			c.t.Fatalf("%q did not arrive; got %q (err %v)", sub, c.buf, c.err)
		}
	}
}

// quiet reads for d and returns what arrived (used where the unit must
// stay silent).
func (c *term) quiet(d time.Duration) []byte {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && c.fill() {
	}
	out := c.buf
	c.buf = nil
	return out
}

// closed waits until a read reports the port gone.
func (c *term) closed() error {
	c.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for c.fill() {
		if !time.Now().Before(deadline) {
			c.t.Fatal("port still open")
		}
	}
	return c.err
}

// cmd sends an AT command (CRLF) and expects exactly resp.
func (c *term) cmd(at, resp string) {
	c.t.Helper()
	c.send(at + "\r\n")
	c.expect(resp)
}

var ansiRE = regexp.MustCompile("\x1b\\[[0-9;?]*[ -/]*[@-~]")

func stripANSI(s string) string { return ansiRE.ReplaceAllString(s, "") }

var logRE = regexp.MustCompile(`^(?:uart:~\$ )?\[\d\d:\d\d:\d\d\.\d\d\d,\d\d\d\] <(err|wrn|inf|dbg)> ([a-z0-9_]+): (.*)$`)

// logMessages extracts "<lvl> module: msg" from the Zephyr log lines in s.
// In the shell a log line follows the erased prompt, so with the escapes
// stripped the prompt text is still in front of it.
func logMessages(s string) []string {
	var out []string
	for _, l := range strings.Split(stripANSI(s), "\r\n") {
		if m := logRE.FindStringSubmatch(l); m != nil {
			out = append(out, "<"+m[1]+"> "+m[2]+": "+m[3])
		}
	}
	return out
}

func isPortClosed(err error) bool {
	var pe *serial.PortError
	if errors.As(err, &pe) {
		return pe.Code() == serial.PortClosed
	}
	return err != nil // EIO after hang-up
}

// final reads lines until a final result line (OK, ERROR, +CME ERROR: n)
// and returns everything read.
func (c *term) final() string {
	c.t.Helper()
	var out strings.Builder
	for {
		l := c.waitFor("\n")
		out.WriteString(l)
		l = strings.TrimRight(l, "\r\n")
		if l == "OK" || l == "ERROR" || strings.HasPrefix(l, "+CME ERROR: ") {
			return out.String()
		}
	}
}
