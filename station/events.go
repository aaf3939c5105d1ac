package station

import (
	"sync"
	"time"
)

// EventKind says what an Event reports.
type EventKind string

const (
	SlotAttached   EventKind = "slot_attached"   // a unit is present in the slot
	SlotDetached   EventKind = "slot_detached"   // the slot is empty
	SlotChanged    EventKind = "slot_state"      // Status is set: the slot's whole state after a change
	DeviceIgnored  EventKind = "unassigned"      // Device is set: a probe that belongs to no slot (reported once)
	RunStarted     EventKind = "run_started"     // Start is set
	UnitIdentified EventKind = "unit_identified" // Identity is set
	StepStarted    EventKind = "step_started"
	StepProgress   EventKind = "step_progress" // Percent and Text
	ToolOutput     EventKind = "tool_output"   // one line a flash tool printed
	DeviceLine     EventKind = "device_line"   // AT traffic or a unit's log line (Dir says which), secrets redacted
	Note           EventKind = "note"          // a warning or remark worth keeping with the run
	StepFinished   EventKind = "step_finished" // Result is set
	VerdictReached EventKind = "verdict"       // Verdict is set; committed to the records before it is published
)

// EventKinds lists every kind the engine publishes (docs/events.md
// documents each; a test keeps the two together).
func EventKinds() []EventKind {
	return []EventKind{SlotAttached, SlotDetached, SlotChanged, DeviceIgnored, RunStarted, UnitIdentified,
		StepStarted, StepProgress, ToolOutput, DeviceLine, Note, StepFinished, VerdictReached}
}

// Direction of a DeviceLine.
const (
	DirTx  = "tx"  // station → unit
	DirRx  = "rx"  // a response line
	DirLog = "log" // a log or unsolicited line from the unit
)

// Event is one item of the engine's single event stream. The same events
// feed the recorder (synchronously, before anyone else), the batch output
// and the TUI.
type Event struct {
	Seq      uint64      `json:"seq"`
	Time     time.Time   `json:"time"`
	Kind     EventKind   `json:"kind"`
	Slot     string      `json:"slot,omitempty"`
	Run      string      `json:"run,omitempty"`
	Step     StepName    `json:"step,omitempty"`
	Text     string      `json:"text,omitempty"`
	Dir      string      `json:"dir,omitempty"`
	Percent  int         `json:"percent,omitempty"`
	Start    *RunStart   `json:"start,omitempty"`
	Identity *Identity   `json:"identity,omitempty"`
	Result   *StepResult `json:"result,omitempty"`
	Verdict  *Verdict    `json:"verdict,omitempty"`
	Status   *SlotStatus `json:"status,omitempty"`
	Device   *Device     `json:"device,omitempty"`
}

// Delivery says what a subscriber gets when it falls behind.
type Delivery int

const (
	// Lossless subscribers get every event in order; when their bounded
	// buffer is full the engine waits for them (batch JSON output).
	Lossless Delivery = iota
	// Latest subscribers never slow the engine down: when their buffer is
	// full, progress, tool output and device lines are dropped (the screen
	// redraws from the next event); every other kind is still delivered,
	// until the backlog reaches latestBacklog buffers: then it is replaced
	// by the current state of every slot.
	Latest
)

// latestBacklog bounds a Latest subscriber's queue, in buffers. A screen
// that stopped reading — a terminal paused with Ctrl-S, a stalled SSH
// session — must not make the station's memory grow for the rest of the
// shift. What it missed is replaced by one SlotChanged per slot, which is
// all a screen needs to draw the fixture again.
const latestBacklog = 4

// Bus fans events out to subscribers. A new subscriber first receives the
// current state of every slot (one SlotChanged event each) so it can draw
// the fixture at once, then the live events.
type Bus struct {
	mu     sync.Mutex
	subs   map[*Subscription]struct{}
	status map[string]*SlotStatus // each slot's state, kept current for snapshots
	order  []string
	wait   time.Duration // how long a Lossless subscriber may hold up a publisher
	stuck  func(dropped int)
}

// NewBus returns an empty bus whose Lossless subscribers may hold up a
// publisher for up to 5 s before they are dropped.
func NewBus() *Bus { return newBus(5*time.Second, nil) }

func newBus(wait time.Duration, stuck func(int)) *Bus {
	if stuck == nil {
		stuck = func(int) {}
	}
	return &Bus{subs: map[*Subscription]struct{}{}, status: map[string]*SlotStatus{}, wait: wait, stuck: stuck}
}

// Snapshot returns the state of every slot that has one, in the order the
// slots first appeared.
func (b *Bus) Snapshot() []SlotStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]SlotStatus, 0, len(b.order))
	for _, name := range b.order {
		out = append(out, *b.status[name])
	}
	return out
}

// slotStatus is a copy of one slot's tracked state.
func (b *Bus) slotStatus(slot string) (SlotStatus, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st, ok := b.status[slot]
	if !ok {
		return SlotStatus{}, false
	}
	return *st, true
}

// track keeps the snapshot current: SlotChanged replaces a slot's state,
// the events of its run refine it (step, percent, identity). b.mu held.
func (b *Bus) track(ev Event) {
	if ev.Kind == SlotChanged && ev.Status != nil {
		if _, ok := b.status[ev.Slot]; !ok {
			b.order = append(b.order, ev.Slot)
		}
		st := *ev.Status
		b.status[ev.Slot] = &st
		return
	}
	st := b.status[ev.Slot]
	if st == nil {
		return
	}
	switch ev.Kind {
	case SlotAttached:
		st.Device = ev.Device
		return
	case SlotDetached:
		st.Device = nil
		return
	}
	if ev.Run == "" || ev.Run != st.Run || st.State != SlotRunning {
		return
	}
	switch ev.Kind {
	case StepStarted:
		st.Step, st.Percent, st.Since = ev.Step, 0, ev.Time
	case StepProgress:
		st.Percent = ev.Percent
	case UnitIdentified:
		st.Identity = ev.Identity
	}
}

