package ui

import (
	"regexp"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/exp/golden"

	"nrfline/station"
)

// Golden frames: the screen as the operator sees it (colours stripped),
// compared with testdata/<test>.golden. go test ./ui -update rewrites them.

func TestGoldenOperatorPrompt(t *testing.T) {
	h := newHarness(t, 80, 24, Options{})
	h.send(status("A1", station.SlotEmpty), status("A2", station.SlotEmpty))
	golden.RequireEqual(t, h.screen())

	// A barcode scanner types the id and sends Enter.
	cmd := h.key(strings.Split("OP-0042", "")...)
	_ = cmd
	h.deliver(h.key("enter"))
	if got := h.eng.Calls(); len(got) != 1 || got[0] != "operator OP-0042" {
		t.Fatalf("engine calls %q, want one SetOperator(OP-0042)", got)
	}
	if h.m.screen != screenGrid || !strings.Contains(h.screen(), "operator OP-0042") {
		t.Fatalf("after Enter the grid with the operator in the header, got:\n%s", h.screen())
	}
}

func TestGoldenFourSlotsEmptyToPass(t *testing.T) {
	h := newHarness(t, 100, 30, Options{Operator: "OP-0042"})
	names := slotNames(4)
	for _, n := range names {
		h.send(status(n, station.SlotEmpty))
	}
	t.Run("empty", func(t *testing.T) { golden.RequireEqual(t, h.screen()) })

	h.send(running(0, "A1", station.StepFlash, 63), running(1, "A2", station.StepIdentify, 0),
		running(2, "A3", station.StepInject, 0), running(3, "A4", station.StepBootstrap, 0))
	t.Run("running", func(t *testing.T) { golden.RequireEqual(t, h.screen()) })

	h.at(2 * time.Second)
	for i, n := range names {
		h.send(verdict(i, n, station.CodeNone, ""), done(i, n, station.CodeNone, ""))
	}
	t.Run("pass", func(t *testing.T) { golden.RequireEqual(t, h.screen()) })
	if got := strings.Count(h.screen(), "✔ PASS"); got != 4 {
		t.Errorf("%d cards say ✔ PASS, want 4", got)
	}
}

func TestGoldenFailWithCodeAndHint(t *testing.T) {
	h := newHarness(t, 100, 30, Options{Operator: "OP-0042"})
	h.send(done(0, "A1", station.CodeNone, ""),
		done(1, "A2", station.CredMemoryFull, station.StepInject),
		done(2, "A3", station.PortUnavailable, station.StepConnect),
		running(3, "A4", station.StepFlash, 12))
	golden.RequireEqual(t, h.screen())
	s := h.screen()
	for _, want := range []string{"✘ FAIL", "CRED_MEMORY_FULL", "at inject", "Modem credential storage is", "! ERROR", "PORT_UNAVAILABLE"} {
		if !strings.Contains(s, want) {
			t.Errorf("screen lacks %q", want)
		}
	}
}

func TestGoldenDetail(t *testing.T) {
	h := newHarness(t, 100, 40, Options{Operator: "OP-0042"})
	h.send(status("A1", station.SlotEmpty))
	run := runID(1)
	ev := func(kind station.EventKind, d time.Duration, f func(*station.Event)) station.Event {
		e := station.Event{Kind: kind, Slot: "A1", Run: run, Time: t0.Add(d)}
		if f != nil {
			f(&e)
		}
		return e
	}
	step := func(name station.StepName, from, to time.Duration, code station.Code) station.Event {
		return ev(station.StepFinished, to, func(e *station.Event) {
			e.Result = &station.StepResult{Step: name, Started: t0.Add(from), Ended: t0.Add(to), Outcome: code.Outcome(), Code: code}
		})
	}
	line := func(d time.Duration, dir, text string) station.Event {
		return ev(station.DeviceLine, d, func(e *station.Event) { e.Dir, e.Text = dir, text })
	}
	s := time.Second
	h.send(
		ev(station.RunStarted, 0, nil),
		step(station.StepConnect, 0, s/5, ""),
		ev(station.ToolOutput, 2*s, func(e *station.Event) { e.Text = "Programming device … done" }),
		step(station.StepFlash, s/5, 14*s, ""),
		ev(station.UnitIdentified, 15*s, func(e *station.Event) { e.Identity = &station.Identity{IMEI: imeiOf(1)} }),
		line(15*s, station.DirTx, "AT+CGSN=1"),
		line(15*s, station.DirRx, `+CGSN: "`+imeiOf(1)+`"`),
		line(15*s, station.DirRx, "OK"),
		step(station.StepIdentify, 14*s, 15*s, ""),
		line(16*s, station.DirTx, "AT+CFUN=4"),
		line(16*s, station.DirRx, "OK"),
		line(16*s, station.DirTx, `AT%CMNG=0,100,3,"<redacted>"`),
		line(17*s, station.DirRx, "+CME ERROR: 515"),
		line(17*s, station.DirLog, "<inf> lwm2m_client: sec_tag 100 full"),
		step(station.StepInject, 15*s, 17*s, station.CredMemoryFull),
	)
	h.send(verdict(1, "A1", station.CredMemoryFull, station.StepInject), done(1, "A1", station.CredMemoryFull, station.StepInject))
	h.key("enter")
	golden.RequireEqual(t, h.screen())
	if h.m.screen != screenDetail {
		t.Fatal("enter did not open the detail")
	}
	// The detail follows the slot live; another slot's lines stay out.
	h.send(line(18*s, station.DirLog, "<inf> lwm2m_client: retrying"), station.Event{Kind: station.DeviceLine, Slot: "B1", Dir: station.DirLog, Text: "B1 chatter"})
	if got := h.screen(); !strings.Contains(got, "lwm2m_client: retrying") || strings.Contains(got, "B1 chatter") {
		t.Fatalf("detail of A1 after two more lines:\n%s", got)
	}
	h.key("esc")
	if h.m.screen != screenGrid {
		t.Fatal("esc did not go back to the grid")
	}
}

