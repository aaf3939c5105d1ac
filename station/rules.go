package station

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
)

// Line rules: how observations become a verdict. They are pure functions so
// the policy of the line is read (and tested) in one place.

// judgeBootstrap decides the bootstrap step from what the unit's log showed.
// The seed's rule: a unit must bootstrap before it registers — registering
// straight away means it still holds stale server credentials.
func judgeBootstrap(rep BootReport, endpoint string, watchErr error) error {
	if err := judgeCommon(rep, endpoint); err != nil {
		return err
	}
	switch {
	case rep.Registered && !rep.Bootstrapped:
		return Errorf(RegisteredWithoutBootstrap, nil, "the unit registered without bootstrapping")
	case rep.Registered:
		return nil
	}
	return judgeUnfinished(rep, watchErr)
}

// judgeReboot decides the verify_reboot check: after a second reset the
// unit must register with the credentials it kept, without bootstrapping.
func judgeReboot(rep BootReport, endpoint string, watchErr error) error {
	if err := judgeCommon(rep, endpoint); err != nil {
		return err
	}
	switch {
	case rep.Bootstrapped:
		return Errorf(RebootBootstrapped, nil, "after the second reset the unit bootstrapped again")
	case rep.Registered:
		return nil
	}
	return judgeUnfinished(rep, watchErr)
}

func judgeCommon(rep BootReport, endpoint string) error {
	switch {
	case rep.Reboots > 0:
		return Errorf(UnexpectedReboot, nil, "the unit rebooted %d time(s) on its own", rep.Reboots)
	case rep.Endpoint != "" && rep.Endpoint != endpoint:
		return Errorf(EndpointMismatch, nil, "unit uses endpoint %q, portal has %q", rep.Endpoint, endpoint)
	case rep.Failure != CodeNone:
		return Errorf(rep.Failure, nil, "unit log: %s", rep.FailureLine)
	}
	return nil
}

// judgeUnfinished explains a watch that ended before registration.
func judgeUnfinished(rep BootReport, watchErr error) error {
	if watchErr != nil && !errors.Is(watchErr, context.DeadlineExceeded) {
		var se *Error
		if errors.As(watchErr, &se) || errors.Is(watchErr, context.Canceled) {
			return watchErr
		}
		return Errorf(Internal, watchErr, "watch the unit's log")
	}
	switch {
	case !rep.Booted && !rep.Attached:
		return Errorf(BootstrapTimeout, watchErr, "nothing from a new boot (no boot banner, no LTE attach) before the timeout: did the reset reach the unit?")
	case !rep.Attached:
		return Errorf(LTENoAttach, watchErr, "no LTE attach reported before the timeout")
	case rep.Bootstrapped:
		return Errorf(BootstrapTimeout, watchErr, "bootstrapped but no registration before the timeout")
	}
	return Errorf(BootstrapTimeout, watchErr, "no bootstrap before the timeout")
}

// checkServerTag requires a PSK (type 3) and an identity (type 4).
func checkServerTag(listed map[int]string, tag uint32) error {
	_, psk := listed[3]
	_, id := listed[4]
	if !psk || !id {
		return Errorf(ServerTagEmpty, nil, "sec_tag %d holds psk=%t identity=%t", tag, psk, id)
	}
	return nil
}

var fwVersion = regexp.MustCompile(`(?:^|[_-])(\d+)\.(\d+)\.(\d+)(?:[_-]|$)`)

// ModemFWVersion extracts the N.N.N of a modem firmware string such as
// mfw_nrf91x1_2.0.2 (modem-at.md §2).
func ModemFWVersion(s string) ([3]int, bool) {
	m := fwVersion.FindStringSubmatch(s)
	if m == nil {
		return [3]int{}, false
	}
	var v [3]int
	for i := range v {
		v[i], _ = strconv.Atoi(m[i+1])
	}
	return v, true
}

func checkModemFW(have, min string) error {
	h, ok := ModemFWVersion(have)
	if !ok {
		return Errorf(ModemFWTooOld, nil, "modem firmware %q has no version number", have)
	}
	m, ok := ModemFWVersion(min)
	if !ok {
		m, ok = ModemFWVersion("_" + min)
	}
	if !ok {
		return Errorf(Internal, nil, "firmware.min_modem_fw %q is not N.N.N", min)
	}
	for i := range h {
		if h[i] != m[i] {
			if h[i] < m[i] {
				return Errorf(ModemFWTooOld, nil, "modem firmware %s is older than %s", have, min)
			}
			return nil
		}
	}
	return nil
}

// Describe renders a verdict for people: outcome, code, step and hint.
func (v Verdict) Describe() string {
	if v.Outcome == Pass {
		return fmt.Sprintf("%s PASS imei=%s", v.Slot, v.IMEI)
	}
	return fmt.Sprintf("%s %s %s at %s: %s", v.Slot, v.Outcome, v.Code, v.Step, v.Hint)
}

// DefaultLockCodes are the failures that point at the fixture rather than
// the unit (rules.lock_after): the probe, the cable, the port, a unit that
// stops answering mid-command. A worn pogo pin shows as these, unit after
// unit.
var DefaultLockCodes = []Code{FlashJLink, FlashNoProbe, FlashTimeout, PortUnavailable, ModemNotReady, ModemTimeout, ModemGarbled}
