package unit

import (
	"strings"
	"time"
)

// Boot banner (modem-at.md §9, NCS ≥ 2.7 prints two lines).
const (
	bannerSDK    = "*** Booting nRF Connect SDK v3.1.0-6c6e5b32496e ***\r\n"
	bannerZephyr = "*** Using Zephyr OS v4.1.99-1612683d4010 ***\r\n"
	modemInit    = 200 * time.Millisecond // nrf_modem_lib init before "Ready"
)

// run is one boot of the firmware.
func (u *Unit) run(b *boot) {
	defer u.wg.Done()
	switch {
	case u.cfg.Faults.Silent:
		u.settle()
		return
	case u.cfg.Faults.Garbage:
		u.settle()
		u.garbage(b)
		return
	}
	u.emit(b, bannerSDK+bannerZephyr, nil)
	if !u.cfg.Shell {
		u.emit(b, "The AT host sample started\r\n", nil)
	}
	if u.cfg.NoApp {
		if !u.sleep(b, modemInit) {
			return
		}
		u.ready(b)
		return
	}
	if !u.appStart(b) {
		return
	}
	u.ready(b)
	u.appRun(b)
}

// executor runs console commands one at a time.
func (u *Unit) executor(b *boot) {
	defer u.wg.Done()
	for {
		select {
		case <-b.ctx.Done():
			return
		case c := <-b.cmds:
			if u.cfg.Shell {
				u.shellCommand(b, c.line)
			} else {
				u.hostCommand(b, c)
			}
		}
	}
}

// hostCommand executes one AT host command: information lines, the final
// line (RX is enabled again just before it is written), then the effects.
func (u *Unit) hostCommand(b *boot, c command) {
	res, good := u.modemExec(b, c.line)
	if !good {
		u.token.CompareAndSwap(c.token, 0)
		return
	}
	for _, l := range res.lines {
		u.emit(b, l+"\r\n", nil)
	}
	u.emit(b, res.final+"\r\n", func() { u.token.CompareAndSwap(c.token, 0) })
	u.apply(b, res.acts)
}

// shellCommand executes one shell line (Zephyr shell + nrf AT shell).
func (u *Unit) shellCommand(b *boot, line string) {
	argv, open, tooMany := shellArgv(line)
	var out string
	var acts actions
	switch {
	case open != 0:
		out = shellError("not terminated: " + string(open))
	case tooMany:
		out = shellError("Too many arguments in the command.")
	case len(argv) == 0:
	case argv[0] != "at":
		out = shellError(argv[0] + ": command not found")
	case len(argv) < 2:
		out = shellPrint(atUsage)
	case argv[1] == "events_enable" || argv[1] == "events_disable":
		out = u.shellEvents(argv[1] == "events_enable")
	default:
		res, good := u.modemExec(b, unescapeLF(argv[1]))
		if !good {
			return
		}
		out, acts = shellPrint(res.text()), res.acts
	}
	if out != "" {
		u.emit(b, out, nil)
	}
	u.apply(b, acts)
	u.shellDone(b)
}

func (u *Unit) shellEvents(on bool) string {
	u.io.Lock()
	u.con.events = on
	u.io.Unlock()
	if on {
		return shellPrint("AT command event handler enabled")
	}
	return shellPrint("AT command event handler disabled")
}

// text is the modem's response as nrf_modem_at_cmd returns it.
func (r result) text() string {
	var sb strings.Builder
	for _, l := range r.lines {
		sb.WriteString(l + "\r\n")
	}
	sb.WriteString(r.final + "\r\n")
	return sb.String()
}

// modemExec runs an AT command in the modem. false: the unit went away
// (unplug fault) or the boot ended meanwhile; nothing is printed.
func (u *Unit) modemExec(b *boot, line string) (result, bool) {
	if u.unplugTrigger(line) {
		u.log.Info("unplug fault fires", "at", u.cfg.Faults.UnplugAt)
		u.Unplug()
		return result{}, false
	}
	u.mu.Lock()
	if !u.current(b) {
		u.mu.Unlock()
		return result{}, false
	}
	res := u.mdm.exec(line)
	if res.acts.persist {
		u.saveLocked()
	}
	if res.acts.netSig {
		u.netSignalLocked()
	}
	u.mu.Unlock()
	if res.acts.delay > 0 && !u.sleep(b, res.acts.delay) {
		return result{}, false
	}
	return res, true
}

// unplugTrigger reports whether line fires the UnplugAt fault.
func (u *Unit) unplugTrigger(line string) bool {
	switch u.cfg.Faults.UnplugAt {
	case UnplugAtIdentify:
		name, _, _, good := splitCommand(line)
		if !good {
			return false
		}
		switch name {
		case "+CGSN", "+CGMR", "+CGMM", "%HWVERSION", "%XMODEMUUID":
			return true
		}
	case UnplugAtInject:
		return strings.HasPrefix(line, "AT%CMNG")
	}
	return false
}

// apply carries out a command's effects: notifications, then timers.
func (u *Unit) apply(b *boot, a actions) {
	for _, urc := range a.urcs {
		u.emitURC(b, urc)
	}
	if a.attach > 0 && !u.cfg.Faults.LTENever {
		epoch := a.attach
		u.after(b, a.attachIn, func() { u.attachDone(b, epoch) })
	}
	if a.uiccOn > 0 {
		epoch := a.uiccOn
		u.after(b, uiccPowerUp, func() { u.uiccDone(b, epoch) })
	}
}

func (u *Unit) attachDone(b *boot, epoch int) {
	u.mu.Lock()
	if !u.current(b) {
		u.mu.Unlock()
		return
	}
	urc, sub, done := u.mdm.attached(epoch)
	u.mu.Unlock()
	if !done {
		return
	}
	if sub {
		u.emitURC(b, urc) // before the application hears of it
	}
	u.mu.Lock()
	u.netSignalLocked()
	u.mu.Unlock()
}

func (u *Unit) uiccDone(b *boot, epoch int) {
	u.mu.Lock()
	if !u.current(b) {
		u.mu.Unlock()
		return
	}
	urc, sub, _ := u.mdm.uiccUp(epoch)
	u.mu.Unlock()
	if sub {
		u.emitURC(b, urc)
	}
}

// setFun is the application changing the functional mode (lte_lc).
func (u *Unit) setFun(b *boot, v int) bool {
	u.mu.Lock()
	if !u.current(b) {
		u.mu.Unlock()
		return false
	}
	a := u.mdm.setFun(v)
	if a.netSig {
		u.netSignalLocked()
	}
	u.mu.Unlock()
	if a.delay > 0 && !u.sleep(b, a.delay) {
		return false
	}
	u.apply(b, a)
	return true
}

// waitRegistered waits for +CEREG stat 1. false: the boot ended or LTE was
// switched off meanwhile (e.g. the station's AT+CFUN=4).
func (u *Unit) waitRegistered(b *boot) bool {
	for {
		u.mu.Lock()
		if !u.current(b) {
			u.mu.Unlock()
			return false
		}
		reg, lte, ch := u.mdm.reg, u.mdm.lte, u.netCh
		u.mu.Unlock()
		switch {
		case reg == 1:
			return true
		case !lte:
			return false
		}
		select {
		case <-ch:
		case <-b.ctx.Done():
			return false
		}
	}
}
