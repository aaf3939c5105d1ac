package station

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// The line's actor: slots follow discovery, operator commands and the line
// rules. Runs use the in-package fakes of engine_test.go; every unit of a
// slot has its own modem (and IMEI) behind the slot's port.

// fakeDiscovery forwards what a test plugs and unplugs.
type fakeDiscovery struct {
	initial []Device
	in      chan DeviceEvent
}

func newFakeDiscovery(initial ...Device) *fakeDiscovery {
	return &fakeDiscovery{initial: initial, in: make(chan DeviceEvent)}
}

func (f *fakeDiscovery) Watch(ctx context.Context) (<-chan DeviceEvent, error) {
	out := make(chan DeviceEvent, len(f.initial)+1)
	for _, d := range f.initial {
		out <- DeviceEvent{Attached: true, Device: d}
	}
	go func() {
		defer close(out)
		for {
			select {
			case ev := <-f.in:
				out <- ev
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

func (f *fakeDiscovery) plug(d Device)   { f.in <- DeviceEvent{Attached: true, Device: d} }
func (f *fakeDiscovery) unplug(d Device) { f.in <- DeviceEvent{Device: d} }

// unitModem is a fakeModem with its own IMEI.
type unitModem struct {
	fakeModem
	imei string
}

func (m *unitModem) Identify(context.Context, bool) (Identity, error) {
	return Identity{IMEI: m.imei, ModemFW: "mfw_nrf91x1_2.0.2"}, nil
}

func (m *unitModem) Watch(ctx context.Context, mk Markers, trigger func(context.Context) error) (BootReport, error) {
	rep, err := m.fakeModem.Watch(ctx, mk, trigger)
	rep.Endpoint = "urn:imei:" + m.imei
	return rep, err
}

// gateFlasher blocks Program until the test lets it go (or ctx ends).
type gateFlasher struct {
	fakeFlasher
	gate chan struct{} // nil: never blocks
}

func (g *gateFlasher) Program(ctx context.Context, probe string, fw Firmware, report func(ToolLine)) error {
	if g.gate != nil {
		select {
		case <-g.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return g.fakeFlasher.Program(ctx, probe, fw, report)
}

type fakeHistory struct {
	mu   sync.Mutex
	byID map[string]UnitHistory
}

func (h *fakeHistory) UnitHistory(_ context.Context, imei string) (UnitHistory, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.byID[imei], nil
}

type lineRig struct {
	t        *testing.T
	cfg      *Config
	flasher  *gateFlasher
	recorder *memRecorder
	disc     *fakeDiscovery
	history  *fakeHistory
	imeis    map[string]string // port → IMEI of the unit there
	portal   fakePortal
	e        *Engine
	sub      *Subscription
	mu       sync.Mutex
	status   map[string]SlotStatus
	events   []Event
	realTime bool // not in a synctest bubble
}

// IMEIs with valid Luhn digits for up to four units.
var rigIMEIs = []string{"352656100367872", "352656107449525", "490154203237518", "356938035643809"}

func newLineRig(t *testing.T, slots int, edit func(*Config)) *lineRig {
	t.Helper()
	var b strings.Builder
	b.WriteString(strings.Split(goodConfig, "[[slot]]")[0])
	for i := range slots {
		fmt.Fprintf(&b, "[[slot]]\nname = \"S%d\"\nusb = \"1-1.%d\"\n\n", i+1, i+1)
	}
	cfg, err := ParseConfig("/x/station.toml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(cfg)
	}
	rig := &lineRig{t: t, cfg: cfg, flasher: &gateFlasher{}, recorder: &memRecorder{}, disc: newFakeDiscovery(),
		history: &fakeHistory{byID: map[string]UnitHistory{}}, imeis: map[string]string{}, status: map[string]SlotStatus{}}
	return rig
}

// unit is the device of slot i (1-based) holding the IMEI rigIMEIs[imei].
func (r *lineRig) unit(slot, imei int) Device {
	port := fmt.Sprintf("/dev/ttyACM%d", slot)
	r.mu.Lock()
	r.imeis[port] = rigIMEIs[imei]
	r.mu.Unlock()
	return Device{Probe: fmt.Sprintf("105120%04d", slot*10+imei), USB: fmt.Sprintf("1-1.%d", slot), Console: port, Ports: []string{port}}
}

func (r *lineRig) start(ctx context.Context, run func(ctx context.Context) error) chan error {
	r.t.Helper()
	e, err := New(Options{
		Config: r.cfg, Flasher: r.flasher, Portal: &r.portal, Recorder: r.recorder, History: r.history,
		Discovery: r.disc, PublishWait: time.Second,
		Modems: func(_ context.Context, port string, _ func(string, string)) (Modem, error) {
			r.mu.Lock()
			defer r.mu.Unlock()
			return &unitModem{fakeModem: fakeModem{boot: goodBoot, tag: map[int]string{3: "A", 4: "B"}}, imei: r.imeis[port]}, nil
		},
	})
	if err != nil {
		r.t.Fatal(err)
	}
	r.e = e
	r.t.Cleanup(e.Close)
	r.sub = e.Subscribe(4096, Latest)
	go func() {
		for ev := range r.sub.C {
			r.mu.Lock()
			r.events = append(r.events, ev)
			if ev.Kind == SlotChanged {
				r.status[ev.Slot] = *ev.Status
			}
			r.mu.Unlock()
		}
	}()
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	if !r.realTime {
		synctest.Wait()
	}
	return done
}

// state is slot's state once the line has nothing more to do for a minute.
func (r *lineRig) state(slot string) SlotStatus {
	time.Sleep(time.Minute)
	synctest.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status[slot]
}

func (r *lineRig) wantState(slot string, want SlotState) SlotStatus {
	r.t.Helper()
	st := r.state(slot)
	if st.State != want {
		r.t.Fatalf("slot %s is %s (%s), want %s", slot, st.State, st.Reason, want)
	}
	return st
}

func (r *lineRig) verdicts() []Verdict {
	r.recorder.mu.Lock()
	defer r.recorder.mu.Unlock()
	var out []Verdict
	for _, ev := range r.recorder.events {
		if ev.Kind == VerdictReached {
			out = append(out, *ev.Verdict)
		}
	}
	return out
}

func wantRefused(t *testing.T, err error, reason string) {
	t.Helper()
	var ref *Refusal
	if !errors.As(err, &ref) || !strings.Contains(ref.Reason, reason) {
		t.Fatalf("got %v, want a refusal saying %q", err, reason)
	}
}

// With autostart off a unit waits for Start; every command answers accepted
// or refused with a reason, and a slot never runs two pipelines.
func TestOperatorCommands(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := newLineRig(t, 2, func(c *Config) { c.Line.Autostart = false })
		ctx, cancel := context.WithCancel(t.Context())
		done := rig.start(ctx, rig.e2run)
		e := rig.e

		wantRefused(t, e.Start(ctx, "S1"), "no unit")
		wantRefused(t, e.Start(ctx, "S9"), "no such slot")
		rig.disc.plug(rig.unit(1, 0))
		rig.wantState("S1", SlotPresent)
		if n := len(rig.verdicts()); n != 0 {
			t.Fatalf("%d runs started without Start", n)
		}
		if err := e.SetOperator(ctx, " op-17 "); err != nil {
			t.Fatal(err)
		}

		rig.flasher.gate = make(chan struct{})
		if err := e.Start(ctx, "S1"); err != nil {
			t.Fatal(err)
		}
		rig.wantState("S1", SlotRunning)
		wantRefused(t, e.Start(ctx, "S1"), "already in progress")
		wantRefused(t, e.Retest(ctx, "S1"), "already in progress")
		wantRefused(t, e.Disable(ctx, "S1"), "abort it first")
		close(rig.flasher.gate)
		st := rig.wantState("S1", SlotDone)
		if st.Last == nil || st.Last.Outcome != Pass || st.Last.IMEI != rigIMEIs[0] {
			t.Fatalf("last verdict %+v", st.Last)
		}
		if got := rig.recorder.events[0].Start.Operator; got != "op-17" {
			t.Errorf("operator recorded %q", got)
		}
		wantRefused(t, e.Start(ctx, "S1"), "use retest")

		// Retest, then abort it mid-flash.
		rig.flasher.gate = make(chan struct{})
		if err := e.Retest(ctx, "S1"); err != nil {
			t.Fatal(err)
		}
		rig.wantState("S1", SlotRunning)
		if err := e.Abort(ctx, "S1"); err != nil {
			t.Fatal(err)
		}
		st = rig.wantState("S1", SlotDone)
		if st.Last.Outcome != Aborted || st.Last.Step != StepFlash {
			t.Fatalf("aborted run ended %s at %s", st.Last.Outcome, st.Last.Step)
		}
		wantRefused(t, e.Abort(ctx, "S1"), "nothing is running")

		// Disable takes the slot out of service: an insertion does nothing.
		if err := e.Disable(ctx, "S2"); err != nil {
			t.Fatal(err)
		}
		wantRefused(t, e.Disable(ctx, "S2"), "already disabled")
		rig.disc.plug(rig.unit(2, 1))
		rig.wantState("S2", SlotDisabled)
		wantRefused(t, e.Start(ctx, "S2"), "enable it first")
		if err := e.Enable(ctx, "S2"); err != nil {
			t.Fatal(err)
		}
		rig.wantState("S2", SlotPresent)
		wantRefused(t, e.Enable(ctx, "S2"), "in service")

		// Removing a tested unit empties its slot.
		rig.disc.unplug(rig.unit(1, 0))
		rig.wantState("S1", SlotEmpty)

		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if n := len(rig.verdicts()); n != 2 {
			t.Fatalf("%d verdicts, want 2", n)
		}
	})
}

func (r *lineRig) e2run(ctx context.Context) error { return r.e.Run(ctx) }

// Continuous mode: every insertion is provisioned exactly once, a removed
// slot is EMPTY at once, and a new unit in the same place runs again.
func TestEveryInsertionProvisionedOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := newLineRig(t, 2, nil)
		ctx, cancel := context.WithCancel(t.Context())
		done := rig.start(ctx, rig.e2run)
		a, b := rig.unit(1, 0), rig.unit(2, 1)
		rig.disc.plug(a)
		rig.disc.plug(b)
		rig.wantState("S1", SlotDone)
		rig.wantState("S2", SlotDone)
		rig.disc.plug(a) // a re-enumeration the discovery let through
		time.Sleep(time.Minute)
		if n := len(rig.verdicts()); n != 2 {
			t.Fatalf("%d verdicts for two insertions", n)
		}
		rig.disc.unplug(a)
		rig.wantState("S1", SlotEmpty)
		c := rig.unit(1, 2) // a new unit, a new probe, the same place
		rig.disc.plug(c)
		st := rig.wantState("S1", SlotDone)
		if st.Last.IMEI != rigIMEIs[2] || st.Slot.Probe != c.Probe {
			t.Fatalf("new unit's run: IMEI %s probe %s", st.Last.IMEI, st.Slot.Probe)
		}
		cancel()
		<-done
		if n := len(rig.verdicts()); n != 3 {
			t.Fatalf("%d verdicts for three insertions", n)
		}
	})
}

// --once --count 1 with four units present runs exactly one.
func TestOnceWithCountRunsOnlyCount(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := newLineRig(t, 4, nil)
		for i := 1; i <= 4; i++ {
			rig.disc.initial = append(rig.disc.initial, rig.unit(i, i-1))
		}
		var got []Verdict
		done := rig.start(t.Context(), func(ctx context.Context) (err error) {
			got, err = rig.e.RunOnce(ctx, 1)
			return err
		})
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || len(rig.verdicts()) != 1 {
			t.Fatalf("%d verdicts returned, %d recorded; want 1", len(got), len(rig.verdicts()))
		}
	})
}

