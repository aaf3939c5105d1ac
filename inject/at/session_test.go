package at

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.bug.st/serial"

	"nrfline/inject/at/attest"
	"nrfline/station"
)

// TestShellMode drives a Zephyr shell: coloured prompt, echo, "\r\r\n",
// a log line printed in the middle of a command with the shell's erase
// sequence, and a command long enough for the echo to wrap at 80 columns.
func TestShellMode(t *testing.T) {
	p := attest.NewPeer(t)
	s, tr := mustOpen(t, p, testConfig(ModeShell))
	long := `AT%CMNG=0,100,4,"urn:imei:352656100367872-with-a-very-long-suffix-to-wrap-the-echo"`
	h := func(cmd string) attest.Reply {
		switch cmd {
		case "AT":
			return attest.OK()
		case "AT+CGMR":
			logLine := "\x1b[8D\x1b[J" + attest.LogLine("00:00:01.000,000", "inf", "app", "tick") + attest.PromptBytes
			return attest.Reply{Raw: logLine + "mfw_nrf91x1_2.0.2\r\r\nOK\r\r\n"}
		case long:
			return attest.OK()
		}
		return attest.Err("ERROR")
	}
	serve(p, true, h)
	ctx := ctxT(t)
	p.Write(attest.PromptBytes)
	if err := s.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	r, err := s.Command(ctx, "AT+CGMR")
	if err != nil {
		t.Fatalf("AT+CGMR: %v", err)
	}
	equalLines(t, "AT+CGMR lines", r.Lines, []string{"mfw_nrf91x1_2.0.2"})
	if _, err := s.Command(ctx, long); err != nil {
		t.Fatalf("long command: %v", err)
	}
	if _, err := s.Command(ctx, "AT+FOO"); !errors.Is(err, ErrError) {
		t.Errorf("AT+FOO: got %v, want ERROR", err)
	}
	want := []string{
		"tx: at 'AT'", "rx: OK",
		"tx: at 'AT+CGMR'", "log: [00:00:01.000,000] <inf> app: tick", "rx: mfw_nrf91x1_2.0.2", "rx: OK",
		"tx: " + ShellLine(long), "rx: OK",
		"tx: at 'AT+FOO'", "rx: ERROR",
	}
	equalLines(t, "transcript", tr.all(), want)
	if !strings.HasPrefix(p.Raw(), "\f\x15at 'AT'\r\n") {
		t.Errorf("Ready in shell mode must clear the line first, sent %q", p.Raw())
	}
}

// TestAutoDetect: `at AT` answered OK is a shell, ERROR the AT host.
func TestAutoDetect(t *testing.T) {
	for _, tc := range []struct {
		name  string
		shell bool
		sent  string
	}{
		{"shell", true, "\f\x15at AT\r\nat 'AT+CGMM'\r\n"},
		{"at host", false, "\f\x15at AT\r\nAT\r\nAT+CGMM\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := attest.NewPeer(t)
			s, _ := mustOpen(t, p, testConfig(ModeAuto))
			serve(p, tc.shell, func(cmd string) attest.Reply {
				switch cmd {
				case "AT":
					return attest.OK()
				case "AT+CGMM":
					return attest.OK("nRF9151-LACA")
				}
				return attest.Err("ERROR")
			})
			ctx := ctxT(t)
			if err := s.Ready(ctx); err != nil {
				t.Fatalf("Ready: %v", err)
			}
			if s.Shell() != tc.shell {
				t.Errorf("Shell() = %v, want %v", s.Shell(), tc.shell)
			}
			r, err := s.Command(ctx, "AT+CGMM")
			if err != nil || len(r.Lines) != 1 || r.Lines[0] != "nRF9151-LACA" {
				t.Errorf("AT+CGMM = %v, %v", r.Lines, err)
			}
			if got := p.Raw(); got != tc.sent {
				t.Errorf("sent %q, want %q", got, tc.sent)
			}
		})
	}
}

