package station

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const goodConfig = `station_id = "line1-st3"
database = "station.db"

[firmware]
hex = "fw/app.hex"

[flash]
tool = "nrfjprog"
timeout = "90s"

[portal]
kind = "leshan"
url = "http://127.0.0.1:8080/api"
target_uri = "coaps://lwm2m.example.com:5684"

[[slot]]
name = "A1"
probe = "001051202135"

[[slot]]
name = "A2"
probe = "1051202136"
`

func TestParseConfigDefaultsAndPaths(t *testing.T) {
	cfg, err := ParseConfig("/etc/line/station.toml", []byte(goodConfig))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Bootstrap.ProbeTimeout.Duration != 5*time.Second {
		t.Errorf("bootstrap.probe_timeout default %v, want 5s", cfg.Bootstrap.ProbeTimeout)
	}
	if cfg.Flash.Timeout.Duration != 90*time.Second || cfg.Modem.ReadyTimeout.Duration != 30*time.Second {
		t.Errorf("durations: flash %v ready %v", cfg.Flash.Timeout, cfg.Modem.ReadyTimeout)
	}
	if cfg.Database != "/etc/line/station.db" || cfg.Firmware.Hex != "/etc/line/fw/app.hex" {
		t.Errorf("relative paths not resolved: %q %q", cfg.Database, cfg.Firmware.Hex)
	}
	slots := cfg.SlotList()
	if slots[0].Probe != "1051202135" || slots[1].Probe != "1051202136" {
		t.Errorf("probe serials not normalised: %+v", slots)
	}
	if got := cfg.Endpoint("352656100367872"); got != "urn:imei:352656100367872" {
		t.Errorf("endpoint %q", got)
	}
}

func TestParseConfigErrorsNameKeyAndLine(t *testing.T) {
	tests := []struct {
		name     string
		edit     func(string) string
		wantLine int
		wantKey  string
	}{
		{"unknown key", func(s string) string { return strings.Replace(s, "tool = ", "tol = ", 1) }, 8, "flash.tol"},
		{"bad enum", func(s string) string { return strings.Replace(s, `"nrfjprog"`, `"jlink"`, 1) }, 8, "flash.tool"},
		{"bad duration", func(s string) string { return strings.Replace(s, `"90s"`, `"ninety"`, 1) }, 9, "flash.timeout"},
		{"bad probe in second slot", func(s string) string { return strings.Replace(s, `"1051202136"`, `"10512x"`, 1) }, 22, "slot[1].probe"},
		{"missing station id", func(s string) string { return strings.Replace(s, `station_id = "line1-st3"`, ``, 1) }, 0, "station_id"},
		{"syntax", func(s string) string { return strings.Replace(s, `[flash]`, `[flash`, 1) }, 7, ""},
		{"verify_reboot without a bootstrap", func(s string) string {
			return strings.Replace(s, "[[slot]]", "[bootstrap]\ntrigger = \"none\"\nverify_reboot = true\n\n[[slot]]", 1)
		}, 18, "bootstrap.verify_reboot"},
		{"probe_timeout zero", func(s string) string {
			return strings.Replace(s, "[[slot]]", "[bootstrap]\nprobe_timeout = \"0s\"\n\n[[slot]]", 1)
		}, 17, "bootstrap.probe_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig("st.toml", []byte(tt.edit(goodConfig)))
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("want *ConfigError, got %v", err)
			}
			if ce.Line != tt.wantLine || (tt.wantKey != "" && ce.Key != tt.wantKey) {
				t.Errorf("got line %d key %q (%v), want line %d key %q", ce.Line, ce.Key, err, tt.wantLine, tt.wantKey)
			}
			if !strings.HasPrefix(err.Error(), "st.toml") {
				t.Errorf("error does not name the file: %v", err)
			}
		})
	}
}

func TestMarshalConfigRoundTrip(t *testing.T) {
	cfg, err := ParseConfig("/x/station.toml", []byte(goodConfig))
	if err != nil {
		t.Fatal(err)
	}
	out, err := MarshalConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseConfig("/x/station.toml", out)
	if err != nil {
		t.Fatalf("marshalled config does not parse: %v\n%s", err, out)
	}
	if back.Flash.Timeout != cfg.Flash.Timeout || len(back.Slots) != 2 || back.Portal.TargetURI != cfg.Portal.TargetURI {
		t.Errorf("round trip lost data:\n%s", out)
	}
}

// Two slots on one port, probe or USB location would drive two units through
// one cable: refused, naming both slots and their lines.
func TestSlotsNeverShareAPortProbeOrUSBLocation(t *testing.T) {
	base := strings.Split(goodConfig, "[[slot]]")[0]
	tests := []struct{ name, slots, key, other string }{
		{"port", "[[slot]]\nname = \"A1\"\nport = \"/dev/ttyACM0\"\n\n[[slot]]\nname = \"A2\"\nport = \"/dev/ttyACM0\"\n", "slot[1].port", "A1"},
		{"probe", "[[slot]]\nname = \"A1\"\nprobe = \"001051202135\"\n\n[[slot]]\nname = \"A2\"\nprobe = \"1051202135\"\n", "slot[1].probe", "A1"},
		{"usb", "[[slot]]\nname = \"A1\"\nusb = \"1-4.3\"\n\n[[slot]]\nname = \"A2\"\nusb = \"1-4.3\"\n", "slot[1].usb", "A1"},
		{"nothing", "[[slot]]\nname = \"A1\"\n", "slot[0]", ""},
		{"bad usb", "[[slot]]\nname = \"A1\"\nusb = \"/dev/bus/usb/001\"\n", "slot[0].usb", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig("/x/station.toml", []byte(base+tt.slots))
			var ce *ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.key) {
				t.Fatalf("got %v, want an error naming %s", err, tt.key)
			}
			if tt.other != "" && (!strings.Contains(err.Error(), `"`+tt.other+`"`) || !strings.Contains(err.Error(), "line 16")) {
				t.Errorf("%v does not name the other slot %s and its line", err, tt.other)
			}
		})
	}
	if _, err := ParseConfig("/x/station.toml", []byte(base+"[[slot]]\nname = \"A1\"\nusb = \"1-4.3.2\"\n")); err != nil {
		t.Errorf("a usb-only slot: %v", err)
	}
}
