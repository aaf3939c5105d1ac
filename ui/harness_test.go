package ui

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"nrfline/station"
)

// fakeEngine is the line as the TUI sees it: a real station.Bus for the
// events, and commands that are recorded and refused on request.
type fakeEngine struct {
	bus *station.Bus

	subscribed chan struct{} // closed at the first Subscribe
	once       sync.Once

	mu       sync.Mutex
	calls    []string
	refuse   map[string]string // "retest A2" → reason
	operator string
}

var _ Engine = (*fakeEngine)(nil)

func newFakeEngine() *fakeEngine {
	return &fakeEngine{bus: station.NewBus(), refuse: map[string]string{}, subscribed: make(chan struct{})}
}

func (f *fakeEngine) Subscribe(buf int, d station.Delivery) *station.Subscription {
	sub := f.bus.Subscribe(buf, d)
	f.once.Do(func() { close(f.subscribed) })
	return sub
}

func (f *fakeEngine) do(cmd, slot string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, cmd+" "+slot)
	if reason, ok := f.refuse[cmd+" "+slot]; ok {
		return &station.Refusal{Command: cmd, Slot: slot, Reason: reason}
	}
	return nil
}

func (f *fakeEngine) Start(_ context.Context, s string) error   { return f.do("start", s) }
func (f *fakeEngine) Retest(_ context.Context, s string) error  { return f.do("retest", s) }
func (f *fakeEngine) Abort(_ context.Context, s string) error   { return f.do("abort", s) }
func (f *fakeEngine) Disable(_ context.Context, s string) error { return f.do("disable", s) }
func (f *fakeEngine) Enable(_ context.Context, s string) error  { return f.do("enable", s) }
func (f *fakeEngine) SetOperator(_ context.Context, id string) error {
	f.mu.Lock()
	f.operator = id
	f.mu.Unlock()
	return f.do("operator", id)
}

func (f *fakeEngine) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// t0 is the fixed instant of every golden frame.
var t0 = time.Date(2026, 12, 6, 9, 30, 0, 0, time.UTC)

// harness drives a Model with messages, as the program would, but
// synchronously: every frame is deterministic.
type harness struct {
	tb   testing.TB
	eng  *fakeEngine
	m    *Model
	now  time.Time
	feed *station.Subscription
}

func newHarness(tb testing.TB, w, h int, opt Options) *harness {
	tb.Helper()
	hs := &harness{tb: tb, eng: newFakeEngine(), now: t0}
	if opt.StationID == "" {
		opt.StationID = "bench-3"
	}
	if opt.Firmware.Name == "" {
		opt.Firmware = station.Firmware{Name: "tracker-1.4.2.hex", SHA256: "3f2a9c1d5e6b7a8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e"}
	}
	opt.Now = func() time.Time { return hs.now }
	hs.m = New(context.Background(), hs.eng, opt)
	hs.m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	// The harness reads the bus itself and hands the model exactly the
	// events of each step; the model's own subscription is on a silent bus,
	// so the wait commands it returns never take an event away.
	hs.feed = hs.eng.Subscribe(subBuffer, station.Latest)
	tb.Cleanup(hs.feed.Close)
	silent := station.NewBus().Subscribe(1, station.Latest)
	tb.Cleanup(silent.Close)
	hs.m.Update(subscribedMsg{silent})
	return hs
}

// send publishes events on the bus and folds exactly those into the model.
func (h *harness) send(evs ...station.Event) tea.Cmd {
	h.tb.Helper()
	for _, ev := range evs {
		if ev.Time.IsZero() {
			ev.Time = h.now
		}
		h.eng.bus.Publish(ev)
	}
	got := make([]station.Event, 0, len(evs))
	timeout := time.After(5 * time.Second)
	for len(got) < len(evs) {
		select {
		case ev := <-h.feed.C:
			got = append(got, ev)
		case <-timeout:
			h.tb.Fatalf("only %d of %d events arrived", len(got), len(evs))
		}
	}
	_, cmd := h.m.Update(eventsMsg{events: got})
	return cmd
}