// TestResponseSeparation: URCs and log lines between response lines are
// not part of the answer; an OK inside quoted content is not final.
func TestResponseSeparation(t *testing.T) {
	pem := "-----BEGIN CERTIFICATE-----\r\nMIIBOKAAOK==\r\nOK\r\n-----END CERTIFICATE-----\r\n"
	for _, tc := range []struct {
		name, cmd, raw string
		lines, logs    []string
	}{
		{"urc between list lines", "AT%CMNG=1",
			"%CMNG: 100,3,\"" + keyDigest + "\"\r\n" + ceregURC + "\r\n[00:00:02.000,000] \x1b[1;33m<wrn> app: hm\x1b[0m\r\n%CMNG: 100,4,\"" + idDigest + "\"\r\nOK\r\n",
			[]string{"%CMNG: 100,3,\"" + keyDigest + "\"", "%CMNG: 100,4,\"" + idDigest + "\""},
			[]string{ceregURC, "[00:00:02.000,000] <wrn> app: hm"}},
		{"urc before bare digits", "AT+CGSN", "%XSIM: 1\r\n352656100367872\r\nOK\r\n",
			[]string{"352656100367872"}, []string{"%XSIM: 1"}},
		{"banner before bare text", "AT+CGMR", "*** Booting nRF Connect SDK v3.1.0 ***\r\nReady\r\nmfw_nrf91x1_2.0.2\r\nOK\r\n",
			[]string{"mfw_nrf91x1_2.0.2"}, []string{"*** Booting nRF Connect SDK v3.1.0 ***", "Ready"}},
		{"OK inside quoted content", "AT%CMNG=2,16842753,0", "%CMNG: 16842753,0,\"" + keyDigest + "\",\"" + pem + "\"\r\nOK\r\n",
			[]string{"%CMNG: 16842753,0,\"" + keyDigest + "\",\"-----BEGIN CERTIFICATE-----", "MIIBOKAAOK==", "OK", "-----END CERTIFICATE-----", "\""},
			nil},
		{"prefix is not substring", "AT+CFUN?", "X+CFUN: 1\r\n+CFUN: 4\r\nOK\r\n", []string{"+CFUN: 4"}, []string{"X+CFUN: 1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := attest.NewPeer(t)
			s, tr := mustOpen(t, p, testConfig(ModeAT))
			serve(p, false, func(string) attest.Reply { return attest.Reply{Raw: tc.raw} })
			r, err := s.Command(ctxT(t), tc.cmd)
			if err != nil {
				t.Fatalf("%s: %v", tc.cmd, err)
			}
			equalLines(t, "lines", r.Lines, tc.lines)
			var logs []string
			for _, l := range tr.all() {
				if v, ok := strings.CutPrefix(l, "log: "); ok {
					logs = append(logs, v)
				}
			}
			equalLines(t, "log lines", logs, tc.logs)
		})
	}
}

// TestFinalResults: every final result form gives its typed error.
func TestFinalResults(t *testing.T) {
	for _, tc := range []struct {
		final string
		check func(error) bool
		text  string
	}{
		{"OK", func(e error) bool { return e == nil }, ""},
		{"ERROR", func(e error) bool { return errors.Is(e, ErrError) }, "ERROR"},
		{"+CME ERROR: 513", func(e error) bool { return IsCME(e, CMENotFound) }, "+CME ERROR: 513 (not found)"},
		{"+CME ERROR: 515", func(e error) bool { return IsCME(e, CMEMemoryFull) }, "memory full"},
		{"+CME ERROR: 518", func(e error) bool { return IsCME(e, CMENotAllowed) }, "not allowed in active state"},
		{"+CME ERROR: 9999", func(e error) bool { return IsCME(e, 9999) }, "+CME ERROR: 9999"},
		{"+CMS ERROR: 500", func(e error) bool { var c *CMSError; return errors.As(e, &c) && c.Code == 500 }, "+CMS ERROR: 500"},
	} {
		t.Run(tc.final, func(t *testing.T) {
			p := attest.NewPeer(t)
			s, _ := mustOpen(t, p, testConfig(ModeAT))
			serve(p, false, func(string) attest.Reply { return attest.Err(tc.final) })
			_, err := s.Command(ctxT(t), "AT%CMNG=3,100,3")
			if !tc.check(err) {
				t.Fatalf("got %v (%T)", err, err)
			}
			if err != nil && (!strings.Contains(err.Error(), tc.text) || !ResultError(err)) {
				t.Errorf("error %q: want text %q and a result error", err, tc.text)
			}
			if station.CodeOf(err) != station.CodeNone && err != nil && station.Classify(err).Code != station.Internal {
				t.Errorf("a result error must stay unclassified here, got %s", station.CodeOf(err))
			}
		})
	}
}

