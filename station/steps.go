package station

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// connect opens the unit's serial port. It comes first so that the boot
// after flashing is seen and an absent unit fails before anything else.
func (r *run) connect(ctx context.Context) error {
	port := r.slot.Port
	if port == "" {
		if r.e.opt.PortFinder == nil {
			return Errorf(PortUnavailable, nil, "slot %s has no port and no discovery is configured", r.slot.Name)
		}
		p, err := r.e.opt.PortFinder(ctx, r.slot.Probe)
		if err != nil {
			return fmt.Errorf("find the serial port of probe %s: %w", r.slot.Probe, err)
		}
		port = p
	}
	if r.configuredPort() {
		// A port named in the config that is not there is the fixture's
		// problem (wrong name, adapter missing), not the unit's.
		if _, err := os.Stat(port); err != nil {
			return Errorf(PortUnavailable, err, "slot %s: configured port %s does not exist", r.slot.Name, port)
		}
	}
	m, err := r.e.opt.Modems(ctx, port, func(dir, line string) {
		r.emit(ctx, Event{Kind: DeviceLine, Dir: dir, Text: line})
	})
	if err != nil {
		return fmt.Errorf("open %s: %w", port, err)
	}
	r.modem = m
	return r.precheck(ctx)
}

// configuredPort says whether the run's port comes from the config (rather
// than from discovery).
func (r *run) configuredPort() bool {
	for _, s := range r.e.cfg.SlotList() {
		if s.Name == r.slot.Name {
			return s.Port != "" && s.Port == r.slot.Port
		}
	}
	return false
}

// precheckWait bounds how long connect waits for a unit to answer AT before
// it is flashed; a blank unit never does, and then the rules wait for identify.
const precheckWait = 3 * time.Second

// precheck applies the line rules that need the IMEI before anything is
// written to the unit, when the unit's current firmware answers AT. A
// blank unit does not; identify applies them after flashing, still before
// any credential is written.
func (r *run) precheck(ctx context.Context) error {
	rules := r.e.cfg.Rules
	if rules.MaxAttempts == 0 && rules.Reprovision == "allow" {
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, min(precheckWait, r.e.cfg.Modem.ReadyTimeout.Duration))
	defer cancel()
	if err := r.modem.Ready(pctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.note(ctx, "unit does not answer AT before flashing (blank?): the line rules are checked after identify")
		return nil
	}
	id, err := r.modem.Identify(pctx, false)
	if err != nil || !ValidIMEI(id.IMEI) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.note(ctx, "no IMEI before flashing: the line rules are checked after identify")
		return nil
	}
	// Recorded now: a unit refused here, or failing before identify, still
	// counts against its IMEI (rules.max_attempts reads the records).
	r.identity = id
	r.endpoint = r.e.cfg.Endpoint(id.IMEI)
	r.emit(ctx, Event{Kind: UnitIdentified, Identity: &id})
	return r.admit(ctx, id.IMEI)
}

// admit applies the line rules to the unit with this IMEI: the same IMEI in
// another slot (DUPLICATE_IMEI), rules.max_attempts (RETEST_LIMIT),
// rules.reprovision (ALREADY_PROVISIONED or a note).
func (r *run) admit(ctx context.Context, imei string) error {
	if r.admitted == imei {
		return nil
	}
	if err := r.e.send(ctx, "claim", r.slot.Name, imei); err != nil {
		var ref *Refusal
		if ctx.Err() != nil {
			return ctx.Err() // interrupted while asking: ABORTED, not a duplicate
		}
		if errors.As(err, &ref) {
			return Errorf(DuplicateIMEI, nil, "%s", ref.Reason)
		}
		return err
	}
	rules := r.e.cfg.Rules
	if rules.MaxAttempts > 0 || rules.Reprovision != "allow" {
		h, err := r.e.opt.History.UnitHistory(ctx, imei)
		if err != nil {
			return Errorf(Internal, err, "read the history of IMEI %s for the line rules", imei)
		}
		if strings.HasPrefix(h.Source, "local:") {
			r.note(ctx, "line rules from this station's records only (%s)", strings.TrimPrefix(h.Source, "local: "))
		}
		if rules.MaxAttempts > 0 && h.Attempts >= rules.MaxAttempts {
			return Errorf(RetestLimit, nil, "IMEI %s has %d recorded runs; rules.max_attempts = %d", imei, h.Attempts, rules.MaxAttempts)
		}
		if h.Passed {
			switch rules.Reprovision {
			case "refuse":
				return Errorf(AlreadyProvisioned, nil, "IMEI %s already passed", imei)
			case "warn":
				r.note(ctx, "IMEI %s already passed before: provisioning it again (rules.reprovision = warn)", imei)
			}
		}
	}
	r.admitted = imei
	return nil
}

