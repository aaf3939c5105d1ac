package station

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
)

// The line: one goroutine (the actor, lineActor.loop) owns the state of
// every slot. Devices that discovery reports, operator commands and the
// verdicts of finished runs all arrive as messages on its channels, so a
// slot never runs two pipelines and nobody reads a half-made state. Runs
// themselves go on in their own goroutines (pipeline.go) and report back.

// linePolicy says when the line starts runs and when it stops.
type linePolicy struct {
	autostart bool // a unit inserted into a slot starts its run
	once      bool // only the units present at start, each once
	count     int  // > 0: start no more than count runs, stop after count verdicts
}

// slotRT is the actor's record of one slot.
type slotRT struct {
	cfg      Slot
	st       SlotStatus
	dev      *Device
	cancel   context.CancelFunc // of the run in flight
	runDev   string             // deviceKey of the unit the run in flight is for
	swapped  bool               // another unit was put in while the run went on
	once     bool               // --once: this slot's unit was present at start and is still owed a run
	failures int                // consecutive verdicts that point at the fixture
}

// finished is a run's verdict on its way back to the actor.
type finished struct {
	slot *slotRT
	v    Verdict
}

// command is an operator command, or a run's question, for the actor.
type command struct {
	name  string
	slot  string
	arg   string
	reply chan error
}

type lineActor struct {
	e        *Engine
	policy   linePolicy
	slots    []*slotRT
	byName   map[string]*slotRT
	done     chan finished
	running  int
	started  int
	ended    int       // verdicts so far
	verdicts []Verdict // kept for --once and --count only: a daemon runs for weeks
	stopping bool
	operator string
	imeis    map[string]string // IMEI → slot, for the units in the fixture
	ignored  map[string]bool   // devices already reported as in no slot
	lockSet  map[Code]bool
}

func newLineActor(e *Engine, p linePolicy) *lineActor {
	a := &lineActor{e: e, policy: p, byName: map[string]*slotRT{}, done: make(chan finished),
		operator: e.cfg.Operator, imeis: map[string]string{}, ignored: map[string]bool{}, lockSet: map[Code]bool{}}
	for _, s := range e.cfg.SlotList() {
		rt := &slotRT{cfg: s, st: SlotStatus{Slot: s, State: SlotEmpty, Since: e.opt.Clock.Now()}}
		a.slots = append(a.slots, rt)
		a.byName[s.Name] = rt
	}
	codes := DefaultLockCodes
	if len(e.cfg.Rules.LockCodes) > 0 {
		codes = nil
		for _, c := range e.cfg.Rules.LockCodes {
			codes = append(codes, Code(c))
		}
	}
	for _, c := range codes {
		a.lockSet[c] = true
	}
	return a
}

// loop runs the line until it has nothing left to do: ctx ended (runs in
// flight are interrupted and recorded ABORTED first), --once ran the units
// present at start, or --count verdicts arrived.
func (a *lineActor) loop(ctx context.Context, devices <-chan DeviceEvent) {
	for _, s := range a.slots {
		a.publish(s)
	}
	a.takeInitial(ctx, devices)
	cancelled := ctx.Done()
	for !a.over() {
		select {
		case ev, ok := <-devices:
			if !ok {
				devices = nil // discovery ended (ctx); runs finish below
				continue
			}
			a.device(ctx, ev)
		case c := <-a.e.cmds:
			c.reply <- a.command(ctx, c)
		case f := <-a.done:
			a.finish(ctx, f)
		case <-cancelled:
			a.stopping, cancelled = true, nil
		}
	}
}

// takeInitial applies the devices present at start, which discovery has
// queued before Watch returned; with --once they are the units to run.
func (a *lineActor) takeInitial(ctx context.Context, devices <-chan DeviceEvent) {
	for {
		select {
		case ev, ok := <-devices:
			if !ok {
				return
			}
			if a.policy.once {
				if s := a.match(ev.Device); s != nil && ev.Attached && s.st.State == SlotEmpty {
					s.once = true
				}
			}
			a.device(ctx, ev)
		default:
			return
		}
	}
}

