package station

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Options wires an Engine to its parts. Portal and Prober may be nil when
// the config turns them off (portal.kind = "none", bootstrap.probe = false).
type Options struct {
	Config     *Config
	Firmware   Firmware // checked image (flash.CheckImage)
	Flasher    Flasher
	Modems     ModemOpener
	Portal     Portal
	Prober     Prober
	Recorder   Recorder
	History    History                                                 // optional: the records' memory of each IMEI, for rules.max_attempts and rules.reprovision
	Discovery  Discovery                                               // optional: which units are plugged in; nil: every slot holds a unit, for good
	PortFinder func(ctx context.Context, probe string) (string, error) // optional: a probe's VCOM0 when neither slot nor device names a port
	Clock      Clock
	Logger     *slog.Logger
	Version    string // station version, recorded with every run
	// FlashVersion is the flash tool version, recorded with every run.
	FlashVersion string
	NewPSK       func(n int) (PSK, error)
	// PublishWait bounds how long publishing waits for a Lossless
	// subscriber that stopped reading before it is dropped (default 5 s).
	PublishWait time.Duration
}

// Engine provisions units: one pipeline per slot, all slots concurrently,
// one event stream for everybody. While Run (or RunOnce, RunCount) is
// going, the line's actor owns every slot; operator commands reach it
// through Start, Retest, Abort, Disable, Enable and SetOperator.
type Engine struct {
	opt Options
	cfg *Config
	log *slog.Logger
	bus *Bus

	pubMu sync.Mutex // orders Seq with publication
	seq   uint64

	cmds   chan command
	living sync.Mutex // held while a line runs: one actor at a time

	endMu   sync.Mutex
	lineEnd chan struct{} // closed when the line's actor stops, until the next line starts
}

