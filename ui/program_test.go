package ui

import (
	"bytes"
	"context"
	"regexp"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"nrfline/station"
)

// osc matches operating system commands (window title …), which may end
// in a BEL of their own.
var osc = regexp.MustCompile("\x1b\\][^\x07\x1b]*(\x07|\x1b\\\\)")

// TestProgram runs the TUI as a real bubbletea program: the operator id
// typed as a scanner would, four verdicts that ring four bells, and q.
func TestProgram(t *testing.T) {
	eng := newFakeEngine()
	m := New(context.Background(), eng, Options{StationID: "bench-3", Bell: true, Now: func() time.Time { return t0 },
		Firmware: station.Firmware{Name: "tracker-1.4.2.hex", SHA256: "3f2a9c1d5e6b7a8c"}})
	t.Cleanup(m.Close)
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(100, 30))

	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("operator id")) })
	tm.Type("OP-0042")
	tm.Send(tea.KeyPressMsg{Code: tea.KeyEnter})
	select {
	case <-eng.subscribed:
	case <-time.After(5 * time.Second):
		t.Fatal("the TUI never subscribed to the engine")
	}
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("OP-0042")) }, teatest.WithDuration(5*time.Second))

	names := slotNames(4)
	for i, n := range names {
		eng.bus.Publish(running(i, n, station.StepFlash, 50))
	}
	for i, n := range names {
		eng.bus.Publish(verdict(i, n, station.CodeNone, ""))
		eng.bus.Publish(done(i, n, station.CodeNone, ""))
	}
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		return bytes.Count(osc.ReplaceAll(b, nil), []byte("\a")) == 4
	}, teatest.WithDuration(5*time.Second))

	tm.Type("q") // nothing runs: q quits without asking
	final := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(*Model)
	if got := eng.Calls(); len(got) != 1 || got[0] != "operator OP-0042" {
		t.Errorf("engine calls %q", got)
	}
	golden.RequireEqual(t, ansi.Strip(final.View().Content))
}