// --once runs the units present at start, not those inserted later.
func TestOnceRunsTheUnitsPresentAtStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := newLineRig(t, 3, nil)
		rig.disc.initial = []Device{rig.unit(1, 0), rig.unit(2, 1)}
		rig.flasher.gate = make(chan struct{})
		var got []Verdict
		done := rig.start(t.Context(), func(ctx context.Context) (err error) {
			got, err = rig.e.RunOnce(ctx, 0)
			return err
		})
		rig.disc.plug(rig.unit(3, 2))
		close(rig.flasher.gate)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("%d verdicts, want the 2 units present at start", len(got))
		}
	})
}

// rules.lock_after: a slot whose fixture failed units in a row is LOCKED
// until Enable; a unit failure in between resets the count.
func TestLockAfterFixtureFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := newLineRig(t, 1, func(c *Config) { c.Rules.LockAfter = 2 })
		jlink := Errorf(FlashJLink, nil, "exit 33")
		ctx, cancel := context.WithCancel(t.Context())
		done := rig.start(ctx, rig.e2run)
		insert := func(imei int, errs ...error) SlotStatus {
			rig.flasher.mu.Lock()
			rig.flasher.program = errs
			rig.flasher.mu.Unlock()
			u := rig.unit(1, imei)
			rig.disc.plug(u)
			st := rig.state("S1")
			if st.State == SlotDone {
				rig.disc.unplug(u)
			}
			return st
		}
		insert(0, jlink, jlink)                                      // fixture failure 1
		insert(1, Errorf(FlashVerify, nil, "verify failed"))         // the unit's own: resets
		insert(2, jlink, jlink)                                      // 1
		if st := insert(3, jlink, jlink); st.State != SlotLockedSt { // 2: locked
			t.Fatalf("after two fixture failures in a row the slot is %s", st.State)
		} else if !strings.Contains(st.Reason, "SLOT_LOCKED") || st.Last.Code != FlashJLink {
			t.Fatalf("locked slot: reason %q, last %s", st.Reason, st.Last.Code)
		}
		runs := len(rig.verdicts())
		rig.disc.unplug(rig.unit(1, 3))
		rig.disc.plug(rig.unit(1, 0))
		if rig.wantState("S1", SlotLockedSt); len(rig.verdicts()) != runs {
			t.Fatal("a locked slot started a run")
		}
		if err := rig.e.Enable(ctx, "S1"); err != nil {
			t.Fatal(err)
		}
		rig.wantState("S1", SlotPresent)
		if err := rig.e.Start(ctx, "S1"); err != nil {
			t.Fatal(err)
		}
		if st := rig.wantState("S1", SlotDone); st.Last.Outcome != Pass {
			t.Fatalf("after enable: %s %s", st.Last.Outcome, st.Last.Code)
		}
		cancel()
		<-done
	})
}

