package inject

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"nrfline/inject/at"
	"nrfline/station"
)

// SIM power-up: AT%XSIM? is asked when a %XSIM URC arrives or every
// DefaultSIMPoll, at most DefaultSIMWait (Nordic waits ~1 s after
// AT+CFUN=41, modem-at.md §4).
const (
	DefaultSIMPoll = 500 * time.Millisecond
	DefaultSIMWait = 10 * time.Second
)

// Identify reads who the unit is (modem-at.md §2, §4): AT+CMEE=1 first (so
// refusals carry a code), the IMEI (15 digits with a valid Luhn check digit,
// else IMEI_INVALID — an IMEI never written answers ERROR), the modem
// firmware (kept raw, e.g. mfw_nrf91x1_2.0.2; the engine compares it with
// firmware.min_modem_fw), model, hardware version, modem UUID and
// manufacturer. Those four are informative: a modem that refuses one of
// them leaves the field empty. With readSIM the station subscribes to SIM
// state URCs (AT%XSIM=1), powers the UICC (AT+CFUN=41), waits until the SIM
// is initialised (the URC, or AT%XSIM? polled), and ICCID
// (kept raw, trailing F padding included) and IMSI are read; any SIM
// failure is SIM_NOT_READY.
//
// The modem is taken offline (AT+CMEE=1, AT+CFUN=4) before anything is
// read. A unit being re-tested still holds the bootstrap key of its last
// run: online, its new firmware attaches and bootstraps with that key while
// it is identified, stores that bootstrap, and after the station's reset it
// skips the bootstrap with a server tag the station has just cleared (seen
// on the virtual line as BOOTSTRAP_NETWORK on every fast retest). IMEI and
// firmware read fine in CFUN 4; the SIM is powered on its own (CFUN 41).
func (m *Modem) Identify(ctx context.Context, readSIM bool) (station.Identity, error) {
	var id station.Identity
	if err := m.offline(ctx); err != nil {
		return id, err
	}
	imei, err := m.readIMEI(ctx)
	if err != nil {
		return id, err
	}
	id.IMEI = imei
	if id.ModemFW, err = m.readModemFW(ctx); err != nil {
		return id, err
	}
	infos := []struct {
		cmd, prefix string
		dst         *string
	}{
		{"AT+CGMM", "", &id.Model},
		{"AT%HWVERSION", "%HWVERSION:", &id.HWVersion},
		{"AT%XMODEMUUID", "%XMODEMUUID:", &id.UUID},
		{"AT+CGMI", "", &id.Manufacturer},
	}
	for _, f := range infos {
		if *f.dst, err = m.readInfo(ctx, f.cmd, f.prefix); err != nil {
			return id, err
		}
	}
	if readSIM {
		if id.ICCID, id.IMSI, err = m.readSIM(ctx); err != nil {
			return id, err
		}
	}
	return id, nil
}

// enableCMEE switches on numeric +CME ERROR codes (modem-at.md §5).
func (m *Modem) enableCMEE(ctx context.Context) error {
	if _, err := m.s.Command(ctx, "AT+CMEE=1"); err != nil {
		return failed(err, station.ModemError, "enable numeric error codes (AT+CMEE=1)")
	}
	return nil
}

func (m *Modem) readIMEI(ctx context.Context) (string, error) {
	r, err := m.s.Command(ctx, "AT+CGSN")
	if err != nil {
		return "", failed(err, station.IMEIInvalid, "read the IMEI (AT+CGSN); ERROR means it was never written")
	}
	if len(r.Lines) != 1 {
		return "", station.Errorf(station.IMEIInvalid, nil, "AT+CGSN answered %d lines of digits, want exactly 1", len(r.Lines))
	}
	imei := r.Lines[0]
	if !ValidIMEI(imei) {
		return "", station.Errorf(station.IMEIInvalid, nil, "IMEI %q is not 15 digits with a valid Luhn check digit", imei)
	}
	return imei, nil
}

