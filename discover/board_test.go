package discover

import "testing"

// TestBoard covers every row of the flash-tools.md §9 table, the
// fallback, the serial forms and the longest-prefix rule.
func TestBoard(t *testing.T) {
	tests := []struct {
		serial  string
		board   string
		console int
	}{
		{"001051202135", "nRF9151 DK", 0},
		{"001052012345", "nRF9151 DK", 0},
		{"001050912345", "nRF9161 DK", 0},
		{"000960012345", "nRF9160 DK", 0},
		{"001051012345", "nRF9131 EK", 0},
		{"001055012345", "Thingy:91 X", 0},
		{"001055112345", "Thingy:91 X", 0},
		{"001051312345", "Thingy:91 X", 0},
		{"000960112345", "nRF5340 DK", 1},
		{"001050012345", "nRF5340 DK", 1},
		{"001050712345", "nRF7002 DK", 1},
		{"001051112345", "nRF54H20 DK", 0},
		{"001057712345", "nRF54L15 DK", 1},
		// fallback: any other 00105… is a Nordic kit of unknown kind
		{"001050238928", "unknown Nordic kit", 0},
		{"001059912345", "unknown Nordic kit", 0},
		// Nordic USB serials; THINGY91X is longer than THINGY91 and wins
		{"THINGY91X_F39CC1B120C", "Thingy:91 X", 0},
		{"thingy91x_f39cc1b120c", "Thingy:91 X", 0},
		{"THINGY91_1234567890", "Thingy:91", 0},
		{"PCA20035_1234", "Thingy:91", 0},
		// the tools' form (leading zeros stripped) is padded back to 12
		{"1051202135", "nRF9151 DK", 0},
		{"960112345", "nRF5340 DK", 1},
		{" 001051202135\n", "nRF9151 DK", 0},
		// not in the table
		{"000683123456", "", 0}, // a stand-alone J-Link
		{"683123456", "", 0},
		{"0009602", "", 0},
		{"A50285BI", "", 0}, // an FTDI serial
		{"", "", 0},
		{"0010", "", 0},
		{"1234567890123", "", 0}, // 13 digits: not padded, no prefix
	}
	for _, tt := range tests {
		t.Run(tt.serial, func(t *testing.T) {
			board, console := Board(tt.serial)
			if board != tt.board || console != tt.console {
				t.Errorf("Board(%q) = %q, %d; want %q, %d", tt.serial, board, console, tt.board, tt.console)
			}
		})
	}
}

func TestUSBForm(t *testing.T) {
	tests := []struct{ in, want string }{
		{"1051202135", "001051202135"},
		{"001051202135", "001051202135"},
		{"0", "000000000000"},
		{"", ""},
		{"THINGY91X_F39CC1B120C", "THINGY91X_F39CC1B120C"},
		{"12-34", "12-34"},
	}
	for _, tt := range tests {
		if got := usbForm(tt.in); got != tt.want {
			t.Errorf("usbForm(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
