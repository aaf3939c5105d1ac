// Package rawtty puts a terminal, in practice the device end of a pty, in
// raw mode. The virtual units (sim/unit) and the scripted test console
// (inject/at/attest) both play the device side of a serial line and share
// this one helper; the station's own side opens ports with go.bug.st/serial.
package rawtty

import "golang.org/x/sys/unix"

// Set is cfmakeraw(3): no echo, no line discipline, no CR/LF translation
// in either direction, 8 bits, reads return as soon as one byte is there.
func Set(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	return unix.IoctlSetTermios(fd, unix.TCSETS, t)
}
