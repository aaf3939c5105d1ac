package at

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nrfline/inject/at/attest"
	"nrfline/station"
)

// A unit's port is one station's (and one slot's) at a time: a second open
// — the same name, a symlink to it, or another process holding it — is
// ERROR PORT_UNAVAILABLE naming the holder, and Close gives the port back.
func TestPortIsExclusive(t *testing.T) {
	p := attest.NewPeer(t)
	link := filepath.Join(t.TempDir(), "ttyUNIT")
	if err := os.Symlink(p.Path, link); err != nil {
		t.Fatal(err)
	}
	first, _ := mustOpen(t, p, station.ModemConfig{})
	for _, name := range []string{p.Path, link} {
		s, err := Open(context.Background(), name, station.ModemConfig{}, nil)
		if err == nil {
			s.Close()
			t.Fatalf("a second session opened %s while the first held it", name)
		}
		if station.CodeOf(err) != station.PortUnavailable || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
			t.Errorf("second open of %s: %v, want PORT_UNAVAILABLE naming pid %d", name, err, os.Getpid())
		}
	}
	first.Close()
	again, err := Open(context.Background(), link, station.ModemConfig{}, nil)
	if err != nil {
		t.Fatalf("the port was not given back by Close: %v", err)
	}
	again.Close()

	// another process holds it (as a second station would)
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("no flock(1) to hold the port from another process")
	}
	holder := exec.Command("flock", "--exclusive", p.Path, "sleep", "30")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err := Open(context.Background(), p.Path, station.ModemConfig{}, nil)
		if err == nil {
			s.Close()
			if time.Now().After(deadline) {
				t.Fatal("the port opened while another process held it")
			}
			time.Sleep(20 * time.Millisecond) // flock(1) not there yet
			continue
		}
		if station.CodeOf(err) != station.PortUnavailable || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", holder.Process.Pid)) {
			t.Errorf("open while another process holds the port: %v, want PORT_UNAVAILABLE naming pid %d", err, holder.Process.Pid)
		}
		t.Log(err)
		break
	}
}