// rules.max_attempts and rules.reprovision refuse a unit before anything is
// written to it (the unit answers AT before flashing), and the same IMEI in
// two slots at once is refused to the second.
func TestUnitRules(t *testing.T) {
	tests := []struct {
		name    string
		rules   RulesConfig
		history UnitHistory
		want    Code
		flashed bool
	}{
		{"retest limit", RulesConfig{MaxAttempts: 3, Reprovision: "allow"}, UnitHistory{Attempts: 3}, RetestLimit, false},
		{"under the limit", RulesConfig{MaxAttempts: 3, Reprovision: "allow"}, UnitHistory{Attempts: 2}, CodeNone, true},
		{"already provisioned", RulesConfig{Reprovision: "refuse"}, UnitHistory{Attempts: 1, Passed: true}, AlreadyProvisioned, false},
		{"reprovision warns", RulesConfig{Reprovision: "warn"}, UnitHistory{Attempts: 1, Passed: true}, CodeNone, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rig := newLineRig(t, 1, func(c *Config) { c.Rules = tt.rules })
				rig.disc.initial = []Device{rig.unit(1, 0)}
				rig.history.byID[rigIMEIs[0]] = tt.history
				done := rig.start(t.Context(), func(ctx context.Context) error { _, err := rig.e.RunOnce(ctx, 0); return err })
				<-done
				v := rig.verdicts()
				if len(v) != 1 || v[0].Code != tt.want {
					t.Fatalf("verdicts %+v, want one %q", v, tt.want)
				}
				if flashed := len(rig.flasher.calls) > 0; flashed != tt.flashed {
					t.Errorf("flashed=%t, want %t (calls %v)", flashed, tt.flashed, rig.flasher.calls)
				}
				if tt.want != CodeNone && v[0].Step != StepConnect {
					t.Errorf("refused at %s, want connect (before anything is written)", v[0].Step)
				}
				notes := 0
				for _, ev := range rig.recorder.events {
					if ev.Kind == Note && strings.Contains(ev.Text, "already passed") {
						notes++
					}
				}
				if (tt.rules.Reprovision == "warn") != (notes == 1) {
					t.Errorf("%d 'already passed' notes", notes)
				}
			})
		})
	}
	t.Run("duplicate IMEI", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			rig := newLineRig(t, 2, nil)
			rig.disc.initial = []Device{rig.unit(1, 0), rig.unit(2, 0)} // a cloned IMEI
			done := rig.start(t.Context(), func(ctx context.Context) error { _, err := rig.e.RunOnce(ctx, 0); return err })
			<-done
			codes := map[Code]int{}
			for _, v := range rig.verdicts() {
				codes[v.Code]++
			}
			if codes[CodeNone] != 1 || codes[DuplicateIMEI] != 1 {
				t.Fatalf("verdicts by code %v, want one PASS and one DUPLICATE_IMEI", codes)
			}
		})
	})
}