// TestShellRefusals: the AT shell's own failure line ends a command; the
// shell refusing the line (no final result, prompt back) ends it at once.
func TestShellRefusals(t *testing.T) {
	for _, tc := range []struct {
		name  string
		raw   string
		check func(error) bool
	}{
		{"library failure", "\x1b[1;31mSending AT command failed with error code -8\r\r\n\x1b[m",
			func(err error) bool { var se *ShellError; return errors.As(err, &se) && se.Code == -8 }},
		{"not terminated", "\x1b[1;31mnot terminated: '\r\r\n\x1b[m",
			func(err error) bool { return errors.Is(err, ErrNoResult) && ResultError(err) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := attest.NewPeer(t)
			cfg := testConfig(ModeShell)
			cfg.CommandTimeout.Duration = time.Minute // waiting for it would hang the test
			s, _ := mustOpen(t, p, cfg)
			serve(p, true, func(string) attest.Reply { return attest.Reply{Raw: tc.raw} })
			if _, err := s.Command(ctxT(t), "AT+CGSN"); !tc.check(err) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

// TestUnplugMidCommand: the device vanishes while a command waits: the
// command fails at once as UNIT_UNPLUGGED (not after its timeout), with
// the serial library's error reachable.
func TestUnplugMidCommand(t *testing.T) {
	p := attest.NewPeer(t)
	cfg := testConfig(ModeAT)
	cfg.CommandTimeout.Duration = time.Minute // a hang would show as MODEM_TIMEOUT or a test timeout
	s, _ := mustOpen(t, p, cfg)
	if s.Gone() {
		t.Fatal("a fresh session reports its port gone")
	}
	serve(p, false, func(string) attest.Reply { return attest.Reply{Raw: "352656", After: p.Unplug} })
	_, err := s.Command(ctxT(t), "AT+CGSN")
	if !s.Gone() {
		t.Error("after the unplug the session does not report its port gone")
	}
	if station.CodeOf(err) != station.UnitUnplugged {
		t.Fatalf("got %v, want UNIT_UNPLUGGED", err)
	}
	var ue *UnplugError
	var pe *serial.PortError
	var errno syscall.Errno // EIO: the kernel may report the hangup either way
	if !errors.As(err, &ue) || !(errors.As(err, &pe) || errors.As(err, &errno)) {
		t.Errorf("error %v must hold *UnplugError and the serial library's error", err)
	}
	if _, err := s.Command(ctxT(t), "AT"); station.CodeOf(err) != station.UnitUnplugged {
		t.Errorf("command after unplug: got %v, want UNIT_UNPLUGGED", err)
	}
	if err := s.Follow(ctxT(t), nil, func(LogLine) bool { return false }); station.CodeOf(err) != station.UnitUnplugged {
		t.Errorf("follow after unplug: got %v, want UNIT_UNPLUGGED", err)
	}
}

// TestReadyFailures: a silent device is MODEM_NOT_READY, one that sends
// only noise MODEM_GARBLED, one that answers AT late but within the budget
// is ready (boot banner and dropped probes tolerated).
func TestReadyFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		budget time.Duration
		device func(p *attest.Peer)
		want   station.Code
	}{
		{"silent", 2 * time.Second, func(p *attest.Peer) {}, station.ModemNotReady},
		{"garbage", 2 * time.Second, func(p *attest.Peer) {
			go func() {
				tick := time.NewTicker(50 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-p.Done():
						return
					case <-tick.C:
						p.Write("\x8f\xa3\xfe\x81\xc7\xd2\x99\xe1\xff\x80\xb6\r\n\x9a\x9b\xe5\xf0\xc3\x90")
					}
				}
			}()
		}, station.ModemGarbled},
		{"answers after two lost probes", 20 * time.Second, func(p *attest.Peer) {
			go func() {
				n := 0
				for {
					l, ok := p.Next(time.Hour)
					if !ok {
						return
					}
					n++
					if n == 2 {
						p.Write(bootBanner)
					}
					if n >= 3 && l == "AT" {
						p.Write("OK\r\n")
					}
				}
			}()
		}, station.CodeNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := attest.NewPeer(t)
			cfg := testConfig(ModeAT)
			cfg.ReadyTimeout.Duration = tc.budget
			s, tr := mustOpen(t, p, cfg)
			tc.device(p)
			err := s.Ready(ctxT(t))
			if got := station.CodeOf(err); got != tc.want {
				t.Fatalf("Ready: got %v (%s), want %s", err, got, tc.want)
			}
			if tc.want == station.CodeNone {
				if !containsLine(tr.all(), "log: Ready") {
					t.Errorf("boot banner not observed: %q", tr.all())
				}
			}
		})
	}
}

func containsLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

// TestCommandTimeout: no final result within command_timeout.
func TestCommandTimeout(t *testing.T) {
	p := attest.NewPeer(t)
	cfg := testConfig(ModeAT)
	cfg.CommandTimeout.Duration = 300 * time.Millisecond
	s, _ := mustOpen(t, p, cfg)
	serve(p, false, func(string) attest.Reply { return attest.Reply{Raw: "352656100367872\r\n"} })
	_, err := s.Command(ctxT(t), "AT+CGSN")
	if station.CodeOf(err) != station.ModemTimeout {
		t.Fatalf("got %v, want MODEM_TIMEOUT", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Command(ctx, "AT+CGSN"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: got %v", err)
	}
}

// TestSecretNeverObserved: a command carrying a PSK shows the key nowhere:
// not in observe (tx, echo, device lines that repeat it), not in errors.
func TestSecretNeverObserved(t *testing.T) {
	const key = "8c3f1e0b9a7d6c5b4a39281706f5e4d38c3f1e0b9a7d6c5b4a39281706f5e4d3" // 32 bytes: the echo wraps inside it
	cmd := `AT%CMNG=0,100,3,"` + key + `"`
	for _, tc := range []struct {
		name  string
		shell bool
		reply string
	}{
		{"at host ok", false, "OK"},
		{"at host 515", false, "+CME ERROR: 515"},
		{"shell ok", true, "OK"},
		{"shell 518", true, "+CME ERROR: 518"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := attest.NewPeer(t)
			mode := ModeAT
			if tc.shell {
				mode = ModeShell
			}
			s, tr := mustOpen(t, p, testConfig(mode))
			serve(p, tc.shell, func(c string) attest.Reply {
				if c != cmd {
					t.Errorf("device got %q", c)
				}
				// a misbehaving device that repeats (part of) the key
				return attest.Reply{Lines: []string{"debug: " + key, "half " + key[10:30]}, Final: tc.reply}
			})
			_, err := s.CommandSecret(ctxT(t), cmd, key)
			if (tc.reply == "OK") != (err == nil) {
				t.Fatalf("CommandSecret: %v", err)
			}
			leaks := func(s string) bool {
				for i := 0; i+8 <= len(key); i++ {
					if strings.Contains(s, key[i:i+8]) {
						return true
					}
				}
				return false
			}
			for _, l := range tr.all() {
				if leaks(l) {
					t.Errorf("observed line leaks the key: %q", l)
				}
			}
			if err != nil && leaks(err.Error()) {
				t.Errorf("error leaks the key: %v", err)
			}
			if !strings.Contains(p.Raw(), key) {
				t.Errorf("the device must get the real key")
			}
			if !containsLine(tr.all(), "tx: "+strings.Replace(p.Commands()[0], key, "<redacted sha256:"+station.HexDigest(key)+">", 1)) {
				t.Errorf("tx line missing or not redacted: %q", tr.all())
			}
		})
	}
}

// TestLateEchoOfSecret: a key sent by a command that timed out can still
// be echoed later (a slow shell, a device that repeats it in a log line).
// Whatever observes it afterwards (the idle pump, the next command, Follow
// and what Follow hands on) gets it redacted.
func TestLateEchoOfSecret(t *testing.T) {
	const key = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
	cmd := `AT%CMNG=0,100,3,"` + key + `"`
	p := attest.NewPeer(t)
	cfg := testConfig(ModeAT)
	cfg.CommandTimeout.Duration = 300 * time.Millisecond
	s, tr := mustOpen(t, p, cfg)
	serve(p, false, func(c string) attest.Reply {
		if c == cmd {
			return attest.Reply{Drop: true}
		}
		return attest.OK()
	})
	ctx := ctxT(t)
	if _, err := s.CommandSecret(ctx, cmd, key); station.CodeOf(err) != station.ModemTimeout {
		t.Fatalf("CommandSecret: got %v, want MODEM_TIMEOUT", err)
	}
	p.Write("late echo " + cmd + "\r\n")
	time.Sleep(3 * idlePoll) // the pump shows it while nothing runs
	p.Write("debug: " + key[5:50] + "\r\n")
	if _, err := s.Command(ctx, "AT"); err != nil {
		t.Fatalf("AT: %v", err)
	}
	var handed []string
	start := func(context.Context) error {
		p.Write("again " + key + "\r\nmarker\r\n")
		return nil
	}
	err := s.Follow(ctx, start, func(l LogLine) bool {
		handed = append(handed, l.Text)
		return l.Text == "marker"
	})
	if err != nil {
		t.Fatalf("Follow: %v", err)
	}
	s.Close()
	observed := tr.all()
	if len(observed) < 6 {
		t.Fatalf("too little observed to judge: %q", observed)
	}
	for _, l := range append(observed, handed...) {
		for i := 0; i+8 <= len(key); i++ {
			if strings.Contains(l, key[i:i+8]) {
				t.Fatalf("line leaks the key: %q", l)
			}
		}
	}
	mark := "<redacted sha256:" + station.HexDigest(key) + ">"
	if !containsLine(handed, "again "+mark) {
		t.Errorf("Follow handed on %q, want the line with the key redacted", handed)
	}
}

// TestFollowAcrossReboot: Follow sees the reboot's log and the session
// keeps working on the same port afterwards.
func TestFollowAcrossReboot(t *testing.T) {
	p := attest.NewPeer(t)
	s, tr := mustOpen(t, p, testConfig(ModeAT))
	d := serve(p, false, func(cmd string) attest.Reply { return attest.OK() })
	_ = d
	p.Write("old line before the watch\r\n")
	ctx := ctxT(t)
	if _, err := s.Command(ctx, "AT"); err != nil {
		t.Fatal(err)
	}
	var seen []string
	start := func(context.Context) error {
		p.Write(bootBanner + attest.LogLine("00:00:00.251,831", "inf", "app_lwm2m_client", "Run LWM2M client"))
		return nil
	}
	err := s.Follow(ctx, start, func(l LogLine) bool {
		seen = append(seen, l.Text)
		return strings.Contains(l.Text, "Run LWM2M client")
	})
	if err != nil {
		t.Fatalf("Follow: %v", err)
	}
	equalLines(t, "followed", seen, []string{
		"*** Booting nRF Connect SDK v3.1.0-6c6e5b32496e ***", "*** Using Zephyr OS v4.1.99-1612683d4010 ***",
		"The AT host sample started", "Ready", "[00:00:00.251,831] <inf> app_lwm2m_client: Run LWM2M client"})
	if _, err := s.Command(ctx, "AT+CFUN=4"); err != nil {
		t.Fatalf("command after the reboot: %v", err)
	}
	if !containsLine(tr.all(), "log: old line before the watch") {
		t.Errorf("lines before the watch must still be observed")
	}
	fctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := s.Follow(fctx, nil, func(LogLine) bool { return false }); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Follow until ctx ends: got %v", err)
	}
}