func (a *lineActor) over() bool {
	if a.running > 0 {
		return false
	}
	switch {
	case a.stopping:
		return true
	case a.policy.count > 0 && a.ended >= a.policy.count:
		return true
	case a.policy.once:
		for _, s := range a.slots {
			if s.once && a.mayStart(s) {
				return false
			}
		}
		return true
	}
	return false
}

// device applies one discovery event to the slot it belongs to.
func (a *lineActor) device(ctx context.Context, ev DeviceEvent) {
	d := ev.Device
	if !ev.Attached {
		a.detach(d)
		return
	}
	s := a.match(d)
	if s == nil {
		a.unassigned(ev)
		return
	}
	s.dev = &d
	a.e.publish(Event{Kind: SlotAttached, Slot: s.cfg.Name, Text: d.Probe, Device: &d})
	if s.st.State == SlotRunning && s.runDev != deviceKey(d) {
		s.swapped = true // its run fails on the old unit; this one is owed a run
	}
	if s.st.State != SlotEmpty {
		return // running, done (the same unit came back), disabled or locked
	}
	a.set(s, SlotPresent, "")
	if (a.policy.autostart && !a.policy.once) || s.once {
		a.start(ctx, s)
	}
}

// detach frees the slot whose unit left. The slot is the one holding that
// device (not matched again: a /dev/serial link named in the config is gone
// by now). A RUNNING slot keeps its state: a probe re-enumerates during its
// own reset, and a unit that really left fails its run through its port and
// tool (UNIT_UNPLUGGED).
func (a *lineActor) detach(d Device) {
	s := a.holding(d)
	if s == nil {
		return
	}
	s.dev = nil
	a.e.publish(Event{Kind: SlotDetached, Slot: s.cfg.Name, Text: d.Probe, Device: &d})
	switch s.st.State {
	case SlotPresent, SlotDone:
		a.set(s, SlotEmpty, "")
	case SlotLockedSt, SlotDisabled:
		a.release(s.cfg.Name) // its unit may go into another slot now
	}
}

// holding is the slot whose present device is d.
func (a *lineActor) holding(d Device) *slotRT {
	key := deviceKey(d)
	for _, s := range a.slots {
		if s.dev != nil && deviceKey(*s.dev) == key {
			return s
		}
	}
	if s := a.match(d); s != nil && s.dev != nil && (s.dev.Probe == d.Probe || s.dev.USB == d.USB) {
		return s // the same unit, its ports listed differently
	}
	return nil
}

func (a *lineActor) unassigned(ev DeviceEvent) {
	key := deviceKey(ev.Device)
	if !ev.Attached || a.ignored[key] {
		return
	}
	a.ignored[key] = true
	d := ev.Device
	a.e.log.Warn("a probe is plugged in that belongs to no slot", "probe", d.Probe, "usb", d.USB, "ports", strings.Join(d.Ports, ","))
	a.e.publish(Event{Kind: DeviceIgnored, Device: &d,
		Text: fmt.Sprintf("probe %s at USB %s belongs to no slot: add it to the config or unplug it", orDash(d.Probe), orDash(d.USB))})
}

// match finds the slot a device sits in: by USB location, else by probe
// serial, else by port (strongest first). A slot that names a USB location
// and a probe takes only that probe there.
func (a *lineActor) match(d Device) *slotRT {
	for _, s := range a.slots {
		if s.cfg.USB != "" && s.cfg.USB == d.USB && (s.cfg.Probe == "" || s.cfg.Probe == d.Probe) {
			return s
		}
	}
	for _, s := range a.slots {
		if s.cfg.USB == "" && s.cfg.Probe != "" && s.cfg.Probe == d.Probe {
			return s
		}
	}
	for _, s := range a.slots {
		if s.cfg.USB == "" && s.cfg.Probe == "" && s.cfg.Port != "" && hasPort(d, s.cfg.Port) {
			return s
		}
	}
	return nil
}

