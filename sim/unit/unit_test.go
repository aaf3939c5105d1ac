package unit

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.bug.st/serial"
)

const hostBoot = banner + "The AT host sample started\r\nReady\r\n"

const (
	d3 = "D65DF89F702EEC58CA3C7BF2001C9FFC7CD80553AE01D42A799BA26756142D96"
	d4 = "A838F5916244861F5C1ED19CCE8512CDED03214494BEC07302AEAEB61C324042"
)

func writeBootstrapCreds(c *term) {
	c.cmd(`AT%CMNG=0,100,4,"urn:imei:352656100367872"`, "OK\r\n")
	c.cmd(`AT%CMNG=0,100,3,"`+testPSK+`"`, "OK\r\n")
}

const list100 = "%CMNG: 100,3,\"" + d3 + "\"\r\n%CMNG: 100,4,\"" + d4 + "\"\r\nOK\r\n"

// TestPersistence: the %CMNG store survives a reset and a restart of the
// unit from its state file; CMEE and CFUN do not.
func TestPersistence(t *testing.T) {
	cfg := testConfig(t)
	u := mustStart(t, cfg)
	c := mustOpen(t, u.Port())
	c.expect(hostBoot)
	c.cmd("AT+CMEE=1", "OK\r\n")
	writeBootstrapCreds(c)

	u.Reset()
	c.expect(hostBoot)
	c.cmd("AT+CMEE?", "+CMEE: 0\r\nOK\r\n")
	c.cmd("AT%CMNG=1,100", list100)

	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	u2 := mustStart(t, cfg)
	c2 := mustOpen(t, u2.Port())
	c2.expect(hostBoot)
	c2.cmd("AT%CMNG=1,100", list100)
	if got := u2.Credentials(100); got[4] != "urn:imei:352656100367872" || got[3] != testPSK || len(got) != 2 {
		t.Errorf("Credentials(100) = %v", got)
	}
	fi, err := os.Stat(cfg.StatePath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600", fi.Mode().Perm())
	}
}

// TestFlashCycle: erase/program/reset as the virtual J-Link drives them.
func TestFlashCycle(t *testing.T) {
	tests := []struct {
		name         string
		chip         bool
		keepSettings bool
	}{
		{"chip erase wipes settings", true, false},
		{"sector erase keeps settings", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			u := mustStart(t, cfg)
			c := mustOpen(t, u.Port())
			c.expect(hostBoot)
			writeBootstrapCreds(c)
			if err := u.SeedServerAccount("coaps://127.0.0.1:5684", "urn:imei:352656100367872", []byte{1, 2, 3}); err != nil {
				t.Fatal(err)
			}

			u.Halt()
			c.send("AT\r\n")
			if got := c.quiet(200 * time.Millisecond); len(got) != 0 {
				t.Fatalf("halted unit answered %q", got)
			}
			u.Erase(tt.chip)
			u.Reset() // no firmware: silent
			c.send("AT\r\n")
			if got := c.quiet(200 * time.Millisecond); len(got) != 0 {
				t.Fatalf("erased unit answered %q", got)
			}
			u.Halt()
			u.Program(4096, "ab")
			u.Reset()
			c.expect(hostBoot)
			c.cmd("AT%CMNG=1,100", list100)
			c.cmd("AT%CMNG=1,101", "%CMNG: 101,3,\""+hexDigest("010203")+"\"\r\n%CMNG: 101,4,\""+d4+"\"\r\nOK\r\n")

			st, err := loadState(cfg.StatePath)
			if err != nil {
				t.Fatal(err)
			}
			if (st.Settings != nil) != tt.keepSettings {
				t.Errorf("settings after erase: %+v, want kept=%v", st.Settings, tt.keepSettings)
			}
			if st.Firmware.Erased || st.Firmware.Size != 4096 {
				t.Errorf("firmware state %+v", st.Firmware)
			}
		})
	}
}

// TestStartErased: a state file that says "erased" boots silent.
func TestStartErased(t *testing.T) {
	cfg := testConfig(t)
	if err := saveState(cfg.StatePath, state{Firmware: firmware{Erased: true}}); err != nil {
		t.Fatal(err)
	}
	u := mustStart(t, cfg)
	c := mustOpen(t, u.Port())
	c.send("AT\r\n")
	if got := c.quiet(200 * time.Millisecond); len(got) != 0 {
		t.Fatalf("erased unit printed %q", got)
	}
	u.Program(10, "x")
	u.Reset()
	c.expect(hostBoot)
}