// A new subscriber first gets every slot's whole state, then live events.
func TestNewSubscriberGetsSnapshotFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := newLineRig(t, 3, func(c *Config) { c.Line.Autostart = false })
		ctx, cancel := context.WithCancel(t.Context())
		done := rig.start(ctx, rig.e2run)
		rig.disc.plug(rig.unit(2, 1))
		if err := rig.e.Disable(ctx, "S3"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		sub := rig.e.Subscribe(64, Latest)
		want := map[string]SlotState{"S1": SlotEmpty, "S2": SlotPresent, "S3": SlotDisabled}
		for i := range 3 {
			ev := <-sub.C
			if ev.Kind != SlotChanged || ev.Status.State != want[ev.Slot] {
				t.Fatalf("snapshot event %d: %s %s %+v", i, ev.Kind, ev.Slot, ev.Status)
			}
		}
		if snap := rig.e.Snapshot(); len(snap) != 3 || snap[1].Device == nil || snap[1].Device.USB != "1-1.2" {
			t.Fatalf("Snapshot %+v", snap)
		}
		sub.Close()
		cancel()
		<-done
	})
}

// A Lossless subscriber that stops reading is dropped after a bounded wait
// instead of freezing every slot; it can tell its output is incomplete.
// Real time: a publisher waiting for the stuck subscriber holds the
// ordering lock, which a synctest bubble does not count as blocked.
func TestStuckLosslessSubscriberDoesNotFreezeTheLine(t *testing.T) {
	rig := newLineRig(t, 4, nil)
	rig.realTime = true
	for i := 1; i <= 4; i++ {
		rig.disc.initial = append(rig.disc.initial, rig.unit(i, i-1))
	}
	var stuck *Subscription
	done := rig.start(t.Context(), func(ctx context.Context) error {
		stuck = rig.e.Subscribe(16, Lossless) // never read
		_, err := rig.e.RunOnce(ctx, 0)
		return err
	})
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the line froze behind a subscriber that stopped reading")
	}
	if n := len(rig.verdicts()); n != 4 {
		t.Fatalf("%d verdicts", n)
	}
	if !stuck.Dropped() {
		t.Error("the stuck subscriber was not reported dropped")
	}
}