func hasPort(d Device, port string) bool {
	want := resolvePort(port)
	for _, p := range append([]string{d.Console}, d.Ports...) {
		if p != "" && (p == port || resolvePort(p) == want) {
			return true
		}
	}
	return false
}

// resolvePort follows /dev/serial/by-id style links to the tty they name.
func resolvePort(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return p
}

func deviceKey(d Device) string { return d.USB + "|" + d.Probe + "|" + strings.Join(d.Ports, ",") }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// mayStart says whether the line's policy lets one more run start.
func (a *lineActor) mayStart(s *slotRT) bool {
	if a.stopping || (a.policy.count > 0 && a.started >= a.policy.count) {
		return false
	}
	return s.st.State == SlotPresent || s.st.State == SlotDone
}

// start begins a run in s with the unit present there.
func (a *lineActor) start(ctx context.Context, s *slotRT) bool {
	if !a.mayStart(s) {
		return false
	}
	slot := s.cfg
	if s.dev != nil {
		// A usb-only slot takes whatever probe sits there; the run records it.
		if slot.Probe == "" {
			slot.Probe = s.dev.Probe
		}
		if slot.Port == "" {
			slot.Port = s.dev.Console
		}
		if slot.USB == "" {
			slot.USB = s.dev.USB
		}
	}
	rctx, cancel := context.WithCancel(ctx)
	s.cancel, s.once, s.swapped = cancel, false, false
	s.runDev = ""
	if s.dev != nil {
		s.runDev = deviceKey(*s.dev)
	}
	a.running++
	a.started++
	id := newRunID()
	now := a.e.opt.Clock.Now()
	s.st.Run, s.st.Started, s.st.Identity, s.st.Step, s.st.Percent = id, now, nil, "", 0
	s.st.Slot = slot
	a.set(s, SlotRunning, "")
	operator := a.operator
	go func() {
		v := a.e.provision(rctx, slot, id, operator)
		a.done <- finished{s, v}
	}()
	return true
}

// finish takes a run's verdict (already committed and published): the slot
// waits for its unit to be removed, or is locked by rules.lock_after.
func (a *lineActor) finish(ctx context.Context, f finished) {
	s, v := f.slot, f.v
	s.cancel()
	s.cancel = nil
	a.running--
	a.ended++
	if a.policy.once || a.policy.count > 0 {
		a.verdicts = append(a.verdicts, v)
	}
	s.st.Last = &v
	s.st.Identity = nil
	if st, ok := a.e.bus.slotStatus(s.cfg.Name); ok && st.Run == v.Run {
		s.st.Identity = st.Identity // all the modem told, as the run saw it
	}
	if s.st.Identity == nil && v.IMEI != "" {
		s.st.Identity = &Identity{IMEI: v.IMEI}
	}
	s.st.Step, s.st.Percent = "", 0
	if a.lockRule(s, v) {
		return
	}
	switch {
	case s.dev == nil:
		a.set(s, SlotEmpty, "")
	case s.swapped:
		// The unit the run was for left and another one was put in
		// meanwhile: that one has not been tested.
		a.set(s, SlotPresent, "")
		if a.policy.autostart && !a.policy.once {
			a.start(ctx, s)
		}
	default:
		a.set(s, SlotDone, "")
	}
}

// lockRule applies rules.lock_after: a slot that failed this many units in a
// row for fixture reasons is taken out of service until Enable.
func (a *lineActor) lockRule(s *slotRT, v Verdict) bool {
	n := a.e.cfg.Rules.LockAfter
	if n <= 0 {
		return false
	}
	switch {
	case v.Outcome == Pass || (v.Outcome == Fail && !a.lockSet[v.Code]):
		s.failures = 0 // the fixture carried a unit through, or the unit failed on its own
		return false
	case !a.lockSet[v.Code]:
		return false // aborted, refused, not recorded: says nothing of the fixture
	}
	s.failures++
	s.st.Failures = s.failures
	if s.failures < n {
		return false
	}
	reason := fmt.Sprintf("%s: %d fixture failures in a row, the last %s — %s", SlotLocked, s.failures, v.Code, SlotLocked.Hint())
	a.e.log.Warn("slot locked", "slot", s.cfg.Name, "failures", s.failures, "last", v.Code)
	a.set(s, SlotLockedSt, reason)
	return true
}

