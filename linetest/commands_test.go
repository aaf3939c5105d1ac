package linetest

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"nrfline/discover"
	"nrfline/flash"
	"nrfline/inject"
	"nrfline/inject/portal"
	"nrfline/records"
	"nrfline/sim"
	"nrfline/station"
)

// The operator's commands and the line rules, end to end: the engine in
// this process with the real flash runner (the fake tools as processes),
// the real AT sessions over the units' ptys, the real portal client and a
// real SQLite file — what `station run` drives from its keys.

type liveLine struct {
	t     testing.TB
	e     *station.Engine
	store *records.Store
	ctx   context.Context
	stop  func()
	done  chan error

	mu     sync.Mutex
	status map[string]station.SlotStatus
	runs   map[string][]station.Event // events by run
}

func startLive(t testing.TB, l *virtualLine, edit func(*station.Config)) *liveLine {
	t.Helper()
	cfg, err := station.LoadConfig(l.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Line.Autostart = false
	if edit != nil {
		edit(cfg)
	}
	log := slog.New(slog.DiscardHandler)
	fw, err := flash.CheckImage(cfg.Firmware.Hex, cfg.Firmware.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	fl, err := flash.New(cfg.Flash, log)
	if err != nil {
		t.Fatal(err)
	}
	p, err := portal.New(cfg.Portal, os.Getenv, log, portal.WithStationID(cfg.StationID))
	if err != nil {
		t.Fatal(err)
	}
	store, err := records.Open(cfg.Database)
	if err != nil {
		t.Fatal(err)
	}
	// The line's units are found as on a real fixture: the usb discovery
	// over the sysfs tree and uevents the virtual line keeps.
	disc, err := discover.FromConfig(cfg.Line, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	e, err := station.New(station.Options{Config: cfg, Firmware: fw, Flasher: fl, Portal: p, Recorder: store,
		History: store, Modems: inject.Opener(cfg.Modem, log), Discovery: disc})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(t.Context())
	ll := &liveLine{t: t, e: e, store: store, ctx: ctx, stop: stop, done: make(chan error, 1),
		status: map[string]station.SlotStatus{}, runs: map[string][]station.Event{}}
	sub := e.Subscribe(4096, station.Lossless)
	go func() {
		for ev := range sub.C {
			ll.mu.Lock()
			if ev.Kind == station.SlotChanged {
				ll.status[ev.Slot] = *ev.Status
			}
			if ev.Run != "" {
				ll.runs[ev.Run] = append(ll.runs[ev.Run], ev)
			}
			ll.mu.Unlock()
		}
	}()
	go func() { ll.done <- e.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		<-ll.done
		e.Close()
		store.Close()
	})
	return ll
}

// until waits (at most a minute) until the slot's state satisfies ok and
// returns it; what names the wait in the failure.
func (ll *liveLine) until(slot, what string, ok func(station.SlotStatus) bool) station.SlotStatus {
	ll.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		ll.mu.Lock()
		st, seen := ll.status[slot]
		ll.mu.Unlock()
		if seen && ok(st) {
			return st
		}
		time.Sleep(20 * time.Millisecond)
	}
	ll.mu.Lock()
	defer ll.mu.Unlock()
	ll.t.Fatalf("slot %s: %s never came (is %+v)", slot, what, ll.status[slot])
	return station.SlotStatus{}
}

// waitFor waits until slot reaches state.
func (ll *liveLine) waitFor(slot string, state station.SlotState) station.SlotStatus {
	ll.t.Helper()
	return ll.until(slot, string(state), func(st station.SlotStatus) bool { return st.State == state })
}

// next waits for the verdict of a run other than the slot's last one.
func (ll *liveLine) next(slot string, last station.SlotStatus) station.SlotStatus {
	ll.t.Helper()
	return ll.until(slot, "a new verdict", func(st station.SlotStatus) bool {
		return st.State != station.SlotRunning && st.Last != nil && st.Run != last.Run
	})
}

// waitForProbe waits until the slot holds a unit whose probe is accepted.
func (ll *liveLine) waitForProbe(slot string, ok func(probe string) bool) {
	ll.t.Helper()
	ll.until(slot, "a new unit", func(st station.SlotStatus) bool {
		return st.State == station.SlotPresent && st.Device != nil && ok(st.Device.Probe)
	})
}

func (ll *liveLine) do(cmd func(context.Context, string) error, slot string) {
	ll.t.Helper()
	if err := cmd(ll.ctx, slot); err != nil {
		ll.t.Fatalf("command on %s: %v", slot, err)
	}
}

func (ll *liveLine) refused(cmd func(context.Context, string) error, slot, reason string) {
	ll.t.Helper()
	var ref *station.Refusal
	if err := cmd(ll.ctx, slot); !errors.As(err, &ref) || !strings.Contains(ref.Reason, reason) {
		ll.t.Fatalf("got %v, want a refusal saying %q", err, reason)
	}
}

// runOf is the events of the slot's last run.
func (ll *liveLine) runOf(st station.SlotStatus) []station.Event {
	ll.mu.Lock()
	defer ll.mu.Unlock()
	return ll.runs[st.Run]
}

func (ll *liveLine) flashed(st station.SlotStatus) bool {
	for _, ev := range ll.runOf(st) {
		if ev.Kind == station.StepStarted && ev.Step == station.StepFlash {
			return true
		}
	}
	return false
}

func TestOperatorCommandsOnTheVirtualLine(t *testing.T) {
	l := startLine(t, lineSpec{units: 4, speed: 10})
	ll := startLive(t, l, nil)
	e := ll.e
	for _, s := range []string{"A1", "A2", "A3", "A4"} {
		ll.waitFor(s, station.SlotPresent) // autostart off: every unit waits
	}
	if err := e.SetOperator(ll.ctx, "op-42"); err != nil {
		t.Fatal(err)
	}

	ll.do(e.Start, "A1")
	ll.refused(e.Start, "A1", "already in progress")
	ll.refused(e.Disable, "A1", "abort it first")
	if st := ll.waitFor("A1", station.SlotDone); st.Last.Outcome != station.Pass {
		t.Fatalf("A1: %s %s", st.Last.Outcome, st.Last.Code)
	}
	ll.refused(e.Start, "A1", "use retest")
	first := ll.waitFor("A1", station.SlotDone)
	ll.do(e.Retest, "A1")
	if st := ll.next("A1", first); st.Last.Outcome != station.Pass {
		t.Fatalf("A1 retest: %s %s", st.Last.Outcome, st.Last.Code)
	}

	// Abort in the middle of flashing: ABORTED at flash, recorded.
	ll.do(e.Start, "A2")
	for {
		if st := ll.waitFor("A2", station.SlotRunning); st.Step == station.StepFlash {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	ll.do(e.Abort, "A2")
	if st := ll.waitFor("A2", station.SlotDone); st.Last.Outcome != station.Aborted || st.Last.Step != station.StepFlash {
		t.Fatalf("A2 after abort: %s at %s", st.Last.Outcome, st.Last.Step)
	}
	ll.refused(e.Abort, "A2", "nothing is running")

	ll.do(e.Disable, "A3")
	ll.waitFor("A3", station.SlotDisabled)
	ll.refused(e.Start, "A3", "enable it first")
	ll.refused(e.Disable, "A3", "already disabled")
	ll.do(e.Enable, "A3")
	ll.waitFor("A3", station.SlotPresent)
	ll.do(e.Start, "A3")
	ll.waitFor("A3", station.SlotDone)
	ll.refused(e.Start, "NOPE", "no such slot")

	rows := reportRunsIn(t, l.dir+"/station.db")
	if len(rows) != 4 {
		t.Fatalf("%d runs recorded, want 4 (A1 twice, A2 aborted, A3)", len(rows))
	}
	for _, r := range rows {
		if r.Outcome == "RUNNING" {
			t.Errorf("run %s left RUNNING", r.ID)
		}
	}
	for _, st := range []string{"A1", "A3"} {
		for _, ev := range ll.runOf(ll.waitFor(st, station.SlotDone)) {
			if ev.Kind == station.RunStarted && ev.Start.Operator != "op-42" {
				t.Errorf("%s recorded operator %q", st, ev.Start.Operator)
			}
		}
	}
}

// rules.lock_after: a slot failing units for fixture reasons is LOCKED
// until Enable (a unit that never answers is MODEM_NOT_READY, a fixture
// code: wrong port, VCOM or cable).
func TestLockAfterOnTheVirtualLine(t *testing.T) {
	l := startLine(t, lineSpec{units: 1, speed: 20, faults: "silent:1"})
	ll := startLive(t, l, func(c *station.Config) { c.Rules.LockAfter = 2 })
	ll.waitFor("A1", station.SlotPresent)
	ll.do(ll.e.Start, "A1")
	first := ll.waitFor("A1", station.SlotDone)
	if first.Last.Code != station.ModemNotReady || first.Failures != 1 {
		t.Fatalf("first run: %s, failures %d", first.Last.Code, first.Failures)
	}
	ll.do(ll.e.Retest, "A1")
	st := ll.next("A1", first)
	if st.State != station.SlotLockedSt || !strings.Contains(st.Reason, "SLOT_LOCKED") {
		t.Fatalf("after two fixture failures: %s %q", st.State, st.Reason)
	}
	ll.refused(ll.e.Retest, "A1", "enable it first")
	ll.do(ll.e.Enable, "A1")
	ll.waitFor("A1", station.SlotPresent)
}

// rules.max_attempts counts the records across restarts and refuses the
// unit before anything is written to it; rules.reprovision = "refuse"
// refuses a unit that already passed.
func TestUnitRulesOnTheVirtualLine(t *testing.T) {
	t.Run("max attempts", func(t *testing.T) {
		l := startLine(t, lineSpec{units: 1, speed: 20})
		ll := startLive(t, l, func(c *station.Config) { c.Rules.MaxAttempts = 2 })
		ll.waitFor("A1", station.SlotPresent)
		ll.do(ll.e.Start, "A1")
		first := ll.waitFor("A1", station.SlotDone)
		ll.do(ll.e.Retest, "A1")
		ll.next("A1", first)
		ll.stop() // a restart: the count comes from the records
		<-ll.done
		ll.done <- nil
		ll.e.Close()
		ll.store.Close()

		ll = startLive(t, l, func(c *station.Config) { c.Rules.MaxAttempts = 2 })
		ll.waitFor("A1", station.SlotPresent)
		ll.do(ll.e.Start, "A1")
		st := ll.next("A1", station.SlotStatus{})
		if st.Last.Code != station.RetestLimit || st.Last.Step != station.StepConnect || ll.flashed(st) {
			t.Fatalf("third attempt: %s at %s, flashed %t; want RETEST_LIMIT at connect, not flashed", st.Last.Code, st.Last.Step, ll.flashed(st))
		}
	})
	t.Run("reprovision refuse", func(t *testing.T) {
		l := startLine(t, lineSpec{units: 1, speed: 20})
		ll := startLive(t, l, func(c *station.Config) { c.Rules.Reprovision = "refuse" })
		ll.waitFor("A1", station.SlotPresent)
		ll.do(ll.e.Start, "A1")
		first := ll.waitFor("A1", station.SlotDone)
		if first.Last.Outcome != station.Pass {
			t.Fatalf("first run %s %s", first.Last.Outcome, first.Last.Code)
		}
		ll.do(ll.e.Retest, "A1")
		st := ll.next("A1", first)
		if st.Last.Code != station.AlreadyProvisioned || ll.flashed(st) {
			t.Fatalf("retest of a good unit: %s, flashed %t", st.Last.Code, ll.flashed(st))
		}
	})
}

// The same IMEI in two slots at once: a unit with a cloned IMEI (`sim ctl
// clone`) is refused while the first is still in the fixture, before
// anything is written to it; once the first is pulled out the clone is an
// ordinary unit.
func TestDuplicateIMEIOnTheVirtualLine(t *testing.T) {
	l := startLine(t, lineSpec{units: 2, speed: 20})
	ll := startLive(t, l, nil)
	ll.waitFor("A1", station.SlotPresent)
	ll.do(ll.e.Start, "A1")
	first := ll.waitFor("A1", station.SlotDone)
	if first.Last.Outcome != station.Pass {
		t.Fatalf("A1: %s %s", first.Last.Outcome, first.Last.Code)
	}
	before := ll.waitFor("A2", station.SlotPresent)
	text, err := sim.Control(ll.ctx, l.dir, sim.VerbClone, 2, 1)
	if err != nil || !strings.Contains(text, first.Last.IMEI) {
		t.Fatalf("clone: %q, %v (want IMEI %s)", text, err, first.Last.IMEI)
	}
	ll.waitForProbe("A2", func(p string) bool { return p != before.Device.Probe })
	ll.do(ll.e.Start, "A2")
	dup := ll.next("A2", station.SlotStatus{})
	if dup.Last.Code != station.DuplicateIMEI || dup.Last.Outcome != station.Errored || ll.injected(dup) {
		t.Fatalf("clone while A1 holds the IMEI: %s %s, credentials written %t; want ERROR DUPLICATE_IMEI, none written",
			dup.Last.Outcome, dup.Last.Code, ll.injected(dup))
	}
	if !strings.Contains(dup.Last.Detail, "A1") {
		t.Errorf("the refusal does not name the other slot: %q", dup.Last.Detail)
	}
	if st := ll.waitFor("A1", station.SlotDone); st.Run != first.Run {
		t.Errorf("A1 was disturbed: %+v", st)
	}

	if _, err := l.Unplug(1); err != nil {
		t.Fatal(err)
	}
	ll.waitFor("A1", station.SlotEmpty)
	ll.do(ll.e.Retest, "A2")
	if st := ll.next("A2", dup); st.Last.Outcome != station.Pass {
		t.Fatalf("the clone alone in the fixture: %s %s", st.Last.Outcome, st.Last.Code)
	}
}

// injected: the run reached the credential write.
func (ll *liveLine) injected(st station.SlotStatus) bool {
	for _, ev := range ll.runOf(st) {
		if ev.Kind == station.StepStarted && ev.Step == station.StepInject {
			return true
		}
	}
	return false
}