// TestLinkAndUnplug: the symlink leads to the pty; Unplug closes the
// station's port and removes the link.
func TestLinkAndUnplug(t *testing.T) {
	cfg := testConfig(t)
	cfg.Link = filepath.Join(t.TempDir(), "dev", "unit1")
	u := mustStart(t, cfg)
	if u.Port() != cfg.Link {
		t.Fatalf("Port() = %q, want the link", u.Port())
	}
	c := mustOpen(t, u.Port())
	c.expect(hostBoot)
	u.Unplug()
	if err := c.closed(); !isPortClosed(err) {
		t.Errorf("read after unplug: %v", err)
	}
	if _, err := os.Lstat(cfg.Link); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("link still there: %v", err)
	}
	u.Reset() // permanent: no effect
	if _, err := serial.Open(cfg.Link, &serial.Mode{BaudRate: 115200}); err == nil {
		t.Error("unplugged port opens")
	}
}

// TestSerialOpenModemBits documents how the station must open a virtual
// unit: a pty has no modem-control lines, so InitialStatusBits fails.
func TestSerialOpenModemBits(t *testing.T) {
	u := mustStart(t, testConfig(t))
	p, err := serial.Open(u.Port(), &serial.Mode{BaudRate: 115200, InitialStatusBits: &serial.ModemOutputBits{DTR: true, RTS: true}})
	if err == nil {
		p.Close()
		t.Fatal("open with InitialStatusBits succeeded on a pty; the package doc is out of date")
	}
	var pe *serial.PortError
	if !errors.As(err, &pe) || pe.Code() != serial.InvalidSerialPort {
		t.Errorf("error %v, want PortError InvalidSerialPort", err)
	}
	c := mustOpen(t, u.Port()) // without InitialStatusBits
	c.expect(hostBoot)
	c.cmd("AT", "OK\r\n")
}

// TestURCs: notifications follow the response as whole lines.
func TestURCs(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(*Config)
		cmds []string
		want string
	}{
		{"attach", nil, []string{"AT+CEREG=2", "AT+CFUN=1"},
			"OK\r\n+CEREG: 2,\"0901\",\"02024720\",7\r\n+CEREG: 1,\"0901\",\"02024720\",7\r\n"},
		{"attach n=1", nil, []string{"AT+CEREG=1", "AT+CFUN=1"}, "OK\r\n+CEREG: 2\r\n+CEREG: 1\r\n"},
		{"detach", nil, []string{"AT+CEREG=1", "AT+CFUN=1", "AT+CFUN=4"}, "OK\r\n+CEREG: 0\r\n"},
		{"n=5", nil, []string{"AT+CEREG=5", "AT+CFUN=1", "AT+CEREG?"},
			"+CEREG: 5,1,\"0901\",\"02024720\",7,,,\"11100000\",\"11100000\"\r\nOK\r\n"},
		{"lte never", func(c *Config) { c.Faults.LTENever = true }, []string{"AT+CEREG=2", "AT+CFUN=1", "AT+CEREG?"},
			"+CEREG: 2,2,\"0901\",\"02024720\",7\r\nOK\r\n"},
		{"sim", nil, []string{"AT%XSIM=1", "AT+CFUN=41"}, "OK\r\n%XSIM: 1\r\n"},
		{"sim off", nil, []string{"AT%XSIM=1", "AT+CFUN=41", "AT+CFUN=4"}, "OK\r\n%XSIM: 0\r\n"},
		{"cpin", nil, []string{"AT+CFUN=41", "AT+CPIN"}, "+CPIN: READY\r\nOK\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			u := mustStart(t, cfg)
			c := mustOpen(t, u.Port())
			c.expect(hostBoot)
			for _, cmd := range tt.cmds[:len(tt.cmds)-1] {
				c.send(cmd + "\r\n")
				c.waitFor("OK")
			}
			c.quiet(50 * time.Millisecond)
			c.send(tt.cmds[len(tt.cmds)-1] + "\r\n")
			c.expect(tt.want)
		})
	}
}

// TestShellEvents: with `at events_enable`, notifications print through
// the AT shell's event handler.
func TestShellEvents(t *testing.T) {
	cfg := testConfig(t)
	cfg.Shell = true
	u := mustStart(t, cfg)
	c := mustOpen(t, u.Port())
	prompt := promptText()
	c.expect(banner + prompt)
	c.send("at events_enable\r")
	c.expect("at events_enable\r\nAT command event handler enabled\r\n" + prompt)
	c.send("at AT%XSIM=1\r")
	c.expect("at AT%XSIM=1\r\nOK\r\r\n\r\n" + prompt)
	c.send("at AT+CFUN=41\r")
	c.expect("at AT+CFUN=41\r\nOK\r\r\n\r\n" + "AT event handler:\r\n%XSIM: 1\r\r\n\r\n" + prompt)
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"bad IMEI", Config{IMEI: "352656100367873"}},
		{"short IMEI", Config{IMEI: "123"}},
		{"unplug at flash", Config{Faults: Faults{UnplugAt: "flash"}}},
	}
	for _, tt := range tests {
		if u, err := Start(tt.cfg); err == nil {
			u.Close()
			t.Errorf("%s: Start succeeded", tt.name)
		}
	}
}