// New checks the options and returns an engine.
func New(opt Options) (*Engine, error) {
	switch {
	case opt.Config == nil:
		return nil, errors.New("engine: no config")
	case opt.Flasher == nil || opt.Modems == nil || opt.Recorder == nil:
		return nil, errors.New("engine: flasher, modem opener and recorder are required")
	case opt.Config.Portal.Kind != "none" && opt.Portal == nil:
		return nil, fmt.Errorf("engine: portal kind %q needs a portal", opt.Config.Portal.Kind)
	case opt.Config.Bootstrap.Probe && opt.Prober == nil:
		return nil, errors.New("engine: bootstrap.probe needs a prober")
	case (opt.Config.Rules.MaxAttempts > 0 || opt.Config.Rules.Reprovision != "allow") && opt.History == nil:
		return nil, errors.New("engine: rules.max_attempts and rules.reprovision need the records' history")
	}
	if opt.Clock == nil {
		opt.Clock = SystemClock{}
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.NewPSK == nil {
		opt.NewPSK = NewPSK
	}
	if opt.PublishWait <= 0 {
		opt.PublishWait = 5 * time.Second
	}
	e := &Engine{opt: opt, cfg: opt.Config, log: opt.Logger, cmds: make(chan command), lineEnd: make(chan struct{})}
	e.bus = newBus(opt.PublishWait, e.stuck)
	return e, nil
}

// Subscribe returns a subscription to the engine's events; see Delivery for
// the rules. A new subscriber first gets one SlotChanged event per slot.
// There is deliberately no way to publish from outside: verdicts reach
// subscribers only through commitVerdict.
func (e *Engine) Subscribe(buf int, d Delivery) *Subscription { return e.bus.Subscribe(buf, d) }

// Snapshot returns the state of every slot, as a new subscriber sees it.
func (e *Engine) Snapshot() []SlotStatus { return e.bus.Snapshot() }

// Close ends every subscription.
func (e *Engine) Close() { e.bus.Close() }

// Run runs the live line until ctx ends: every unit inserted into a slot
// is provisioned once (with [line] autostart, else on Start); after its
// verdict the unit must be removed (or retested) before the slot runs
// again. When ctx ends, runs in flight end ABORTED and are recorded.
func (e *Engine) Run(ctx context.Context) error {
	_, err := e.line(ctx, linePolicy{autostart: e.cfg.Line.Autostart})
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// RunOnce provisions the units present now, each once, and returns their
// verdicts in the order they ended. With count > 0 it starts no more than
// count of them.
func (e *Engine) RunOnce(ctx context.Context, count int) ([]Verdict, error) {
	return e.line(ctx, linePolicy{autostart: true, once: true, count: count})
}

// RunCount runs the live line until count verdicts (count ≥ 1) were
// reached, or ctx ended.
func (e *Engine) RunCount(ctx context.Context, count int) ([]Verdict, error) {
	if count < 1 {
		return nil, fmt.Errorf("engine: count must be at least 1, got %d", count)
	}
	return e.line(ctx, linePolicy{autostart: true, count: count})
}

// line runs the actor until its policy is done.
func (e *Engine) line(ctx context.Context, p linePolicy) ([]Verdict, error) {
	if !e.living.TryLock() {
		return nil, errors.New("engine: the line is already running")
	}
	defer e.living.Unlock()
	// From here commands wait for this line (they are taken once the actor
	// runs) and are refused once it ended, even if it never got going.
	end := e.lineStarted()
	defer close(end)
	dctx, stopDiscovery := context.WithCancel(ctx)
	defer stopDiscovery()
	devices, err := e.discovery().Watch(dctx)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	a := newLineActor(e, p)
	a.loop(ctx, devices)
	return a.verdicts, ctx.Err()
}

// lineStarted returns the channel to close when this line stops: the one
// commands sent before the first line are waiting on, or a new one after
// an earlier line stopped.
func (e *Engine) lineStarted() chan struct{} {
	e.endMu.Lock()
	defer e.endMu.Unlock()
	select {
	case <-e.lineEnd:
		e.lineEnd = make(chan struct{})
	default:
	}
	return e.lineEnd
}

// lineEnding returns what is closed once the current (or next) line stops.
func (e *Engine) lineEnding() <-chan struct{} {
	e.endMu.Lock()
	defer e.endMu.Unlock()
	return e.lineEnd
}

func (e *Engine) discovery() Discovery {
	if e.opt.Discovery != nil {
		return e.opt.Discovery
	}
	return staticDiscovery(e.cfg.SlotList())
}

// Start begins a run for the unit waiting in slot (autostart off).
func (e *Engine) Start(ctx context.Context, slot string) error { return e.send(ctx, "start", slot, "") }

// Retest runs the unit in slot again.
func (e *Engine) Retest(ctx context.Context, slot string) error {
	return e.send(ctx, "retest", slot, "")
}

// Abort interrupts the run in slot; it ends ABORTED, recorded.
func (e *Engine) Abort(ctx context.Context, slot string) error { return e.send(ctx, "abort", slot, "") }

// Disable takes slot out of service; refused while a run goes on.
func (e *Engine) Disable(ctx context.Context, slot string) error {
	return e.send(ctx, "disable", slot, "")
}

// Enable puts a disabled or locked slot back in service.
func (e *Engine) Enable(ctx context.Context, slot string) error {
	return e.send(ctx, "enable", slot, "")
}

// SetOperator names the operator recorded with every run started from now.
func (e *Engine) SetOperator(ctx context.Context, id string) error {
	return e.send(ctx, "operator", "", strings.TrimSpace(id))
}

// send hands a command to the line's actor and waits for its answer.
func (e *Engine) send(ctx context.Context, name, slot, arg string) error {
	c := command{name: name, slot: slot, arg: arg, reply: make(chan error, 1)}
	notRunning := &Refusal{Command: name, Slot: slot, Reason: "the line is not running"}
	// A command sent before the first line waits for it (the bench screen
	// starts the line as the operator logs in); once a line stopped, it is
	// refused at once rather than waiting for a line that may never come.
	select {
	case e.cmds <- c:
	case <-e.lineEnding():
		return notRunning
	case <-ctx.Done():
		return notRunning
	}
	return <-c.reply // the actor answers every command it takes
}

// stuck reports a Lossless subscriber that stopped reading and was dropped.
func (e *Engine) stuck(dropped int) {
	e.log.Error("an event subscriber stopped reading and was dropped; its output is incomplete", "queued", dropped)
}

// republish sends a slot's whole state again after its run moved on to a
// new step, so a screen that only follows slot_state sees the step.
func (e *Engine) republish(slot string) {
	if st, ok := e.bus.slotStatus(slot); ok && st.State == SlotRunning {
		e.publish(Event{Kind: SlotChanged, Slot: slot, Run: st.Run, Status: &st})
	}
}

// publish stamps and publishes an event that belongs to no run.
func (e *Engine) publish(ev Event) {
	ev.Time = e.opt.Clock.Now()
	e.deliver(ev)
}

// deliver numbers ev and hands it to the subscribers; numbering and
// publishing under one lock keeps Seq in delivery order.
func (e *Engine) deliver(ev Event) {
	e.pubMu.Lock()
	defer e.pubMu.Unlock()
	e.seq++
	ev.Seq = e.seq
	e.bus.Publish(ev)
}

// newRunID returns a UUID v7: time-ordered, so records sort by start.
func newRunID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}