func TestGoldenResizeTo80x24(t *testing.T) {
	h := newHarness(t, 160, 50, Options{Operator: "OP-0042"})
	for i, n := range slotNames(16) {
		switch i % 4 {
		case 0:
			h.send(done(i, n, station.CodeNone, ""))
		case 1:
			h.send(running(i, n, station.StepFlash, 8*i))
		case 2:
			h.send(done(i, n, station.BootstrapTimeout, station.StepBootstrap))
		default:
			h.send(status(n, station.SlotEmpty))
		}
	}
	t.Run("160x50", func(t *testing.T) { golden.RequireEqual(t, h.screen()) })
	h.m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	t.Run("80x24", func(t *testing.T) { golden.RequireEqual(t, h.screen()) })
	h.key("j", "j", "j", "j", "l") // select a slot off screen: the grid scrolls to it
	t.Run("80x24-scrolled", func(t *testing.T) { golden.RequireEqual(t, h.screen()) })
	for _, l := range strings.Split(h.screen(), "\n") {
		if w := len([]rune(l)); w > 80 {
			t.Errorf("line wider than 80: %q", l)
		}
	}
	if n := strings.Count(h.screen(), "\n") + 1; n != 24 {
		t.Errorf("frame has %d lines, want 24", n)
	}
}

func TestGolden32SlotsAt200x60(t *testing.T) {
	h := newHarness(t, 200, 60, Options{Operator: "OP-0042"})
	busy(h, 32)
	golden.RequireEqual(t, h.screen())
	s := h.screen()
	for _, n := range slotNames(32) {
		if !regexp.MustCompile(`\b` + n + `\b`).MatchString(s) {
			t.Errorf("slot %s is not on screen", n)
		}
	}
}

// busy puts n slots into a mix of every state a shift sees.
func busy(h *harness, n int) {
	steps := []station.StepName{station.StepFlash, station.StepIdentify, station.StepInject, station.StepRegister, station.StepBootstrap}
	for i, name := range slotNames(n) {
		switch i % 8 {
		case 0, 3:
			h.send(done(i, name, station.CodeNone, ""))
		case 5:
			h.send(done(i, name, station.LTENoAttach, station.StepBootstrap))
		case 7:
			h.send(done(i, name, station.FlashTool, station.StepFlash))
		default:
			h.send(running(i, name, steps[i%len(steps)], (i*37)%100))
		}
	}
}

// sgrColour finds colour parameters in SGR sequences (30–49, 90–107).
var sgr = regexp.MustCompile("\x1b\\[([0-9;:]*)m")

func coloured(s string) bool {
	for _, m := range sgr.FindAllStringSubmatch(s, -1) {
		for _, p := range strings.FieldsFunc(m[1], func(r rune) bool { return r == ';' || r == ':' }) {
			if p >= "30" && p <= "49" && len(p) == 2 || p >= "90" && p <= "97" && len(p) == 2 || len(p) == 3 && p >= "100" && p <= "107" {
				return true
			}
		}
	}
	return false
}

func TestGoldenNoColor(t *testing.T) {
	frame := func(noColor bool) (raw string, h *harness) {
		h = newHarness(t, 100, 30, Options{Operator: "OP-0042", NoColor: noColor})
		h.send(done(0, "A1", station.CodeNone, ""), done(1, "A2", station.RegistrationFailed, station.StepBootstrap),
			running(2, "A3", station.StepFlash, 45), status("A4", station.SlotDisabled, func(s *station.SlotStatus) { s.Reason = "pogo pins worn" }))
		return h.m.View().Content, h
	}
	raw, h := frame(true)
	if coloured(raw) {
		t.Errorf("NO_COLOR frame carries colour codes: %q", raw)
	}
	if !strings.Contains(raw, "\x1b[") {
		t.Error("NO_COLOR frame has no attributes at all: the verdicts should still stand out in reverse video")
	}
	t.Run("screen", func(t *testing.T) { golden.RequireEqual(t, h.screen()) })
	// The frame with its escapes: which words are reverse video or bold.
	t.Run("attributes", func(t *testing.T) { golden.RequireEqual(t, raw) })
	if colourRaw, _ := frame(false); !coloured(colourRaw) {
		t.Error("the colour theme draws no colour")
	}
}
