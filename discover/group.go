package discover

import (
	"cmp"
	"slices"
	"strings"

	"nrfline/station"
)

// USB vendor IDs whose devices count as probes (lower-case hex, as sysfs
// prints them). Products are never matched: a J-Link OB's PID encodes its
// configuration, not the board.
const (
	VIDSegger = "1366" // J-Link (OB on every Nordic DK)
	VIDNordic = "1915" // Nordic USB (Thingy:91 X, Thingy:91)
)

// PortInfo is one enumerated serial port with what sysfs tells about it:
// the input of Group.
type PortInfo struct {
	Path      string // device node, e.g. /dev/ttyACM0
	IsUSB     bool
	VID, PID  string // lower-case hex without 0x, e.g. "1366", "1069"
	Serial    string // USB iSerial as the descriptor has it; "" when missing
	Interface int    // USB interface number; -1 unknown
	USB       string // physical USB location, e.g. "1-4.3.2"; "" unknown
}

// Port is one serial port of a Device.
type Port struct {
	Path      string `json:"path"`
	Interface int    `json:"interface"` // USB interface number; -1 unknown
	VCOM      int    `json:"vcom"`      // 0, 1, … in order of interface number
}

// Device is one USB device with its serial ports. Probe is set only for
// J-Link (VID 1366) and Nordic (VID 1915) devices that report a serial;
// Board only for those whose serial is in the board table.
type Device struct {
	Serial string `json:"serial,omitempty"` // USB form: J-Link serials left-padded to 12 digits
	Probe  string `json:"probe,omitempty"`  // normalised, no leading zeros (the flash tools' form)
	Board  string `json:"board,omitempty"`
	VID    string `json:"vid"`
	PID    string `json:"pid"`
	USB    string `json:"usb,omitempty"` // physical location, e.g. "1-4.3.2"
	Ports  []Port `json:"ports"`
}

// IsProbe reports whether the device is a J-Link or Nordic USB device.
func IsProbe(vid string) bool {
	v := strings.ToLower(vid)
	return v == VIDSegger || v == VIDNordic
}

// Group groups enumerated ports into USB devices: ports at the same USB
// location belong together; without a location, ports with the same VID
// and serial; a port with neither is a device of its own. Ports that are
// not USB are left out. Each device's ports are sorted by interface number
// (unknown last, then by device name) and numbered VCOM 0, 1, …; devices
// come probes first, by probe serial, then by location.
func Group(ports []PortInfo) []Device {
	byKey := map[string][]PortInfo{}
	var keys []string
	seen := map[string]bool{}
	for _, p := range ports {
		if !p.IsUSB || p.Path == "" || seen[p.Path] {
			continue
		}
		seen[p.Path] = true
		k := groupKey(p)
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], p)
	}
	devs := make([]Device, 0, len(keys))
	for _, k := range keys {
		devs = append(devs, device(byKey[k]))
	}
	slices.SortStableFunc(devs, compareDevices)
	return devs
}

func groupKey(p PortInfo) string {
	switch {
	case p.USB != "":
		return "usb:" + p.USB
	case p.Serial != "":
		return "serial:" + strings.ToLower(p.VID) + ":" + p.Serial
	default:
		return "port:" + p.Path
	}
}

// device builds one Device from the ports of one USB device.
func device(ports []PortInfo) Device {
	slices.SortFunc(ports, comparePorts)
	first := ports[0]
	d := Device{
		VID:    strings.ToLower(first.VID),
		PID:    strings.ToLower(first.PID),
		Serial: strings.TrimSpace(first.Serial),
		USB:    first.USB,
	}
	if d.VID == VIDSegger {
		d.Serial = usbForm(d.Serial)
	}
	if IsProbe(d.VID) && d.Serial != "" {
		d.Probe = station.NormalizeSerial(d.Serial)
		d.Board, _ = Board(d.Serial)
	}
	for i, p := range ports {
		d.Ports = append(d.Ports, Port{Path: p.Path, Interface: p.Interface, VCOM: i})
	}
	return d
}

// comparePorts orders by interface number, unknown interfaces last, then
// by device name in natural order (ttyACM2 before ttyACM10).
func comparePorts(a, b PortInfo) int {
	if ua, ub := a.Interface < 0, b.Interface < 0; ua != ub {
		return boolOrder(ua)
	}
	if c := cmp.Compare(a.Interface, b.Interface); c != 0 {
		return c
	}
	return comparePaths(a.Path, b.Path)
}