// flash programs the firmware. Line rules: a transient J-Link error is
// retried once; a protected chip is recovered (when flash.recover allows)
// and programmed again.
func (r *run) flash(ctx context.Context) error {
	t0 := r.e.opt.Clock.Now()
	fl, fw, probe := r.e.opt.Flasher, r.e.opt.Firmware, r.slot.Probe
	program := func(ctx context.Context) error { return fl.Program(ctx, probe, fw, r.toolReport(ctx)) }
	err := r.retryTransient(ctx, program)
	if CodeOf(err) == FlashProtected && r.e.cfg.Flash.Recover {
		r.note(ctx, "chip is protected: recovering (erases the whole chip)")
		if err = r.recover(ctx); err == nil {
			r.measure["recovered"] = 1
			err = r.retryTransient(ctx, program)
		}
	}
	r.measure["flash_seconds"] = r.e.opt.Clock.Now().Sub(t0).Seconds()
	return r.unplugged(err)
}

// unplugged refines a probe failure: when the unit's serial port went away
// as well, the unit left the fixture, and the record should say so. The
// port's reader may learn of the hangup a moment after the tool did, so it
// gets a short grace (only on this failure path).
func (r *run) unplugged(err error) error {
	if c := CodeOf(err); (c != FlashNoProbe && c != FlashJLink) || r.modem == nil {
		return err
	}
	for range 5 {
		if r.modem.Gone() {
			return &Error{Code: UnitUnplugged, Detail: "the probe and the unit's serial port are both gone", Err: err}
		}
		<-r.e.opt.Clock.After(50 * time.Millisecond)
	}
	return err
}

// recover unlocks a protected chip; a recover that fails part way is tried
// again (up to 3 times, 5 s apart) because it leaves the access port closed.
func (r *run) recover(ctx context.Context) error {
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		err = r.retryTransient(ctx, func(ctx context.Context) error {
			return r.e.opt.Flasher.Recover(ctx, r.slot.Probe, r.toolReport(ctx))
		})
		if CodeOf(err) != FlashRecoverFailed || attempt == 3 {
			return err
		}
		r.note(ctx, "recover failed (attempt %d of 3), trying again in 5 s", attempt)
		if err := r.wait(ctx, 5*time.Second); err != nil {
			return err
		}
	}
	return err
}

// retryTransient runs op and, after a transient J-Link error, once more.
func (r *run) retryTransient(ctx context.Context, op func(context.Context) error) error {
	err := op(ctx)
	if CodeOf(err) != FlashJLink {
		return err
	}
	r.note(ctx, "transient J-Link error, retrying once: %v", err)
	r.measure["jlink_retries"]++
	if werr := r.wait(ctx, time.Second); werr != nil {
		return werr
	}
	return op(ctx)
}

func (r *run) wait(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-r.e.opt.Clock.After(d):
		return nil
	}
}

// toolReport turns tool output into events.
func (r *run) toolReport(ctx context.Context) func(ToolLine) {
	return func(l ToolLine) {
		r.emit(ctx, Event{Kind: ToolOutput, Text: l.Text})
		if l.Percent >= 0 {
			r.emit(ctx, Event{Kind: StepProgress, Percent: l.Percent, Text: l.Phase})
		}
	}
}

// identify waits for the modem and reads who the unit is.
func (r *run) identify(ctx context.Context) error {
	if err := r.modem.Ready(ctx); err != nil {
		return err
	}
	id, err := r.modem.Identify(ctx, r.e.cfg.Modem.ReadSIM)
	if err != nil {
		return err
	}
	if min := r.e.cfg.Firmware.MinModemFW; min != "" {
		if err := checkModemFW(id.ModemFW, min); err != nil {
			return err
		}
	}
	r.identity = id
	r.endpoint = r.e.cfg.Endpoint(id.IMEI)
	r.emit(ctx, Event{Kind: UnitIdentified, Identity: &id})
	return r.admit(ctx, id.IMEI)
}

