package unit

// atBufSize mirrors CONFIG_AT_HOST_CMD_MAX_LEN (4096). Like at_host, one byte
// is kept for the terminating NUL, so a command holds at most 4095 bytes;
// further bytes are dropped until the terminator (modem-at.md §1).
const atBufSize = 4096

// framer splits the AT host byte stream into commands exactly as NCS
// at_host's uart_rx_handler does, except that CR, LF and CR LF all terminate
// (the simulator accepts every Kconfig termination choice, modem-at.md §1):
//   - CR or LF outside double quotes ends the command (not stored);
//   - inside quotes CR and LF are content;
//   - 0x08 and 0x7F delete the previous byte, inside quotes too. As in
//     at_host, deleting a '"' does not change the quote state;
//   - NUL outside quotes is dropped, inside quotes it is content;
//   - a command with no byte above 0x20 (an empty line, the LF of a CR LF)
//     is dropped without any response.
//
// A framer is a pure state machine: the unit decides what happens to the
// bytes that follow a completed command (they are dropped, RX disabled).
type framer struct {
	buf    []byte
	quoted bool
}

// feed consumes one byte. It returns the command and true when b completed
// a command that must be executed.
func (f *framer) feed(b byte) (string, bool) {
	switch b {
	case 0x08, 0x7f:
		if len(f.buf) > 0 {
			f.buf = f.buf[:len(f.buf)-1]
		}
		return "", false
	}
	if !f.quoted {
		switch b {
		case 0:
			return "", false
		case '\r', '\n':
			return f.complete()
		}
	}
	if len(f.buf)+1 > atBufSize-1 {
		return "", false // overflow: dropped
	}
	f.buf = append(f.buf, b)
	if b == '"' {
		f.quoted = !f.quoted
	}
	return "", false
}

func (f *framer) complete() (string, bool) {
	cmd := string(f.buf)
	f.reset()
	if !hasPrintable(cmd) {
		return "", false
	}
	return cmd, true
}

func (f *framer) reset() {
	f.buf = f.buf[:0]
	f.quoted = false
}

// hasPrintable reports whether s holds a printable non-space ASCII byte
// (at_host's `*c > ' '` on a signed char).
func hasPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] > ' ' && s[i] < 0x80 {
			return true
		}
	}
	return false
}
