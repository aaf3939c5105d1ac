package ui

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"nrfline/station"
)

func fourSlots(t *testing.T, opt Options) *harness {
	t.Helper()
	if opt.Operator == "" {
		opt.Operator = "OP-0042"
	}
	h := newHarness(t, 100, 30, opt)
	h.send(status("A1", station.SlotEmpty), running(1, "A2", station.StepFlash, 20),
		status("A3", station.SlotDisabled), done(3, "A4", station.FlashVerify, station.StepFlash))
	return h
}

func TestKeysSelectSlotsAndSendCommands(t *testing.T) {
	h := fourSlots(t, Options{})
	// 2×2 grid: A1 A2 / A3 A4.
	steps := []struct {
		key, want string
	}{
		{"l", "A2"}, {"j", "A4"}, {"h", "A3"}, {"k", "A1"},
		{"right", "A2"}, {"down", "A4"}, {"left", "A3"}, {"up", "A1"},
		{"up", "A1"}, {"left", "A1"}, // edges hold
	}
	for _, s := range steps {
		h.key(s.key)
		if got := h.m.selected().st.Slot.Name; got != s.want {
			t.Fatalf("after %q selected %s, want %s", s.key, got, s.want)
		}
		if !strings.Contains(h.screen(), "▶"+s.want) {
			t.Fatalf("after %q the screen does not mark %s", s.key, s.want)
		}
	}

	h.deliver(h.key("s"))      // A1
	h.deliver(h.key("l", "a")) // A2 running: abort
	h.deliver(h.key("d"))      // A2 running: disable
	h.deliver(h.key("j", "r")) // A4 FAIL: retest
	h.deliver(h.key("h", "d")) // A3 disabled: enable
	h.key("enter")             // A3 detail: keys act on that slot
	h.deliver(h.key("s"))
	want := "start A1,abort A2,disable A2,retest A4,enable A3,start A3"
	if got := strings.Join(h.eng.Calls(), ","); got != want {
		t.Fatalf("engine calls %s, want %s", got, want)
	}
}

func TestRefusalIsShownInTheFooter(t *testing.T) {
	h := fourSlots(t, Options{})
	h.eng.refuse["retest A1"] = "no unit in the slot"
	h.deliver(h.key("r"))
	if s := h.screen(); !strings.Contains(s, "retest A1 refused: no unit in the slot") {
		t.Fatalf("refusal not on screen:\n%s", s)
	}
	h.at(statusFor + time.Second)
	if s := h.screen(); strings.Contains(s, "refused") {
		t.Fatalf("the refusal is still shown %s later", statusFor)
	}
}

func TestQuitAsksOnlyWhileUnitsRun(t *testing.T) {
	h := fourSlots(t, Options{})
	if cmd := h.key("q"); cmd != nil {
		t.Fatal("q quit at once while A2 runs")
	}
	if !strings.Contains(h.screen(), "1 unit(s) are running") {
		t.Fatalf("no question on screen:\n%s", h.screen())
	}
	h.key("n")
	if h.m.screen != screenGrid {
		t.Fatal("n did not go back to the grid")
	}
	h.key("q")
	if msgs := h.run(h.key("y")); len(msgs) != 1 || msgs[0] != (tea.QuitMsg{}) {
		t.Fatalf("y gave %v, want quit", msgs)
	}

	h.key("n") // the program would have ended; back to the grid
	h.send(done(1, "A2", station.CodeNone, ""))
	if msgs := h.run(h.key("q")); len(msgs) != 1 || msgs[0] != (tea.QuitMsg{}) {
		t.Fatalf("q with nothing running gave %v, want quit", msgs)
	}
}

func bells(msgs []tea.Msg) string {
	var b strings.Builder
	for _, m := range msgs {
		if r, ok := m.(tea.RawMsg); ok {
			b.WriteString(r.Msg.(string))
		}
	}
	return b.String()
}

func TestBellOnEveryVerdict(t *testing.T) {
	for _, on := range []bool{true, false} {
		h := fourSlots(t, Options{Bell: on})
		cmd := h.send(verdict(1, "A2", station.CodeNone, ""), verdict(0, "A1", station.ModemTimeout, station.StepIdentify))
		got := bells(h.run(cmd))
		want := ""
		if on {
			want = "\a\a"
		}
		if got != want {
			t.Errorf("bell=%v: rang %q, want %q", on, got, want)
		}
		if got := bells(h.run(h.send(running(0, "A1", station.StepFlash, 30)))); got != "" {
			t.Errorf("bell=%v: rang %q on a non-verdict", on, got)
		}
	}
}