// A unit pulled during its run and replaced by another before the run
// ended: the new unit is owed a run, not the old unit's verdict.
func TestUnitSwappedDuringItsRunIsProvisioned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := newLineRig(t, 1, nil)
		ctx, cancel := context.WithCancel(t.Context())
		done := rig.start(ctx, rig.e2run)
		rig.flasher.gate = make(chan struct{})
		a, b := rig.unit(1, 0), rig.unit(1, 1)
		b.Probe = "1051209999" // a new unit brings its own J-Link
		rig.disc.plug(a)
		rig.wantState("S1", SlotRunning)
		rig.disc.unplug(a)
		rig.disc.plug(b)
		close(rig.flasher.gate) // the old run goes on and ends
		st := rig.wantState("S1", SlotDone)
		if v := rig.verdicts(); len(v) != 2 || st.Last.IMEI != rigIMEIs[1] || st.Slot.Probe != b.Probe {
			t.Fatalf("%d verdicts, the slot shows IMEI %s probe %s; want the new unit run", len(v), st.Last.IMEI, st.Slot.Probe)
		}
		cancel()
		<-done
	})
}

// A locked slot's unit may be moved to another slot at once: its IMEI is
// not held by the locked slot after it left.
func TestUnitMovedOutOfALockedSlotIsNoDuplicate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The fixture's failure comes after identify (the IMEI is claimed):
		// here the station's portal, counted against the fixture.
		rig := newLineRig(t, 2, func(c *Config) { c.Rules.LockAfter, c.Rules.LockCodes = 1, []string{"PORTAL_UNREACHABLE"} })
		rig.portal.err = Errorf(PortalUnreachable, nil, "no route")
		ctx, cancel := context.WithCancel(t.Context())
		done := rig.start(ctx, rig.e2run)
		rig.disc.plug(rig.unit(1, 0))
		rig.wantState("S1", SlotLockedSt)
		rig.portal.err = nil
		rig.disc.unplug(rig.unit(1, 0))
		rig.disc.plug(rig.unit(2, 0)) // the same unit, now in S2
		if st := rig.wantState("S2", SlotDone); st.Last.Outcome != Pass {
			t.Fatalf("moved unit: %s %s %s", st.Last.Outcome, st.Last.Code, st.Last.Detail)
		}
		cancel()
		<-done
	})
}