func boolOrder(aLater bool) int {
	if aLater {
		return 1
	}
	return -1
}

func compareDevices(a, b Device) int {
	if ap, bp := a.Probe != "", b.Probe != ""; ap != bp {
		return boolOrder(!ap)
	}
	if c := comparePaths(a.Probe, b.Probe); c != 0 {
		return c
	}
	if c := comparePaths(a.USB, b.USB); c != 0 {
		return c
	}
	return comparePaths(firstPath(a), firstPath(b))
}

func firstPath(d Device) string {
	if len(d.Ports) == 0 {
		return ""
	}
	return d.Ports[0].Path
}

// comparePaths compares strings in natural order: a trailing number counts
// by value, so ttyACM2 < ttyACM10 and 1051202135 < 10512021350.
func comparePaths(a, b string) int {
	ap, an := splitNumber(a)
	bp, bn := splitNumber(b)
	if c := strings.Compare(ap, bp); c != 0 {
		return c
	}
	if an != "" && bn != "" {
		if c := cmp.Compare(len(an), len(bn)); c != 0 {
			return c
		}
		if c := strings.Compare(an, bn); c != 0 {
			return c
		}
	}
	return strings.Compare(a, b)
}

// splitNumber splits s into its prefix and trailing digits, leading zeros
// of the number dropped.
func splitNumber(s string) (prefix, number string) {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	digits := s[i:]
	if n := strings.TrimLeft(digits, "0"); n != "" || digits == "" {
		return s[:i], n
	}
	return s[:i], "0"
}

// Key identifies a device across listings: its probe or USB serial at its
// USB location, or the location alone; never only a /dev name, unless
// nothing else is known.
func (d Device) Key() string {
	switch {
	case d.Probe != "":
		return "probe:" + d.Probe + "@" + d.USB
	case d.Serial != "":
		return "serial:" + d.VID + ":" + d.Serial + "@" + d.USB
	case d.USB != "":
		return "usb:" + d.USB
	default:
		return "port:" + firstPath(d)
	}
}

// Console returns the device's console/AT port: the port at the board
// table's index among its ports sorted by interface (VCOM0 = interface 0
// on an nRF9151 DK). It is PORT_UNAVAILABLE when the device has no such
// port, or has several ports whose interface numbers are unknown (their
// order would be a guess).
func (d Device) Console() (Port, error) {
	_, idx := Board(d.Serial)
	name := d.Probe
	if name == "" {
		name = d.Key()
	}
	if len(d.Ports) > 1 {
		for _, p := range d.Ports {
			if p.Interface < 0 {
				return Port{}, station.Errorf(station.PortUnavailable, nil,
					"probe %s: USB interface of %s unknown, cannot tell its VCOMs apart (set the slot's port)", name, p.Path)
			}
		}
	}
	if idx >= len(d.Ports) {
		return Port{}, station.Errorf(station.PortUnavailable, nil,
			"probe %s (%s) has %d serial port(s), its console is VCOM%d", name, boardName(d.Board), len(d.Ports), idx)
	}
	return d.Ports[idx], nil
}

func boardName(b string) string {
	if b == "" {
		return "unknown board"
	}
	return b
}

// consolePort finds probe among devs and returns its console port's path.
func consolePort(devs []Device, probe string) (string, error) {
	want := station.NormalizeSerial(probe)
	if want == "" {
		return "", station.Errorf(station.PortUnavailable, nil, "no probe serial given")
	}
	var found []Device
	for _, d := range devs {
		if d.Probe != "" && d.Probe == want {
			found = append(found, d)
		}
	}
	switch len(found) {
	case 0:
		return "", station.Errorf(station.PortUnavailable, nil, "probe %s not present on USB", want)
	case 1:
	default:
		return "", station.Errorf(station.PortUnavailable, nil,
			"probe serial %s seen on %d USB devices (%s)", want, len(found), locations(found))
	}
	p, err := found[0].Console()
	if err != nil {
		return "", err
	}
	return p.Path, nil
}

func locations(devs []Device) string {
	out := make([]string, len(devs))
	for i, d := range devs {
		out[i] = cmp.Or(d.USB, firstPath(d))
	}
	return strings.Join(out, ", ")
}

// probes returns the probe serials of devs, normalised, each once.
func probes(devs []Device) []string {
	out := []string{}
	for _, d := range devs {
		if d.Probe != "" && !slices.Contains(out, d.Probe) {
			out = append(out, d.Probe)
		}
	}
	return out
}
