package sim

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.bug.st/serial"

	"nrfline/sim/faketool"
	"nrfline/station"
)

func TestMain(m *testing.M) {
	faketool.Dispatch() // the line's fake tools run this test binary
	os.Exit(m.Run())
}

// The acceptance for the line alone: the written config is a valid
// CONTRACT config naming every part, and every unit in it answers
// AT+CGSN=1 with a Luhn-valid IMEI, read through go.bug.st/serial as the
// station does.
func TestLineConfigAndUnitsAnswer(t *testing.T) {
	l, err := Start(t.Context(), Options{Units: 4, Dir: t.TempDir(), Speed: 20})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg, err := station.LoadConfig(l.ConfigPath())
	if err != nil {
		t.Fatalf("written config does not load: %v", err)
	}
	if cfg.Flash.Path == "" || cfg.Portal.URL == "" || cfg.Portal.DMURL == "" || cfg.Portal.TargetURI == "" || cfg.Bootstrap.ServerURI == "" {
		t.Errorf("config leaves keys the line can answer empty: %+v", cfg)
	}
	if len(cfg.Slots) != 4 {
		t.Fatalf("%d slots", len(cfg.Slots))
	}
	imei := regexp.MustCompile(`^\+CGSN: "(\d{15})"$`)
	seen := map[string]bool{}
	for _, s := range cfg.Slots {
		lines := atExchange(t, s.Port, "AT+CGSN=1")
		if len(lines) != 2 || !imei.MatchString(lines[0]) || lines[1] != "OK" {
			t.Fatalf("%s: AT+CGSN=1 answered %q", s.Name, lines)
		}
		got := imei.FindStringSubmatch(lines[0])[1]
		if !luhnValid(got) || seen[got] {
			t.Errorf("%s: IMEI %s invalid or duplicate", s.Name, got)
		}
		seen[got] = true
	}
}

// atExchange sends one AT command and returns the response lines up to the
// final result, skipping the unit's log and unsolicited lines.
func atExchange(t *testing.T, path, cmd string) []string {
	t.Helper()
	// A pty has no modem lines: leave InitialStatusBits nil (the kernel
	// raises DTR on a real port at open).
	p, err := serial.Open(path, &serial.Mode{BaudRate: 115200})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer p.Close()
	p.SetReadTimeout(100 * time.Millisecond)
	if _, err := p.Write([]byte(cmd + "\r\n")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	r := bufio.NewReader(readerFunc(func(b []byte) (int, error) {
		for time.Now().Before(deadline) {
			n, err := p.Read(b)
			if n > 0 || err != nil {
				return n, err
			}
		}
		return 0, fmt.Errorf("no answer to %s within 10 s", cmd)
	}))
	var out []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if strings.HasPrefix(line, "+CGSN") || line == "OK" || strings.Contains(line, "ERROR") {
			out = append(out, line)
		}
		if line == "OK" || strings.Contains(line, "ERROR") {
			return out
		}
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(b []byte) (int, error) { return f(b) }

func TestIdentityIsStableAndValid(t *testing.T) {
	a, b := newIdentity("/x", 1), newIdentity("/x", 1)
	if a != b {
		t.Error("identity not stable for the same dir and index")
	}
	if a == newIdentity("/x", 2) {
		t.Error("two units share an identity")
	}
	if len(a.IMEI) != 15 || !luhnValid(a.IMEI) || len(a.Probe) != 12 || !strings.HasPrefix(a.Probe, "0010512") {
		t.Errorf("identity %+v", a)
	}
	if !luhnValid("352656106647673") || luhnValid("352656106647674") {
		t.Error("luhn check wrong on the reference IMEI")
	}
}