// inject draws a fresh bootstrap PSK and stores it with the identity.
func (r *run) inject(ctx context.Context) error {
	c := r.e.cfg.Credentials
	key, err := r.e.opt.NewPSK(c.PSKBytes)
	if err != nil {
		return Errorf(Internal, err, "draw the bootstrap psk")
	}
	r.key = key
	rep, err := r.modem.Provision(ctx, CredentialPlan{
		BootstrapTag: c.BootstrapTag, Identity: r.endpoint, Key: key,
		ServerTag: c.ServerTag, ClearServerTag: c.ClearServerTag, StrictDigest: c.StrictDigest,
	})
	if err != nil {
		return err
	}
	for _, w := range rep.Warnings {
		r.note(ctx, "credential warning: %s", w)
	}
	r.stored = rep
	r.note(ctx, "bootstrap credentials stored under sec_tag %d: identity %s, psk %s", c.BootstrapTag, r.endpoint, key)
	return nil
}

// register tells the portal about the unit: its bootstrap credentials and
// the LwM2M server account the bootstrap server is to hand out.
func (r *run) register(ctx context.Context) error {
	target, err := r.e.opt.NewPSK(r.e.cfg.Credentials.PSKBytes)
	if err != nil {
		return Errorf(Internal, err, "draw the server psk")
	}
	r.targetKey = target
	return r.e.opt.Portal.Register(ctx, Registration{
		Endpoint:  r.endpoint,
		Identity:  r.identity,
		Bootstrap: Credential{Identity: r.endpoint, Key: r.key},
		Target:    Credential{Identity: r.endpoint, Key: target},
		TargetURI: r.e.cfg.Portal.TargetURI,
	})
}

// probe bootstraps once as the unit would and checks what the bootstrap
// server hands out: the target must be among the servers delivered; the
// others are noted.
func (r *run) probe(ctx context.Context) error {
	b := r.e.cfg.Bootstrap
	got, err := r.e.opt.Prober.Probe(ctx, ProbeRequest{
		ServerURI: b.ServerURI, Endpoint: r.endpoint,
		Credential:    Credential{Identity: r.endpoint, Key: r.key},
		AnswerTimeout: b.ProbeTimeout.Duration,
	})
	if err != nil {
		return err
	}
	want := r.e.cfg.Portal.TargetURI
	if want != "" && !slices.Contains(got, want) {
		return Errorf(ProbeWrongTarget, nil, "bootstrap server hands out %s, expected %q", quoteAll(got), want)
	}
	if others := slices.DeleteFunc(slices.Clone(got), func(u string) bool { return u == want }); want != "" && len(others) > 0 {
		r.note(ctx, "bootstrap server also delivered %s", quoteAll(others))
	}
	return nil
}

// quoteAll formats URIs as "a", "b".
func quoteAll(uris []string) string {
	q := make([]string, len(uris))
	for i, u := range uris {
		q[i] = strconv.Quote(u)
	}
	return strings.Join(q, ", ")
}

// bootstrap resets the unit and watches it bootstrap, then register.
func (r *run) bootstrap(ctx context.Context) error {
	rep, err := r.modem.Watch(ctx, r.e.cfg.Bootstrap.Markers.WithDefaults(), r.reset)
	r.measureBoot(rep)
	return judgeBootstrap(rep, r.endpoint, err)
}

// verify checks the unit kept what the bootstrap delivered: the server tag
// holds a PSK and an identity, and (verify_reboot) a second reset registers
// without bootstrapping.
func (r *run) verify(ctx context.Context) error {
	b := r.e.cfg.Bootstrap
	if b.VerifyServerTag {
		listed, err := r.modem.ListTag(ctx, r.e.cfg.Credentials.ServerTag)
		if err != nil {
			return err
		}
		if err := checkServerTag(listed, r.e.cfg.Credentials.ServerTag); err != nil {
			return err
		}
	}
	if b.VerifyReboot {
		rep, err := r.modem.Watch(ctx, b.Markers.WithDefaults(), r.reset)
		if err := judgeReboot(rep, r.endpoint, err); err != nil {
			return err // a failed reboot has no time to show
		}
		r.measure["reboot_register_seconds"] = rep.RegisteredAt.Seconds()
		return nil
	}
	return nil
}

// reset is the bootstrap trigger: a system reset through the probe.
func (r *run) reset(ctx context.Context) error {
	return r.unplugged(r.retryTransient(ctx, func(ctx context.Context) error {
		return r.e.opt.Flasher.Reset(ctx, r.slot.Probe, r.toolReport(ctx))
	}))
}

func (r *run) measureBoot(rep BootReport) {
	if rep.BootstrapAt > 0 {
		r.measure["bootstrap_seconds"] = rep.BootstrapAt.Seconds()
	}
	if rep.RegisteredAt > 0 {
		r.measure["register_seconds"] = rep.RegisteredAt.Seconds()
	}
}