// at moves the clock and lets the model see it.
func (h *harness) at(d time.Duration) {
	h.now = t0.Add(d)
	h.m.Update(tickMsg(h.now))
}

func (h *harness) key(keys ...string) tea.Cmd {
	var cmd tea.Cmd
	for _, k := range keys {
		_, cmd = h.m.Update(keyMsg(k))
	}
	return cmd
}

// run executes a command the way the program would (one level of
// batching), returning the messages that arrive within a short time;
// commands that wait on the subscription are left waiting.
func (h *harness) run(cmd tea.Cmd) []tea.Msg {
	out := make(chan tea.Msg, 16)
	var start func(tea.Cmd)
	start = func(c tea.Cmd) {
		if c == nil {
			return
		}
		go func() {
			msg := c()
			if batch, ok := msg.(tea.BatchMsg); ok {
				for _, c := range batch {
					start(c)
				}
				return
			}
			out <- msg
		}()
	}
	start(cmd)
	var msgs []tea.Msg
	deadline := time.After(300 * time.Millisecond)
	for {
		select {
		case m := <-out:
			msgs = append(msgs, m)
		case <-deadline:
			return msgs
		}
	}
}

// deliver runs cmd and feeds its messages back into the model.
func (h *harness) deliver(cmd tea.Cmd) {
	for _, msg := range h.run(cmd) {
		h.m.Update(msg)
	}
}

func (h *harness) screen() string { return ansi.Strip(h.m.View().Content) }

func keyMsg(k string) tea.KeyPressMsg {
	switch k {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "left":
		return tea.KeyPressMsg{Code: tea.KeyLeft}
	case "right":
		return tea.KeyPressMsg{Code: tea.KeyRight}
	case "ctrl+c":
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	}
	r := []rune(k)
	return tea.KeyPressMsg{Code: r[0], Text: k}
}

// Event builders for a slot's life.

func slotNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%c%d", 'A'+i/8, i%8+1)
	}
	return names
}

func status(name string, state station.SlotState, mut ...func(*station.SlotStatus)) station.Event {
	st := &station.SlotStatus{Slot: station.Slot{Name: name, Probe: "10512021" + name}, State: state, Since: t0}
	for _, f := range mut {
		f(st)
	}
	return station.Event{Kind: station.SlotChanged, Slot: name, Run: st.Run, Status: st}
}

func imeiOf(i int) string { return fmt.Sprintf("35940011%07d", 1234+i) }

// running is slot i in step at the given percent, its run started 40 s ago.
func running(i int, name string, step station.StepName, pct int) station.Event {
	return status(name, station.SlotRunning, func(st *station.SlotStatus) {
		st.Run, st.Step, st.Percent = runID(i), step, pct
		st.Started, st.Since = t0.Add(-40*time.Second), t0.Add(-7*time.Second)
		if step != station.StepFlash && step != station.StepConnect {
			st.Identity = &station.Identity{IMEI: imeiOf(i)}
		}
	})
}

func runID(i int) string { return fmt.Sprintf("0193a1b2-0000-7000-8000-%012d", i) }

func verdict(i int, name string, code station.Code, step station.StepName) station.Event {
	v := &station.Verdict{Run: runID(i), Slot: name, IMEI: imeiOf(i), Outcome: code.Outcome(), Code: code,
		Step: step, Hint: code.Hint(), Started: t0.Add(-62 * time.Second), Ended: t0}
	return station.Event{Kind: station.VerdictReached, Slot: name, Run: v.Run, Verdict: v}
}

// done is the slot's state after its verdict.
func done(i int, name string, code station.Code, step station.StepName) station.Event {
	v := verdict(i, name, code, step).Verdict
	return status(name, station.SlotDone, func(st *station.SlotStatus) {
		st.Run, st.Last, st.Started = v.Run, v, v.Started
		st.Identity = &station.Identity{IMEI: v.IMEI}
	})
}