// ValidIMEI reports whether s is 15 decimal digits whose last digit is the
// Luhn check digit of the first 14.
func ValidIMEI(s string) bool { return station.CheckIMEI(s) == nil }

func (m *Modem) readModemFW(ctx context.Context) (string, error) {
	r, err := m.s.Command(ctx, "AT+CGMR")
	if err != nil {
		return "", failed(err, station.ModemError, "read the modem firmware version (AT+CGMR)")
	}
	if len(r.Lines) != 1 || strings.TrimSpace(r.Lines[0]) == "" {
		return "", station.Errorf(station.ModemError, nil, "AT+CGMR answered %d lines, want the firmware name", len(r.Lines))
	}
	return strings.TrimSpace(r.Lines[0]), nil
}

// readInfo reads an informative value; the modem refusing it leaves it empty.
func (m *Modem) readInfo(ctx context.Context, cmd, prefix string) (string, error) {
	r, err := m.s.Command(ctx, cmd)
	if at.ResultError(err) {
		m.log.Info("modem does not answer an informative command", "cmd", cmd, "err", err)
		return "", nil
	}
	if err != nil {
		return "", failed(err, station.ModemError, "%s", cmd)
	}
	if len(r.Lines) == 0 {
		return "", nil
	}
	return strings.TrimSpace(strings.TrimPrefix(r.Lines[0], prefix)), nil
}

// readSIM powers the UICC, waits for it and reads ICCID and IMSI.
func (m *Modem) readSIM(ctx context.Context) (iccid, imsi string, err error) {
	if err := m.subscribeSIM(ctx); err != nil {
		return "", "", err
	}
	if _, err := m.s.Command(ctx, "AT+CFUN=41"); err != nil {
		return "", "", failed(err, station.SIMNotReady, "power the SIM (AT+CFUN=41)")
	}
	if err := m.waitSIM(ctx); err != nil {
		return "", "", err
	}
	r, err := m.s.Command(ctx, "AT%XICCID")
	if err != nil {
		return "", "", failed(err, station.SIMNotReady, "read the ICCID (AT%%XICCID)")
	}
	if len(r.Lines) != 1 || !isICCID(strings.TrimSpace(strings.TrimPrefix(r.Lines[0], "%XICCID:"))) {
		return "", "", station.Errorf(station.SIMNotReady, nil, "AT%%XICCID gave no ICCID (%d lines)", len(r.Lines))
	}
	iccid = strings.TrimSpace(strings.TrimPrefix(r.Lines[0], "%XICCID:"))
	r, err = m.s.Command(ctx, "AT+CIMI")
	if err != nil {
		return "", "", failed(err, station.SIMNotReady, "read the IMSI (AT+CIMI)")
	}
	if len(r.Lines) != 1 || len(r.Lines[0]) < 6 || len(r.Lines[0]) > 15 {
		return "", "", station.Errorf(station.SIMNotReady, nil, "AT+CIMI gave no IMSI (%d lines)", len(r.Lines))
	}
	return iccid, r.Lines[0], nil
}

// isICCID: 18–20 digits, optionally padded with a trailing F.
func isICCID(s string) bool {
	s = strings.TrimRight(s, "Ff")
	if len(s) < 18 || len(s) > 20 {
		return false
	}
	_, err := strconv.ParseUint(s[:18], 10, 64)
	return err == nil && strings.Trim(s, "0123456789") == ""
}

// subscribeSIM asks the AT host for %XSIM URCs (AT%XSIM=1, modem-at.md
// §4), so the SIM being ready is announced the moment it is instead of
// being found by the next poll: a fixed poll made every unit wait for its
// next multiple of DefaultSIMPoll, and on a busy line some units missed
// one and lost a whole poll interval. A modem that refuses the
// subscription is polled as before. In the shell the AT shell does not
// print URCs on the firmware's default configuration; it is polled only.
func (m *Modem) subscribeSIM(ctx context.Context) error {
	if m.s.Shell() {
		return nil
	}
	_, err := m.s.Command(ctx, "AT%XSIM=1")
	switch {
	case at.ResultError(err):
		m.log.Info("modem refuses %XSIM notifications; polling the SIM state", "err", err)
		return nil
	case err != nil:
		return failed(err, station.SIMNotReady, "subscribe to SIM state notifications (AT%%XSIM=1)")
	}
	return nil
}