// set changes a slot's state and tells everybody.
func (a *lineActor) set(s *slotRT, st SlotState, reason string) {
	s.st.State, s.st.Reason, s.st.Since = st, reason, a.e.opt.Clock.Now()
	if st == SlotEmpty {
		s.st.Slot, s.st.Identity = s.cfg, nil
		a.release(s.cfg.Name)
	}
	s.st.Failures = s.failures
	a.publish(s)
}

func (a *lineActor) publish(s *slotRT) {
	st := s.st
	if s.dev != nil {
		d := *s.dev
		st.Device = &d
	}
	a.e.publish(Event{Kind: SlotChanged, Slot: s.cfg.Name, Run: st.Run, Status: &st})
}

// command carries out one operator command (or a run's claim) and answers
// nil or a *Refusal.
func (a *lineActor) command(ctx context.Context, c command) error {
	if c.name == "operator" {
		a.operator = c.arg
		return nil
	}
	s := a.byName[c.slot]
	refuse := func(format string, args ...any) error {
		return &Refusal{Command: c.name, Slot: c.slot, Reason: fmt.Sprintf(format, args...)}
	}
	if s == nil {
		return refuse("no such slot")
	}
	switch c.name {
	case "claim":
		return a.claim(s, c.arg, refuse)
	case "start", "retest":
		return a.startCommand(ctx, s, c.name, refuse)
	case "abort":
		if s.st.State != SlotRunning {
			return refuse("nothing is running in this slot")
		}
		s.cancel()
		return nil
	case "disable":
		if s.st.State == SlotRunning {
			return refuse("a run is in progress: abort it first")
		}
		if s.st.State == SlotDisabled {
			return refuse("already disabled")
		}
		a.set(s, SlotDisabled, "taken out of service by the operator")
		return nil
	case "enable":
		if s.st.State != SlotDisabled && s.st.State != SlotLockedSt {
			return refuse("the slot is in service (%s)", s.st.State)
		}
		s.failures = 0
		if s.dev != nil {
			a.set(s, SlotPresent, "") // the unit there waits for Start
		} else {
			a.set(s, SlotEmpty, "")
		}
		return nil
	}
	return refuse("unknown command")
}

func (a *lineActor) startCommand(ctx context.Context, s *slotRT, name string, refuse func(string, ...any) error) error {
	switch s.st.State {
	case SlotEmpty:
		return refuse("no unit in the slot")
	case SlotRunning:
		return refuse("a run is already in progress")
	case SlotDisabled, SlotLockedSt:
		return refuse("the slot is %s: enable it first", strings.ToLower(string(s.st.State)))
	case SlotDone:
		if name == "start" {
			return refuse("this unit was already tested: use retest")
		}
	case SlotPresent:
	}
	if a.stopping {
		return refuse("the line is stopping")
	}
	if !a.start(ctx, s) {
		return refuse("the line takes no more runs (--count reached)")
	}
	return nil
}

// claim records that slot s holds the unit with this IMEI; the same IMEI in
// two slots at once is refused to the later one.
func (a *lineActor) claim(s *slotRT, imei string, refuse func(string, ...any) error) error {
	if other, ok := a.imeis[imei]; ok && other != s.cfg.Name {
		return refuse("IMEI %s is already in slot %s", imei, other)
	}
	a.imeis[imei] = s.cfg.Name
	return nil
}

// release forgets the IMEI a slot held once its unit left: a duplicate is
// about units in the fixture at the same time.
func (a *lineActor) release(slot string) {
	for imei, owner := range a.imeis {
		if owner == slot {
			delete(a.imeis, imei)
		}
	}
}
