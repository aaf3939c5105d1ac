package at

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"nrfline/inject/at/attest"
	"nrfline/station"
)

// transcript collects what observe received, as "dir: line".
type transcript struct {
	mu    sync.Mutex
	lines []string
}

func (tr *transcript) observe(dir, line string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.lines = append(tr.lines, dir+": "+line)
}

func (tr *transcript) all() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.lines...)
}

func (tr *transcript) without(prefix string) []string {
	var out []string
	for _, l := range tr.all() {
		if !strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

func testConfig(mode string) station.ModemConfig {
	return station.ModemConfig{Mode: mode, Baud: 115200,
		CommandTimeout: station.Duration{Duration: 5 * time.Second},
		ReadyTimeout:   station.Duration{Duration: 10 * time.Second}}
}

// mustOpen opens a session on the peer's pty; it is closed at cleanup.
func mustOpen(tb testing.TB, p *attest.Peer, cfg station.ModemConfig) (*Session, *transcript) {
	tb.Helper()
	tr := &transcript{}
	s, err := Open(context.Background(), p.Path, cfg, tr.observe)
	if err != nil {
		tb.Fatalf("open %s: %v", p.Path, err)
	}
	tb.Cleanup(func() { s.Close() })
	return s, tr
}

// step is one scripted exchange: the command the station must send and the
// device's answer.
type step struct {
	cmd   string
	reply attest.Reply
}

// script answers the steps in order and reports any other command.
func script(tb testing.TB, steps []step) func(string) attest.Reply {
	var mu sync.Mutex
	i := 0
	return func(cmd string) attest.Reply {
		mu.Lock()
		defer mu.Unlock()
		if i >= len(steps) {
			tb.Errorf("unexpected command %q after the script ended", cmd)
			return attest.Err("ERROR")
		}
		st := steps[i]
		i++
		if cmd != st.cmd {
			tb.Errorf("command %d: got %q, want %q", i, cmd, st.cmd)
			return attest.Err("ERROR")
		}
		return st.reply
	}
}

// serve runs a device in the background until the peer closes.
func serve(p *attest.Peer, shell bool, h func(string) attest.Reply) *attest.Device {
	d := &attest.Device{Peer: p, Shell: shell, Handle: h}
	go d.Serve()
	return d
}

func ctxT(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

func equalLines(tb testing.TB, what string, got, want []string) {
	tb.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		tb.Errorf("%s:\n got:\n\t%s\nwant:\n\t%s", what, strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

// testTimeout bounds waits for the peer; it never decides a result.
const testTimeout = 10 * time.Second
