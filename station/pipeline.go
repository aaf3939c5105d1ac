package station

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// provision runs one unit through the whole pipeline and returns its
// verdict, which is committed to the records before anyone sees it. Only
// the line's actor calls it (line.go), so a slot never runs two at once.
//
//	connect    open the unit's serial port (before any reset, so its boot is seen);
//	           with rules that need the IMEI, ask a unit that answers before flashing
//	flash      program the firmware through the probe (recover, retry per line rules)
//	identify   wait for AT, read IMEI, modem firmware, SIM; apply the line rules
//	inject     take the modem offline, write and verify the bootstrap PSK
//	register   register endpoint and credentials with the portal
//	probe      (optional) run a bootstrap ourselves with the unit's credentials
//	bootstrap  reset the unit and watch it bootstrap, then register
//	verify     (optional) server tag holds credentials; a second reset registers directly
func (e *Engine) provision(ctx context.Context, slot Slot, id, operator string) Verdict {
	r := &run{e: e, id: id, slot: slot, operator: operator, started: e.opt.Clock.Now()}
	defer r.wipe()
	err := r.begin(ctx)
	for _, s := range e.plan() {
		if err != nil {
			break
		}
		if ctx.Err() != nil {
			err = &Error{Code: Interrupted, Step: s.name, Detail: "stopped before this step", Err: ctx.Err()}
			break
		}
		err = r.step(ctx, s)
	}
	r.closeModem() // its last lines belong to the transcript, before the verdict
	return r.finish(ctx, err)
}

// stepSpec is one step of the plan: its name, its time budget and its work.
type stepSpec struct {
	name    StepName
	budget  time.Duration
	timeout Code // the code when the budget runs out
	do      func(r *run, ctx context.Context) error
}

// plan lists the steps this config asks for, in order.
func (e *Engine) plan() []stepSpec {
	c := e.cfg
	cmd, ready := c.Modem.CommandTimeout.Duration, c.Modem.ReadyTimeout.Duration
	steps := []stepSpec{
		// connect may ask a unit that answers before flashing who it is,
		// for the line rules (precheck): its budget covers that wait.
		{StepConnect, cmd + precheckWait + 2*cmd, PortUnavailable, (*run).connect},
		{StepFlash, 4*c.Flash.Timeout.Duration + time.Minute, FlashTimeout, (*run).flash},
		{StepIdentify, ready + 12*cmd + 10*time.Second, ModemTimeout, (*run).identify},
		{StepInject, 12 * cmd, ModemTimeout, (*run).inject},
	}
	if c.Portal.Kind != "none" {
		steps = append(steps, stepSpec{StepRegister, time.Duration(c.Portal.Retries+2)*c.Portal.Timeout.Duration + time.Minute, PortalUnreachable, (*run).register})
	}
	if c.Bootstrap.Probe {
		steps = append(steps, stepSpec{StepProbe, time.Minute, ProbeFailed, (*run).probe})
	}
	if c.Bootstrap.Trigger != "none" {
		steps = append(steps, stepSpec{StepBootstrap, c.Bootstrap.Timeout.Duration, BootstrapTimeout, (*run).bootstrap})
		if c.Bootstrap.VerifyServerTag || c.Bootstrap.VerifyReboot {
			steps = append(steps, stepSpec{StepVerify, c.Bootstrap.Timeout.Duration + 4*cmd, BootstrapTimeout, (*run).verify})
		}
	}
	return steps
}

// run is the state of one unit's pipeline.
type run struct {
	e        *Engine
	id       string
	slot     Slot
	operator string
	started  time.Time
	current  StepName
	admitted string // the IMEI the line rules admitted

	modem     Modem
	identity  Identity
	endpoint  string
	key       PSK // bootstrap PSK, wiped when the run ends
	targetKey PSK // LwM2M server PSK handed out by the bootstrap server
	stored    CredentialReport
	measure   map[string]float64

	// emitMu serialises this run's events: the modem shows device lines
	// from its own goroutine while a step runs.
	emitMu     sync.Mutex
	recordErr  error    // first failure of the recorder; the verdict cannot be PASS
	recordStep StepName // the step recordErr happened in
}

// injectGrace is how long a credential write may go on after the line was
// told to stop (SIGINT/SIGTERM); the station still exits within 10 s.
const injectGrace = 4 * time.Second

// withGrace returns a context that ends grace after ctx ends (or when the
// returned release is called), keeping ctx's values.
func withGrace(ctx context.Context, grace time.Duration, clock Clock) (context.Context, func()) {
	g, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		select {
		case <-clock.After(grace):
		case <-g.Done():
		}
		cancel()
	})
	return g, func() {
		stop()
		cancel()
	}
}

// recordTimeout bounds the recording of one event (the store's own busy
// timeout is shorter; this catches a store that hangs).
const recordTimeout = 30 * time.Second

// emit records an event of this run, then publishes it.
func (r *run) emit(ctx context.Context, ev Event) {
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	ev.Run, ev.Slot = r.id, r.slot.Name
	if ev.Step == "" {
		ev.Step = r.current
	}
	ev.Time = r.e.opt.Clock.Now()
	// An interrupted run's events are still recorded; a stuck store is not
	// waited for forever.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if err := r.e.opt.Recorder.Record(rctx, ev); err != nil && r.recordErr == nil {
		r.recordErr, r.recordStep = err, ev.Step
		if r.recordStep == "" {
			r.recordStep = StepRecord
		}
		r.e.log.Error("record event", "slot", r.slot.Name, "run", r.id, "kind", ev.Kind, "err", err)
	}
	r.e.deliver(ev)
}