// waitSIM asks AT%XSIM? until the SIM is initialised (%XSIM: 1), asking
// again when a %XSIM URC arrives or DefaultSIMPoll passes, whichever is
// first. A reply with a cause (%XSIM: 0,<cause>: PIN required, PUK, USIM
// failure…) will not change by waiting and fails at once. In the shell a
// read command's "?" is a wildcard on a firmware built with the Kconfig
// default (modem-at.md §8), so there the SIM counts as ready once AT%XICCID
// answers.
func (m *Modem) waitSIM(ctx context.Context) error {
	deadline := time.Now().Add(m.simWait)
	for {
		mark := m.s.Mark() // a URC from here on ends the wait below
		state, cause, err := m.simState(ctx)
		switch {
		case err != nil && !at.ResultError(err):
			return failed(err, station.SIMNotReady, "ask the SIM state")
		case err == nil && state == 1:
			return nil
		case err == nil && cause != 0:
			return station.Errorf(station.SIMNotReady, nil, "SIM not initialised: %%XSIM cause %d (%s)", cause, simCause(cause))
		}
		if time.Now().After(deadline) {
			return station.Errorf(station.SIMNotReady, err, "SIM not initialised %s after AT+CFUN=41", m.simWait)
		}
		if _, _, err := m.s.AwaitLine(ctx, mark, m.simPoll, isXSIM); err != nil {
			return failed(err, station.SIMNotReady, "wait for the SIM")
		}
	}
}

// simState parses "%XSIM: <state>[,<cause>]"; in the shell it is 1 when
// AT%XICCID gives an ICCID (no cause is known there).
func (m *Modem) simState(ctx context.Context) (state, cause int, err error) {
	if m.s.Shell() {
		r, err := m.s.Command(ctx, "AT%XICCID")
		if err != nil {
			return 0, 0, err
		}
		if len(r.Lines) == 1 && isICCID(strings.TrimSpace(strings.TrimPrefix(r.Lines[0], "%XICCID:"))) {
			return 1, 0, nil
		}
		return 0, 0, nil
	}
	r, err := m.s.Command(ctx, "AT%XSIM?")
	if err != nil {
		return 0, 0, err
	}
	// The last line: a URC that came in with the answer is the newer state.
	for _, l := range slices.Backward(r.Lines) {
		v, ok := strings.CutPrefix(l, "%XSIM:")
		if !ok {
			continue
		}
		fields := strings.Split(strings.TrimSpace(v), ",")
		state, _ = strconv.Atoi(strings.TrimSpace(fields[0]))
		if len(fields) > 1 {
			cause, _ = strconv.Atoi(strings.TrimSpace(fields[1]))
		}
		return state, cause, nil
	}
	return 0, 0, nil
}

// isXSIM matches a %XSIM URC ("%XSIM: 1", "%XSIM: 0,<cause>").
func isXSIM(line string) bool { return strings.HasPrefix(line, "%XSIM:") }

// simCause names a %XSIM cause (modem-at.md §4).
func simCause(c int) string {
	names := map[int]string{1: "PIN required", 2: "PIN2 required", 3: "PUK required (PIN blocked)", 4: "PUK2 required",
		5: "PUK blocked", 6: "PUK2 blocked", 7: "device personalisation blocked", 8: "IMEI lock blocked",
		9: "USIM failure", 10: "USIM changed", 11: "USIM profile changed"}
	if n, ok := names[c]; ok {
		return n
	}
	return "unknown cause"
}
