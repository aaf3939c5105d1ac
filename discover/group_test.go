package discover

import (
	"errors"
	"reflect"
	"testing"

	"nrfline/station"
)

// acmPort is a J-Link OB CDC port as the lister would have completed it.
func acmPort(path, serial, loc string, iface int) PortInfo {
	return PortInfo{Path: path, IsUSB: true, VID: "1366", PID: "1069", Serial: serial, Interface: iface, USB: loc}
}

func TestGroup(t *testing.T) {
	tests := []struct {
		name  string
		ports []PortInfo
		want  []Device
	}{
		{
			name: "two probes with two VCOMs each, interleaved",
			ports: []PortInfo{
				acmPort("/dev/ttyACM1", "001051202135", "1-4.3.2", 2),
				acmPort("/dev/ttyACM3", "001050238928", "1-4.3.3", 2),
				acmPort("/dev/ttyACM0", "001051202135", "1-4.3.2", 0),
				acmPort("/dev/ttyACM2", "001050238928", "1-4.3.3", 0),
			},
			want: []Device{
				{Serial: "001050238928", Probe: "1050238928", Board: "unknown Nordic kit", VID: "1366", PID: "1069", USB: "1-4.3.3",
					Ports: []Port{{"/dev/ttyACM2", 0, 0}, {"/dev/ttyACM3", 2, 1}}},
				{Serial: "001051202135", Probe: "1051202135", Board: "nRF9151 DK", VID: "1366", PID: "1069", USB: "1-4.3.2",
					Ports: []Port{{"/dev/ttyACM0", 0, 0}, {"/dev/ttyACM1", 2, 1}}},
			},
		},
		{
			name: "interface number orders the VCOMs, not the tty name",
			ports: []PortInfo{
				acmPort("/dev/ttyACM9", "001051202135", "1-1", 2),
				acmPort("/dev/ttyACM10", "001051202135", "1-1", 0),
			},
			want: []Device{{Serial: "001051202135", Probe: "1051202135", Board: "nRF9151 DK", VID: "1366", PID: "1069", USB: "1-1",
				Ports: []Port{{"/dev/ttyACM10", 0, 0}, {"/dev/ttyACM9", 2, 1}}}},
		},
		{
			name: "unknown interfaces last, in natural name order",
			ports: []PortInfo{
				acmPort("/dev/ttyACM10", "000960012345", "1-1", -1),
				acmPort("/dev/ttyACM9", "000960012345", "1-1", -1),
				acmPort("/dev/ttyACM11", "000960012345", "1-1", 4),
			},
			want: []Device{{Serial: "000960012345", Probe: "960012345", Board: "nRF9160 DK", VID: "1366", PID: "1069", USB: "1-1",
				Ports: []Port{{"/dev/ttyACM11", 4, 0}, {"/dev/ttyACM9", -1, 1}, {"/dev/ttyACM10", -1, 2}}}},
		},
		{
			name: "a CH340 without serial is listed by location, not as a probe",
			ports: []PortInfo{
				{Path: "/dev/ttyUSB0", IsUSB: true, VID: "1a86", PID: "7523", Interface: 0, USB: "1-2"},
			},
			want: []Device{{VID: "1a86", PID: "7523", USB: "1-2", Ports: []Port{{"/dev/ttyUSB0", 0, 0}}}},
		},
		{
			name: "Thingy:91 X on Nordic USB: interfaces 1 and 4",
			ports: []PortInfo{
				{Path: "/dev/ttyACM1", IsUSB: true, VID: "1915", PID: "910a", Serial: "THINGY91X_F39CC1B120C", Interface: 4, USB: "3-1"},
				{Path: "/dev/ttyACM0", IsUSB: true, VID: "1915", PID: "910a", Serial: "THINGY91X_F39CC1B120C", Interface: 1, USB: "3-1"},
			},
			want: []Device{{Serial: "THINGY91X_F39CC1B120C", Probe: "THINGY91X_F39CC1B120C", Board: "Thingy:91 X", VID: "1915", PID: "910a", USB: "3-1",
				Ports: []Port{{"/dev/ttyACM0", 1, 0}, {"/dev/ttyACM1", 4, 1}}}},
		},
		{
			name: "probes first, adapters by location; non-USB and duplicate ports dropped",
			ports: []PortInfo{
				{Path: "/dev/ttyUSB1", IsUSB: true, VID: "0403", PID: "6001", Serial: "A50285BI", Interface: 0, USB: "1-10"},
				{Path: "/dev/ttyS0", Interface: -1},
				{Path: "/dev/ttyUSB0", IsUSB: true, VID: "10c4", PID: "ea60", Serial: "0001", Interface: 0, USB: "1-9"},
				acmPort("/dev/ttyACM0", "001051202135", "1-4", 0),
				acmPort("/dev/ttyACM0", "001051202135", "1-4", 0),
				{Path: "", IsUSB: true, VID: "1366", Interface: 0},
			},
			want: []Device{
				{Serial: "001051202135", Probe: "1051202135", Board: "nRF9151 DK", VID: "1366", PID: "1069", USB: "1-4",
					Ports: []Port{{"/dev/ttyACM0", 0, 0}}},
				{Serial: "0001", VID: "10c4", PID: "ea60", USB: "1-9", Ports: []Port{{"/dev/ttyUSB0", 0, 0}}},
				{Serial: "A50285BI", VID: "0403", PID: "6001", USB: "1-10", Ports: []Port{{"/dev/ttyUSB1", 0, 0}}},
			},
		},
		{
			name: "two adapters with the same serial at two locations stay apart",
			ports: []PortInfo{
				{Path: "/dev/ttyUSB0", IsUSB: true, VID: "10c4", PID: "ea60", Serial: "0001", Interface: 0, USB: "1-1"},
				{Path: "/dev/ttyUSB1", IsUSB: true, VID: "10c4", PID: "ea60", Serial: "0001", Interface: 0, USB: "1-2"},
			},
			want: []Device{
				{Serial: "0001", VID: "10c4", PID: "ea60", USB: "1-1", Ports: []Port{{"/dev/ttyUSB0", 0, 0}}},
				{Serial: "0001", VID: "10c4", PID: "ea60", USB: "1-2", Ports: []Port{{"/dev/ttyUSB1", 0, 0}}},
			},
		},
		{
			name: "without a location: grouped by VID and serial; upper-case IDs and short serial normalised",
			ports: []PortInfo{
				{Path: "/dev/ttyACM1", IsUSB: true, VID: "1366", PID: "1069", Serial: "1051202135", Interface: -1},
				{Path: "/dev/ttyACM0", IsUSB: true, VID: "1366", PID: "1069", Serial: "1051202135", Interface: -1},
				{Path: "/dev/ttyACM5", IsUSB: true, VID: "1A86", PID: "7523", Interface: -1},
			},
			want: []Device{
				{Serial: "001051202135", Probe: "1051202135", Board: "nRF9151 DK", VID: "1366", PID: "1069",
					Ports: []Port{{"/dev/ttyACM0", -1, 0}, {"/dev/ttyACM1", -1, 1}}},
				{VID: "1a86", PID: "7523", Ports: []Port{{"/dev/ttyACM5", -1, 0}}},
			},
		},
		{
			name: "a J-Link whose serial is hidden is listed by location, not as a probe",
			ports: []PortInfo{
				acmPort("/dev/ttyACM2", "", "2-1", 2),
				acmPort("/dev/ttyACM1", "", "2-1", 0),
			},
			want: []Device{{VID: "1366", PID: "1069", USB: "2-1", Ports: []Port{{"/dev/ttyACM1", 0, 0}, {"/dev/ttyACM2", 2, 1}}}},
		},
		{
			name:  "nothing",
			ports: nil,
			want:  []Device{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Group(tt.ports)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Group:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestComparePaths(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"/dev/ttyACM2", "/dev/ttyACM10", -1},
		{"/dev/ttyACM10", "/dev/ttyACM2", 1},
		{"/dev/ttyACM0", "/dev/ttyACM1", -1},
		{"/dev/ttyACM1", "/dev/ttyACM1", 0},
		{"/dev/ttyACM9", "/dev/ttyUSB0", -1},
		{"1-4.3.2", "1-4.3.10", -1},
		{"ttyACM02", "ttyACM1", 1},
		{"1050238928", "1051202135", -1},
		{"", "x", -1},
	}
	for _, tt := range tests {
		if got := comparePaths(tt.a, tt.b); got != tt.want {
			t.Errorf("comparePaths(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// nrf9151 is an nRF9151 DK as Group makes it.
func nrf9151(serial, loc string, ifaces ...int) Device {
	d := Device{Serial: serial, Probe: station.NormalizeSerial(serial), VID: "1366", PID: "1069", USB: loc}
	d.Board, _ = Board(serial)
	for i, n := range ifaces {
		d.Ports = append(d.Ports, Port{Path: "/dev/ttyACM" + loc + "-" + string(rune('0'+i)), Interface: n, VCOM: i})
	}
	return d
}

func TestConsolePort(t *testing.T) {
	dk := nrf9151("001051202135", "1-1", 0, 2)
	nrf5340 := nrf9151("001050012345", "1-2", 0, 2)
	nrf5340one := nrf9151("001050012345", "1-3", 0)
	guess := nrf9151("001051202136", "1-4", -1, -1)
	single := nrf9151("001051202137", "1-5", -1)
	ch340 := Device{VID: "1a86", PID: "7523", USB: "1-6", Ports: []Port{{"/dev/ttyUSB0", 0, 0}}}
	tests := []struct {
		name  string
		devs  []Device
		probe string
		want  string // "" = PORT_UNAVAILABLE
	}{
		{"nRF9151 DK: VCOM0", []Device{ch340, dk}, "1051202135", "/dev/ttyACM1-1-0"},
		{"12-digit form", []Device{dk}, "001051202135", "/dev/ttyACM1-1-0"},
		{"nRF5340 DK: VCOM1", []Device{nrf5340}, "1050012345", "/dev/ttyACM1-2-1"},
		{"one port of unknown interface is unambiguous", []Device{single}, "1051202137", "/dev/ttyACM1-5-0"},
		{"probe not present", []Device{dk, ch340}, "1051202199", ""},
		{"no devices", nil, "1051202135", ""},
		{"empty probe", []Device{dk}, "", ""},
		{"console VCOM missing", []Device{nrf5340one}, "1050012345", ""},
		{"same probe on two devices", []Device{dk, nrf9151("001051202135", "1-9", 0, 2)}, "1051202135", ""},
		{"VCOMs of unknown interface", []Device{guess}, "1051202136", ""},
		{"adapters are not probes", []Device{ch340}, "0", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := consolePort(tt.devs, tt.probe)
			if tt.want != "" {
				if err != nil || got != tt.want {
					t.Fatalf("consolePort = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			var se *station.Error
			if !errors.As(err, &se) || se.Code != station.PortUnavailable {
				t.Fatalf("consolePort = %q, %v; want a %s error", got, err, station.PortUnavailable)
			}
			if got != "" || se.Detail == "" {
				t.Errorf("consolePort = %q with detail %q", got, se.Detail)
			}
		})
	}
}

func TestProbes(t *testing.T) {
	devs := []Device{
		nrf9151("001051202135", "1-1", 0, 2),
		{VID: "1a86", USB: "1-2", Ports: []Port{{"/dev/ttyUSB0", 0, 0}}},
		nrf9151("001051202135", "1-9", 0, 2),
		nrf9151("000960012345", "1-3", 0),
	}
	got := probes(devs)
	want := []string{"1051202135", "960012345"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("probes = %q, want %q", got, want)
	}
	if got := probes(nil); got == nil || len(got) != 0 {
		t.Errorf("probes(nil) = %#v, want an empty list", got)
	}
}

func TestKey(t *testing.T) {
	tests := []struct {
		d    Device
		want string
	}{
		{nrf9151("001051202135", "1-1", 0), "probe:1051202135@1-1"},
		{Device{Serial: "A50285BI", VID: "0403", USB: "1-2"}, "serial:0403:A50285BI@1-2"},
		{Device{VID: "1a86", USB: "1-6"}, "usb:1-6"},
		{Device{VID: "1a86", Ports: []Port{{"/dev/ttyUSB3", -1, 0}}}, "port:/dev/ttyUSB3"},
	}
	for _, tt := range tests {
		if got := tt.d.Key(); got != tt.want {
			t.Errorf("Key() = %q, want %q", got, tt.want)
		}
	}
}