// TestOpenErrors: what cannot be opened is classified.
func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "not-a-tty")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		path string
		cfg  func(*station.ModemConfig)
		want station.Code
	}{
		{"missing", filepath.Join(dir, "ttyACM9"), nil, station.UnitUnplugged},
		{"not a tty", file, nil, station.PortUnavailable},
		{"rtscts", file, func(c *station.ModemConfig) { c.RTSCTS = true }, station.PortUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(ModeAT)
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			s, err := Open(context.Background(), tc.path, cfg, nil)
			if err == nil {
				s.Close()
			}
			if got := station.CodeOf(err); got != tc.want {
				t.Fatalf("got %v (%s), want %s", err, got, tc.want)
			}
		})
	}
}

// TestOpenBusy: a port another program holds exclusively is
// PORT_UNAVAILABLE with operator text (root bypasses TIOCEXCL).
func TestOpenBusy(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores TIOCEXCL: the port never looks busy")
	}
	p := attest.NewPeer(t)
	mustOpen(t, p, testConfig(ModeAT))
	_, err := Open(context.Background(), p.Path, testConfig(ModeAT), nil)
	var pe *serial.PortError
	if station.CodeOf(err) != station.PortUnavailable || !errors.As(err, &pe) || pe.Code() != serial.PortBusy {
		t.Fatalf("got %v, want PORT_UNAVAILABLE busy", err)
	}
	if !strings.Contains(err.Error(), "busy") {
		t.Errorf("operator text missing: %v", err)
	}
}

