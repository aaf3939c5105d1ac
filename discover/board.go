package discover

import (
	"strings"
)

// boardPrefix is one row of the board table: a serial prefix (12-digit USB
// form for J-Link serials, upper case for Nordic USB serials), the board it
// names and which of the unit's ports (sorted by USB interface) carries the
// application console / AT.
type boardPrefix struct {
	prefix  string
	name    string
	console int
}

// boardTable is flash-tools.md §9 (Nordic nrfcredstore). Read only.
var boardTable = [...]boardPrefix{
	{"0010512", "nRF9151 DK", 0},
	{"0010520", "nRF9151 DK", 0},
	{"0010509", "nRF9161 DK", 0},
	{"0009600", "nRF9160 DK", 0},
	{"0010510", "nRF9131 EK", 0},
	{"0010550", "Thingy:91 X", 0},
	{"0010551", "Thingy:91 X", 0},
	{"0010513", "Thingy:91 X", 0},
	{"0009601", "nRF5340 DK", 1},
	{"0010500", "nRF5340 DK", 1},
	{"0010507", "nRF7002 DK", 1},
	{"0010511", "nRF54H20 DK", 0},
	{"0010577", "nRF54L15 DK", 1},
	{"00105", "unknown Nordic kit", 0},
	{"THINGY91X", "Thingy:91 X", 0},
	{"THINGY91", "Thingy:91", 0},
	{"PCA20035", "Thingy:91", 0},
}

// serialLen is the length of a J-Link serial in its USB descriptor form.
const serialLen = 12

// Board names the board a probe serial belongs to and the index, among the
// unit's ports sorted by USB interface, of its console/AT port. serial may
// be in USB form (001051202135), in the tools' form (1051202135) or a
// Nordic USB serial (THINGY91X_F39CC1B120C, matched case-insensitively).
// The longest matching prefix wins; an unknown serial gives ("", 0).
func Board(serial string) (name string, consoleIndex int) {
	s := usbForm(strings.ToUpper(strings.TrimSpace(serial)))
	best := -1
	for i, b := range boardTable {
		if strings.HasPrefix(s, b.prefix) && (best < 0 || len(b.prefix) > len(boardTable[best].prefix)) {
			best = i
		}
	}
	if best < 0 {
		return "", 0
	}
	return boardTable[best].name, boardTable[best].console
}

// usbForm left-pads an all-digit serial to the 12 digits USB descriptors,
// sysfs and /dev/serial/by-id use; anything else is returned unchanged.
func usbForm(s string) string {
	if s == "" || len(s) >= serialLen || !allDigits(s) {
		return s
	}
	return strings.Repeat("0", serialLen-len(s)) + s
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
