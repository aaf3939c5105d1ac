package unit

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestFaultSilent(t *testing.T) {
	cfg := testConfig(t)
	cfg.Faults.Silent = true
	u := mustStart(t, cfg)
	c := mustOpen(t, u.Port())
	for _, in := range []string{"AT\r\n", "at AT\r\n", "AT+CGSN\r\n"} {
		c.send(in)
	}
	if got := c.quiet(300 * time.Millisecond); len(got) != 0 {
		t.Fatalf("silent unit printed %q", got)
	}
	u.Reset()
	c.send("AT\r\n")
	if got := c.quiet(200 * time.Millisecond); len(got) != 0 {
		t.Fatalf("silent unit printed %q after reset", got)
	}
}

// TestFaultGarbage: only random high bytes and line breaks, continuously;
// AT is never answered.
func TestFaultGarbage(t *testing.T) {
	cfg := testConfig(t)
	cfg.Faults.Garbage = true
	u := mustStart(t, cfg)
	c := mustOpen(t, u.Port())
	c.send("AT\r\n")
	var got []byte
	deadline := time.Now().Add(waitLimit)
	for len(got) < 500 && time.Now().Before(deadline) {
		got = append(got, c.quiet(100*time.Millisecond)...)
	}
	if len(got) < 500 {
		t.Fatalf("only %d garbage bytes", len(got))
	}
	for _, b := range got {
		if b < 0x80 && b != '\r' && b != '\n' {
			t.Fatalf("printable byte %q in garbage %q", b, got)
		}
	}
	if bytes.Contains(got, []byte("OK")) {
		t.Fatal("garbage unit answered OK")
	}
}

func TestFaultCME515(t *testing.T) {
	cfg := testConfig(t)
	cfg.Faults.CME515 = true
	u := mustStart(t, cfg)
	c := mustOpen(t, u.Port())
	c.expect(hostBoot)
	c.cmd(`AT%CMNG=0,100,4,"urn:imei:352656100367872"`, "ERROR\r\n")
	c.cmd("AT+CMEE=1", "OK\r\n")
	c.cmd(`AT%CMNG=0,100,4,"urn:imei:352656100367872"`, "+CME ERROR: 515\r\n")
	c.cmd("AT%CMNG=3,100,4", "+CME ERROR: 513\r\n")
	if got := u.Credentials(100); len(got) != 0 {
		t.Errorf("stored %v", got)
	}
}

// TestFaultUnplugAt: the unit disappears on the first command of the step,
// without answering it; commands before it work.
func TestFaultUnplugAt(t *testing.T) {
	tests := []struct {
		step    string
		before  []string
		trigger string
	}{
		{UnplugAtIdentify, []string{"AT", "AT+CFUN=4", "AT+CIMI"}, "AT+CGSN"},
		{UnplugAtIdentify, nil, "AT%XMODEMUUID"},
		{UnplugAtInject, []string{"AT+CGSN", "AT+CGMR", "AT%HWVERSION"}, "AT%CMNG=3,100,3"},
	}
	for _, tt := range tests {
		t.Run(tt.step+"/"+tt.trigger, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Faults.UnplugAt = tt.step
			cfg.Link = filepath.Join(t.TempDir(), "unit1")
			u := mustStart(t, cfg)
			c := mustOpen(t, u.Port())
			c.expect(hostBoot)
			for _, cmd := range tt.before {
				c.send(cmd + "\r\n")
				c.final()
			}
			c.send(tt.trigger + "\r\n")
			err := c.closed()
			if !isPortClosed(err) {
				t.Errorf("read after unplug: %v", err)
			}
			if bytes.Contains(c.buf, []byte("OK")) {
				t.Errorf("trigger answered: %q", c.buf)
			}
			if _, err := os.Lstat(cfg.Link); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("link still present: %v", err)
			}
		})
	}
}