// TestPtyModemBits pins what go.bug.st/serial v1.8.0 does on a pty (the
// virtual line): with InitialStatusBits the open fails as
// InvalidSerialPort (TIOCMGET: ENOTTY), so Open retries without them and
// the session works.
func TestPtyModemBits(t *testing.T) {
	p := attest.NewPeer(t)
	port, err := serial.Open(p.Path, &serial.Mode{BaudRate: 115200, InitialStatusBits: &serial.ModemOutputBits{DTR: true, RTS: true}})
	var pe *serial.PortError
	if err == nil {
		port.Close()
		t.Log("this pty accepts the modem-bit ioctls")
	} else if !errors.As(err, &pe) || pe.Code() != serial.InvalidSerialPort {
		t.Fatalf("serial.Open with modem bits on a pty: %v", err)
	}
	s, _ := mustOpen(t, p, testConfig(ModeAT))
	serve(p, false, func(string) attest.Reply { return attest.OK() })
	if err := s.Ready(ctxT(t)); err != nil {
		t.Fatalf("Ready on a pty: %v", err)
	}
}

// TestAwaitLineSeesAURCThePumpShowed: a URC that arrives while no call
// runs is shown by the pump as a log line; a wait that starts afterwards,
// from a mark taken before, still gets it instead of waiting it out.
func TestAwaitLineSeesAURCThePumpShowed(t *testing.T) {
	p := attest.NewPeer(t)
	s, tr := mustOpen(t, p, testConfig(ModeAT))
	mark := s.Mark()
	p.Write("%XSIM: 1\r\n")
	for deadline := time.Now().Add(10 * time.Second); !slices.Contains(tr.all(), station.DirLog+": %XSIM: 1"); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the pump never showed the URC: %q", tr.all())
		}
	}
	isXSIM := func(l string) bool { return strings.HasPrefix(l, "%XSIM:") }
	line, ok, err := s.AwaitLine(ctxT(t), mark, 5*time.Second, isXSIM)
	if err != nil || !ok || line != "%XSIM: 1" {
		t.Fatalf("AwaitLine: %q %v %v", line, ok, err)
	}
	// From a mark after it, that URC is past: the wait runs out.
	if line, ok, err := s.AwaitLine(ctxT(t), s.Mark(), 50*time.Millisecond, isXSIM); ok || err != nil {
		t.Fatalf("AwaitLine after a new mark: %q %v %v", line, ok, err)
	}
}

// urcLog keeps the last 16 URC-like lines, numbered; since sees only those
// after the mark that are still kept, and nothing that is not a URC.
func TestURCLogKeepsTheLatest(t *testing.T) {
	var u urcLog
	u.add("OK")
	u.add("ordinary log line")
	if u.mark() != 0 {
		t.Fatalf("non-URC lines were kept: mark %d", u.mark())
	}
	for i := range 20 {
		u.add(fmt.Sprintf("+CEREG: %d", i))
	}
	all := func(string) bool { return true }
	if l, ok := u.since(0, all); !ok || l != "+CEREG: 4" {
		t.Errorf("since 0: %q %v, want the oldest kept, +CEREG: 4", l, ok)
	}
	if l, ok := u.since(18, all); !ok || l != "+CEREG: 18" {
		t.Errorf("since 18: %q %v", l, ok)
	}
	if l, ok := u.since(u.mark(), all); ok {
		t.Errorf("since now: %q", l)
	}
}