// Subscription is one subscriber's channel. Close it when done.
type Subscription struct {
	C        <-chan Event
	c        chan Event
	delivery Delivery
	bus      *Bus
	limit    int

	mu      sync.Mutex
	cond    *sync.Cond // signals queue changes to the pump and to waiting publishers
	queue   []Event
	closed  bool // the subscriber left: drop everything
	ended   bool // the engine is done: deliver what is queued, then close
	dropped bool // a Lossless subscriber that stopped reading: its output is incomplete
	done    chan struct{}
}

// Dropped reports whether this Lossless subscription was cut off because
// its reader stopped reading: what it received is incomplete.
func (s *Subscription) Dropped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// Subscribe registers a subscriber whose queue holds up to buf events.
func (b *Bus) Subscribe(buf int, d Delivery) *Subscription {
	if buf < 16 {
		buf = 16
	}
	c := make(chan Event)
	s := &Subscription{C: c, c: c, delivery: d, bus: b, limit: buf, done: make(chan struct{})}
	s.cond = sync.NewCond(&s.mu)
	b.mu.Lock()
	s.queue = b.stateEventsLocked()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	go s.pump()
	return s
}

// stateEventsLocked is one SlotChanged event per slot, with its current
// state (b.mu held).
func (b *Bus) stateEventsLocked() []Event {
	evs := make([]Event, 0, len(b.order))
	for _, name := range b.order {
		st := *b.status[name]
		evs = append(evs, Event{Kind: SlotChanged, Time: st.Since, Slot: name, Run: st.Run, Status: &st})
	}
	return evs
}

// pump moves queued events to the channel, one at a time.
func (s *Subscription) pump() {
	defer close(s.c)
	for {
		s.mu.Lock()
		for len(s.queue) == 0 && !s.closed && !s.ended {
			s.cond.Wait()
		}
		if s.closed || len(s.queue) == 0 {
			s.mu.Unlock()
			return
		}
		ev := s.queue[0]
		s.queue = s.queue[1:]
		s.cond.Broadcast()
		s.mu.Unlock()
		select {
		case s.c <- ev:
		case <-s.done:
			return
		}
	}
}

// Close unsubscribes; the channel is closed once the pump stops.
func (s *Subscription) Close() {
	s.bus.mu.Lock()
	delete(s.bus.subs, s)
	s.bus.mu.Unlock()
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.done)
		s.cond.Broadcast()
	}
	s.mu.Unlock()
}

// Publish delivers ev to every subscriber according to its delivery rule.
func (b *Bus) Publish(ev Event) {
	b.mu.Lock()
	b.track(ev)
	subs := make([]*Subscription, 0, len(b.subs))
	for s := range b.subs {
		subs = append(subs, s)
	}
	b.mu.Unlock()
	for _, s := range subs {
		s.enqueue(ev)
	}
}

// enqueue applies the delivery rule: a lossless subscriber makes the
// publisher wait for room, but not for ever — one that stopped reading for
// the bus's wait is dropped (its channel closes after what is queued, and
// Dropped says so), so it cannot freeze every slot; a latest subscriber
// drops chatty events when behind and never makes anyone wait.
func (s *Subscription) enqueue(ev Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.delivery == Lossless && len(s.queue) >= s.limit && !s.closed && !s.ended {
		if !s.waitForRoom(s.bus.wait) {
			s.dropped, s.ended = true, true
			s.cond.Broadcast()
			go s.bus.stuck(len(s.queue))
			return
		}
	} else if s.delivery == Latest && len(s.queue) >= s.limit {
		if droppable(ev.Kind) {
			return
		}
		if len(s.queue) >= latestBacklog*s.limit {
			// Lock order: a subscription, then the bus (nothing takes a
			// subscription's lock while holding the bus's).
			s.bus.mu.Lock()
			s.queue = s.bus.stateEventsLocked()
			s.bus.mu.Unlock()
		}
	}
	if s.closed || s.ended {
		return
	}
	s.queue = append(s.queue, ev)
	s.cond.Broadcast()
}

// waitForRoom waits (s.mu held) until the queue has room, the subscriber
// left, or d passed; false when d passed.
func (s *Subscription) waitForRoom(d time.Duration) bool {
	deadline := time.Now().Add(d)
	t := time.AfterFunc(d, func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer t.Stop()
	for len(s.queue) >= s.limit && !s.closed && !s.ended {
		if !time.Now().Before(deadline) {
			return false
		}
		s.cond.Wait()
	}
	return true
}

func droppable(k EventKind) bool {
	return k == StepProgress || k == ToolOutput || k == DeviceLine
}

// Close ends every subscription once it has delivered what was published
// before (the engine is done).
func (b *Bus) Close() {
	b.mu.Lock()
	subs := make([]*Subscription, 0, len(b.subs))
	for s := range b.subs {
		subs = append(subs, s)
	}
	b.subs = map[*Subscription]struct{}{}
	b.mu.Unlock()
	for _, s := range subs {
		s.mu.Lock()
		s.ended = true
		s.cond.Broadcast()
		s.mu.Unlock()
	}
}