func (r *run) begin(ctx context.Context) error {
	o := r.e.opt
	r.emit(ctx, Event{Kind: RunStarted, Start: &RunStart{
		StationID: r.e.cfg.StationID, StationVersion: o.Version, Slot: r.slot, Operator: r.operator,
		Firmware: o.Firmware, FlashTool: r.e.cfg.Flash.Tool, FlashVersion: o.FlashVersion, Started: r.started,
	}})
	if r.recordErr != nil {
		se := Errorf(RecordFailed, r.recordErr, "the run could not be recorded; the unit was not touched")
		se.Step = r.recordStep
		return se
	}
	return nil
}

// step runs one step within its budget and records how it ended.
func (r *run) step(ctx context.Context, s stepSpec) error {
	r.emitMu.Lock()
	r.current = s.name
	r.emitMu.Unlock()
	r.measure = map[string]float64{}
	r.emit(ctx, Event{Kind: StepStarted})
	r.e.republish(r.slot.Name)
	started := r.e.opt.Clock.Now()
	parent, release := ctx, func() {}
	if s.name == StepInject {
		// A credential write interrupted between two AT commands leaves
		// the unit with half a credential; give it a moment to finish.
		parent, release = withGrace(ctx, injectGrace, r.e.opt.Clock)
	}
	sctx, cancel := context.WithTimeout(parent, s.budget)
	err := s.do(r, sctx)
	cancel()
	release()
	res := StepResult{Step: s.name, Started: started, Ended: r.e.opt.Clock.Now(), Outcome: Pass, Measurements: r.measure}
	var se *Error
	if err != nil {
		se = r.classify(ctx, sctx, err, s.timeout)
		res.Outcome, res.Code, res.Detail = se.Code.Outcome(), se.Code, se.Error()
	}
	r.emit(ctx, Event{Kind: StepFinished, Result: &res})
	if se != nil {
		return se
	}
	return nil
}

// classify turns a step's error into exactly one *Error with its step:
// an interrupt is ABORTED whatever the step was doing, a spent budget gets
// the step's timeout code, everything else keeps the code it was given.
func (r *run) classify(ctx, sctx context.Context, err error, timeout Code) *Error {
	var se *Error
	switch {
	case ctx.Err() != nil:
		se = &Error{Code: Interrupted, Err: err}
	case errors.As(err, &se):
	case errors.Is(err, context.DeadlineExceeded) || sctx.Err() != nil:
		se = &Error{Code: timeout, Detail: "step budget spent", Err: err}
	default:
		se = Classify(err)
	}
	if se.Step == "" {
		se.Step = r.current
	}
	return se
}

// note keeps a remark with the run (transcript) and shows it.
func (r *run) note(ctx context.Context, format string, args ...any) {
	r.emit(ctx, Event{Kind: Note, Text: fmt.Sprintf(format, args...)})
}

// finish builds the verdict, commits it and only then publishes it.
func (r *run) finish(ctx context.Context, err error) Verdict {
	v := Verdict{Run: r.id, Slot: r.slot.Name, IMEI: r.identity.IMEI, Outcome: Pass,
		// Lower case like every other digest the station reports (fw_sha256);
		// the modem lists it in upper case.
		Started: r.started, PSKSHA256: strings.ToLower(r.stored.KeySHA256)}
	if r.stored.KeySHA256 != "" {
		v.PSKIdentity = r.endpoint
	}
	r.emitMu.Lock()
	recordErr, recordStep := r.recordErr, r.recordStep
	r.emitMu.Unlock()
	if err == nil && recordErr != nil {
		se := Errorf(RecordFailed, recordErr, "a step could not be recorded")
		se.Step = recordStep
		err = se
	}
	if err != nil {
		se := Classify(err)
		v.Outcome, v.Code, v.Step, v.Hint, v.Detail = se.Code.Outcome(), se.Code, se.Step, se.Code.Hint(), se.Error()
	}
	v.Ended = r.e.opt.Clock.Now()
	return r.commitVerdict(ctx, v)
}

// commitVerdict is the only place a VerdictReached event is published, and
// it publishes only what the recorder committed. When the commit fails the
// unit's verdict is ERROR RECORD_FAILED — never the PASS nobody stored.
func (r *run) commitVerdict(ctx context.Context, v Verdict) Verdict {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	ev := Event{Kind: VerdictReached, Run: r.id, Slot: r.slot.Name, Step: v.Step, Verdict: &v, Time: r.e.opt.Clock.Now()}
	if err := r.e.opt.Recorder.Record(cctx, ev); err != nil {
		v = v.Unrecorded(err)
		ev.Verdict = &v
	}
	r.e.deliver(ev)
	return v
}

func (r *run) closeModem() {
	if r.modem == nil {
		return
	}
	if err := r.modem.Close(); err != nil {
		r.e.log.Debug("close modem", "slot", r.slot.Name, "err", err)
	}
}

func (r *run) wipe() {
	r.key.Wipe()
	r.targetKey.Wipe()
}
