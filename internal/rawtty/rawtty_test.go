package rawtty

import (
	"testing"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// On a real pty: after Set, the line discipline neither echoes nor maps
// CR/LF.
func TestSetMakesAPtyRaw(t *testing.T) {
	ptm, pts, err := pty.Open()
	if err != nil {
		t.Skipf("no pty here: %v", err)
	}
	defer ptm.Close()
	defer pts.Close()
	if err := Set(int(pts.Fd())); err != nil {
		t.Fatal(err)
	}
	tio, err := unix.IoctlGetTermios(int(pts.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if tio.Lflag&(unix.ECHO|unix.ICANON) != 0 || tio.Iflag&unix.ICRNL != 0 || tio.Oflag&unix.OPOST != 0 || tio.Cc[unix.VMIN] != 1 {
		t.Errorf("not raw: %+v", tio)
	}
	if _, err := ptm.Write([]byte("AT\r")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	n, err := pts.Read(buf)
	if err != nil || string(buf[:n]) != "AT\r" {
		t.Errorf("read %q, %v; want the bytes unchanged", buf[:n], err)
	}
}
