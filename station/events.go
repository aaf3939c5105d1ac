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
	// redraws from the next event); every other kind is still delivered.
	Latest
)

// Bus fans events out to subscribers. A new subscriber first receives the
// current slot states (SlotAttached/SlotDetached) so it can draw the fixture
// at once, then the live events.
type Bus struct {
	mu    sync.Mutex
	subs  map[*Subscription]struct{}
	slots map[string]Event // last attach/detach per slot, for snapshots
	order []string
}

// NewBus returns an empty bus.
func NewBus() *Bus {
	return &Bus{subs: map[*Subscription]struct{}{}, slots: map[string]Event{}}
}

// Subscription is one subscriber's channel. Close it when done.
type Subscription struct {
	C        <-chan Event
	c        chan Event
	delivery Delivery
	bus      *Bus
	limit    int

	mu     sync.Mutex
	cond   *sync.Cond // signals queue changes to the pump and to waiting publishers
	queue  []Event
	closed bool // the subscriber left: drop everything
	ended  bool // the engine is done: deliver what is queued, then close
	done   chan struct{}
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
	for _, name := range b.order {
		s.queue = append(s.queue, b.slots[name])
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	go s.pump()
	return s
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
	if ev.Kind == SlotAttached || ev.Kind == SlotDetached {
		if _, ok := b.slots[ev.Slot]; !ok {
			b.order = append(b.order, ev.Slot)
		}
		b.slots[ev.Slot] = ev
	}
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
// publisher wait for room; a latest subscriber drops chatty events when
// behind and never makes anyone wait.
func (s *Subscription) enqueue(ev Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.delivery == Lossless {
		for len(s.queue) >= s.limit && !s.closed {
			s.cond.Wait()
		}
	} else if len(s.queue) >= s.limit && droppable(ev.Kind) {
		return
	}
	if s.closed || s.ended {
		return
	}
	s.queue = append(s.queue, ev)
	s.cond.Broadcast()
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