func TestVerdictStaysUntilTheNextUnit(t *testing.T) {
	h := fourSlots(t, Options{})
	h.send(verdict(1, "A2", station.CodeNone, ""), done(1, "A2", station.CodeNone, ""))
	if n := strings.Count(h.screen(), "✔ PASS"); n != 1 {
		t.Fatalf("%d PASS cards after the verdict, want 1", n)
	}
	// The unit is taken out: the verdict stays.
	h.send(status("A2", station.SlotEmpty, func(s *station.SlotStatus) {
		s.Last = done(1, "A2", station.CodeNone, "").Status.Last
	}))
	if n := strings.Count(h.screen(), "✔ PASS"); n != 1 {
		t.Fatalf("the PASS went away when the unit was taken out:\n%s", h.screen())
	}
	// The next unit arrives: its card is fresh.
	h.send(status("A2", station.SlotPresent, func(s *station.SlotStatus) {
		s.Last = done(1, "A2", station.CodeNone, "").Status.Last
	}))
	if strings.Contains(h.screen(), "PASS") {
		t.Fatalf("a new unit still shows the last one's PASS:\n%s", h.screen())
	}
}

func TestHeaderChecksRunInTheBackground(t *testing.T) {
	var calls atomic.Int32
	release := make(chan struct{})
	h := fourSlots(t, Options{
		PortalCheck: func(ctx context.Context) error {
			calls.Add(1)
			select {
			case <-release:
				return errors.New("dial tcp 127.0.0.1:9: connection refused")
			case <-ctx.Done():
				return ctx.Err()
			}
		},
		Tally: func(context.Context) (Tally, error) {
			return Tally{Pass: 41, Fail: 3, FirstTested: 43, FirstPass: 40}, nil
		},
	})
	cmd := h.m.Init() // Update and Init only hand out commands: nothing ran yet
	if calls.Load() != 0 {
		t.Fatal("the portal check ran inside Init")
	}
	if s := h.screen(); !strings.Contains(s, "portal … checking") {
		t.Fatalf("header:\n%s", s)
	}
	close(release)
	h.deliver(cmd)
	s := h.screen()
	for _, want := range []string{"portal ✘ UNREACHABLE", "today ✔ 41 PASS  ✘ 3 FAIL", "first-pass yield 93.0% (40/43)"} {
		if !strings.Contains(s, want) {
			t.Errorf("header lacks %q:\n%s", want, strings.Join(strings.Split(s, "\n")[:2], "\n"))
		}
	}
	// A second tick while a check is under way starts no second check.
	h.m.portalBusy = true
	h.at(time.Minute)
	h.m.Update(tickMsg(h.now))
	if h.m.portalAt.Equal(h.now) {
		t.Error("a portal check started while one was running")
	}
}

func TestOperatorRefusedStaysOnPrompt(t *testing.T) {
	h := newHarness(t, 80, 24, Options{})
	h.eng.refuse["operator X"] = "unknown badge"
	h.key("X")
	h.deliver(h.key("enter"))
	if h.m.screen != screenPrompt || !strings.Contains(h.screen(), "✘ unknown badge") {
		t.Fatalf("a refused id left the prompt:\n%s", h.screen())
	}
	if h.key("q"); h.m.screen != screenPrompt || h.m.input.Value() != "Xq" {
		t.Fatal("q on the prompt is a letter of the id, not quit")
	}
}

func TestHeaderGivesWayToTheRight(t *testing.T) {
	h := newHarness(t, 80, 24, Options{Operator: "OP-0042",
		Tally: func(context.Context) (Tally, error) {
			return Tally{Pass: 1234, Fail: 56, FirstTested: 1250, FirstPass: 1200}, nil
		},
		PortalCheck: func(context.Context) error { return nil }})
	h.send(running(0, "A1", station.StepFlash, 10), status("A2", station.SlotEmpty))
	h.deliver(h.m.Init())
	second := strings.Split(h.screen(), "\n")[1]
	if !strings.HasSuffix(second, "1/2 running") || !strings.Contains(second, "…") || len([]rune(second)) != 80 {
		t.Fatalf("narrow header line: %q", second)
	}
}

// With [central], the header says how many runs still wait to be shipped to
// the line-wide records.
func TestHeaderShowsTheCentralBacklog(t *testing.T) {
	backlog := 3
	h := newHarness(t, 160, 40, Options{Operator: "OP-0042", Backlog: func() int { return backlog }})
	h.send(status("A1", station.SlotEmpty))
	h.deliver(h.m.Init())
	if second := strings.Split(h.screen(), "\n")[1]; !strings.Contains(second, "central ⧗ 3 to send") {
		t.Fatalf("header line: %q", second)
	}
	backlog = 0
	h.send(status("A1", station.SlotEmpty))
	if second := strings.Split(h.screen(), "\n")[1]; !strings.Contains(second, "central ✔ synced") {
		t.Fatalf("header line after the backlog drained: %q", second)
	}
}
