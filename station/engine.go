package station

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Options wires an Engine to its parts. Portal and Prober may be nil when
// the config turns them off (portal.kind = "none", bootstrap.probe = false).
type Options struct {
	Config       *Config
	Firmware     Firmware // checked image (flash.CheckImage)
	Flasher      Flasher
	Modems       ModemOpener
	Portal       Portal
	Prober       Prober
	Recorder     Recorder
	Lister       Lister                                                  // optional: which probes are present
	PortFinder   func(ctx context.Context, probe string) (string, error) // optional: a probe's VCOM0 when slot.port is empty
	Clock        Clock
	Logger       *slog.Logger
	Version      string // station version, recorded with every run
	FlashVersion string // flash tool version, recorded with every run
	NewPSK       func(n int) (PSK, error)
}

// Engine provisions units: one pipeline per slot, all slots concurrently,
// one event stream for everybody.
type Engine struct {
	opt Options
	cfg *Config
	log *slog.Logger
	bus *Bus

	pubMu sync.Mutex // orders Seq with publication
	seq   uint64
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
	return &Engine{opt: opt, cfg: opt.Config, log: opt.Logger, bus: NewBus()}, nil
}

// Subscribe returns a subscription to the engine's events; see Delivery for
// the rules. There is deliberately no way to publish from outside: verdicts
// reach subscribers only through commitVerdict.
func (e *Engine) Subscribe(buf int, d Delivery) *Subscription { return e.bus.Subscribe(buf, d) }

// Close ends every subscription.
func (e *Engine) Close() { e.bus.Close() }

// RunOnce provisions the units present now (every configured slot whose
// probe is present) and returns their verdicts in slot order. With count > 0
// it instead keeps watching the fixture until count units were provisioned.
func (e *Engine) RunOnce(ctx context.Context, count int) ([]Verdict, error) {
	if count <= 0 {
		present, err := e.present(ctx)
		if err != nil {
			return nil, err
		}
		return e.provisionAll(ctx, present), nil
	}
	var verdicts []Verdict
	err := e.watchFixture(ctx, func(v Verdict) bool {
		verdicts = append(verdicts, v)
		return len(verdicts) < count
	})
	return verdicts, err
}

// Run provisions every unit that appears in a slot until ctx ends. A slot
// is provisioned once per insertion: after its verdict the unit must be
// removed before the slot runs again.
func (e *Engine) Run(ctx context.Context) error {
	err := e.watchFixture(ctx, func(Verdict) bool { return true })
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func (e *Engine) provisionAll(ctx context.Context, slots []Slot) []Verdict {
	out := make([]Verdict, len(slots))
	var wg sync.WaitGroup
	for i, s := range slots {
		wg.Go(func() { out[i] = e.Provision(ctx, s) })
	}
	wg.Wait()
	return out
}

// present returns the configured slots whose probe is present, announcing
// every slot's state.
func (e *Engine) present(ctx context.Context) ([]Slot, error) {
	seen, err := e.probes(ctx)
	if err != nil {
		return nil, err
	}
	var out []Slot
	for _, s := range e.cfg.SlotList() {
		if seen == nil || seen[s.Probe] {
			out = append(out, s)
			e.publish(Event{Kind: SlotAttached, Slot: s.Name, Text: s.Probe})
		} else {
			e.publish(Event{Kind: SlotDetached, Slot: s.Name, Text: s.Probe})
		}
	}
	return out, nil
}

// probes returns the set of present probe serials, or nil when there is no
// lister (every configured slot counts as present).
func (e *Engine) probes(ctx context.Context) (map[string]bool, error) {
	if e.opt.Lister == nil {
		return nil, nil
	}
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	list, err := e.opt.Lister.Probes(lctx)
	if err != nil {
		return nil, fmt.Errorf("list probes: %w", err)
	}
	seen := map[string]bool{}
	for _, p := range list {
		seen[NormalizeSerial(p)] = true
	}
	return seen, nil
}

// watchFixture polls the probes, provisions each newly inserted unit and
// hands every verdict to done; it stops when done returns false (after the
// runs in flight finished) or ctx ends.
func (e *Engine) watchFixture(ctx context.Context, done func(Verdict) bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	verdicts := make(chan Verdict)
	fx := fixture{}
	stop := false
	cancelled := ctx.Done()
	for {
		if !stop {
			if err := e.pollSlots(ctx, fx, verdicts); err != nil && ctx.Err() == nil {
				e.log.Warn("probe listing failed", "err", err)
			}
		}
		if stop && fx.running() == 0 {
			return nil
		}
		select {
		case v := <-verdicts:
			fx[v.Slot].finished()
			if !done(v) {
				stop = true
			}
		case <-e.opt.Clock.After(time.Second):
		case <-cancelled:
			if fx.running() == 0 {
				return ctx.Err()
			}
			stop, cancelled = true, nil // let the runs in flight finish (ABORTED)
		}
	}
}

// removalAfter is how long a provisioned unit's probe must be missing from
// every listing before its slot counts as empty. A probe listing can miss
// a probe that is there (USB re-enumeration after a reset, a J-Link busy
// with another process); taken at its word, it would provision the same
// unit again. Time, not a count of polls: a verdict also triggers a poll,
// so several slots finishing together would make polls milliseconds apart.
const removalAfter = 3 * time.Second

// fixture is what the engine knows of each slot while it watches.
type fixture map[string]*slotWatch

type slotWatch struct {
	state     slotState
	missingAt time.Time // first listing without the probe while done; zero if listed
}

type slotState int

const (
	slotEmpty slotState = iota
	slotBusy            // a run is going on
	slotDone            // provisioned; waits for the unit to be removed
)

func (fx fixture) slot(name string) *slotWatch {
	w := fx[name]
	if w == nil {
		w = &slotWatch{}
		fx[name] = w
	}
	return w
}

func (fx fixture) running() int {
	n := 0
	for _, w := range fx {
		if w.state == slotBusy {
			n++
		}
	}
	return n
}

func (w *slotWatch) finished() {
	if w != nil && w.state == slotBusy {
		w.state, w.missingAt = slotDone, time.Time{}
	}
}

// pollSlots starts a run for every slot whose unit was inserted and frees
// every slot whose provisioned unit was removed.
func (e *Engine) pollSlots(ctx context.Context, fx fixture, verdicts chan<- Verdict) error {
	seen, err := e.probes(ctx)
	if err != nil {
		return err
	}
	for _, s := range e.cfg.SlotList() {
		here := seen == nil || seen[s.Probe]
		w := fx.slot(s.Name)
		switch {
		case here && w.state == slotEmpty:
			w.state = slotBusy
			e.publish(Event{Kind: SlotAttached, Slot: s.Name, Text: s.Probe})
			go func() { verdicts <- e.Provision(ctx, s) }()
		case here && w.state == slotDone:
			w.missingAt = time.Time{}
		case !here && w.state == slotDone && w.missingAt.IsZero():
			w.missingAt = e.opt.Clock.Now()
		case !here && w.state == slotDone && e.opt.Clock.Now().Sub(w.missingAt) >= removalAfter:
			w.state, w.missingAt = slotEmpty, time.Time{}
			e.publish(Event{Kind: SlotDetached, Slot: s.Name, Text: s.Probe})
		}
	}
	return nil
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