// A unit refused before flashing is recorded with its IMEI, so it counts
// against rules.max_attempts like every other run of that unit.
func TestPrecheckRecordsTheIMEI(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := newLineRig(t, 1, func(c *Config) { c.Rules.MaxAttempts = 1 })
		rig.disc.initial = []Device{rig.unit(1, 0)}
		rig.history.byID[rigIMEIs[0]] = UnitHistory{Attempts: 1}
		done := rig.start(t.Context(), func(ctx context.Context) error { _, err := rig.e.RunOnce(ctx, 0); return err })
		<-done
		v := rig.verdicts()
		if len(v) != 1 || v[0].Code != RetestLimit || v[0].IMEI != rigIMEIs[0] {
			t.Fatalf("verdicts %+v, want RETEST_LIMIT with the IMEI", v)
		}
	})
}

// A command once the line stopped is refused at once instead of waiting for a
// line that may never start again (a bench screen left open after batch
// --count ended). Without it the Start below blocks for ever, which the
// bubble reports as a deadlock.
func TestCommandAfterTheLineStoppedIsRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := newLineRig(t, 1, func(c *Config) { c.Line.Autostart = false })
		ctx, cancel := context.WithCancel(t.Context())
		done := rig.start(ctx, rig.e2run)
		cancel()
		<-done
		var ref *Refusal
		if err := rig.e.Start(context.Background(), "S1"); !errors.As(err, &ref) || ref.Reason != "the line is not running" {
			t.Fatalf("Start after the line ended: %v", err)
		}
		// The same engine runs a line again: commands reach it.
		ctx2, cancel2 := context.WithCancel(t.Context())
		done2 := make(chan error, 1)
		go func() { done2 <- rig.e.Run(ctx2) }()
		synctest.Wait()
		if err := rig.e.Disable(context.Background(), "S1"); err != nil {
			t.Fatalf("Disable on the second line: %v", err)
		}
		cancel2()
		<-done2
	})
}
