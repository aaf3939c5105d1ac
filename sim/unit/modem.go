package unit

import (
	"strconv"
	"strings"
	"time"
)

// Final result lines (modem-at.md §1, §5).
const (
	resOK    = "OK"
	resError = "ERROR"
)

// CME error codes the modem reports (modem-at.md §5).
const (
	cmeSIMOff     = 0   // SIM read while the UICC is off (choice: "not available in this mode")
	cmeSIMBusy    = 14  // SIM read while the UICC is still powering up
	cmeNotFound   = 513 // %CMNG read/delete of a missing credential
	cmeNoAccess   = 514 // %CMNG on a modem-reserved tag, or read of a key/PSK
	cmeMemFull    = 515 // %CMNG write, memory full (fault)
	cmeActive     = 518 // %CMNG write/delete while LTE is active
	cmeExists     = 519 // %CMNG write over an existing <sec_tag>,<type>
	cmeBadContent = 527 // %CMNG write of a PSK that is not hex text
)

// Simulated durations (before Config.Delay scaling).
const (
	firstAttach = 5 * time.Second         // CFUN=1 → +CEREG: 1 after boot
	reattach    = 2200 * time.Millisecond // later attaches (cell known)
	uiccPowerUp = time.Second             // CFUN=41 → %XSIM: 1
	detachTime  = 200 * time.Millisecond  // CFUN=0/4/20/40 while attached: network signalling
)

// identity is what the modem answers to identity reads. Empty IMEI, IMSI,
// ICCID or UUID → the read answers ERROR (e.g. IMEI never written, §2).
type identity struct {
	IMEI, ICCID, IMSI, UUID, ModemFW, Model, HWVersion string
}

// modem is the nRF9151 modem's volatile state and its AT interpreter. It is
// pure: it changes its own fields and the credential store and describes
// everything else (URCs, timers, persistence, delay) in the result; the
// unit carries that out. The unit serialises all calls.
type modem struct {
	id     identity
	store  *credStore
	cme515 bool

	cmee      int
	cfun      int
	lte, gnss bool
	uicc      bool
	uiccReady bool
	ceregN    int
	xsimSub   bool
	reg       int // +CEREG <stat>: 0 not registered, 1 registered, 2 searching
	attaches  int // attaches started since boot
	lteEpoch  int // bumped on every LTE on/off transition
	uiccEpoch int // bumped on every UICC on/off transition
}

// result is the outcome of one AT command.
type result struct {
	lines []string // information text lines, without line ends
	final string   // OK | ERROR | +CME ERROR: <n>
	acts  actions
}

// actions are the side effects the unit must carry out after the response.
type actions struct {
	urcs     []string      // unsolicited lines, emitted after the final line
	delay    time.Duration // simulated execution time, before the response
	attach   int           // >0: start an attach for this lteEpoch…
	attachIn time.Duration // …that completes after this long
	uiccOn   int           // >0: power the UICC up for this uiccEpoch
	netSig   bool          // registration state changed: wake the app
	persist  bool          // the credential store changed
}

func newModem(id identity, store *credStore, cme515 bool) *modem {
	return &modem{id: id, store: store, cme515: cme515}
}

func ok(lines ...string) result { return result{lines: lines, final: resOK} }

func errResult() result { return result{final: resError} }

// cme is a failure with a +CME ERROR code, plain ERROR while CMEE=0.
func (m *modem) cme(code int) result {
	if m.cmee == 1 {
		return result{final: "+CME ERROR: " + strconv.Itoa(code)}
	}
	return errResult()
}

type handler func(m *modem, op, args string) result

// lookup returns the handler of a command name, or nil.
func lookup(name string) handler {
	switch name {
	case "+CMEE":
		return (*modem).cmdCMEE
	case "+CGSN":
		return (*modem).cmdCGSN
	case "+CGMI":
		return bare(func(m *modem) string { return "Nordic Semiconductor ASA" })
	case "+CGMM":
		return bare(func(m *modem) string { return m.id.Model })
	case "+CGMR":
		return bare(func(m *modem) string { return m.id.ModemFW })
	case "%HWVERSION":
		return bare(func(m *modem) string { return "%HWVERSION: " + m.id.HWVersion })
	case "%XMODEMUUID":
		return bareOpt(func(m *modem) string { return m.id.UUID }, "%XMODEMUUID: ")
	case "%SHORTSWVER":
		return bare(func(m *modem) string { return "%SHORTSWVER: " + strings.TrimPrefix(m.id.ModemFW, "mfw_") })
	case "+CFUN":
		return (*modem).cmdCFUN
	case "+CIMI":
		return (*modem).cmdCIMI
	case "%XICCID":
		return (*modem).cmdXICCID
	case "%XSIM":
		return (*modem).cmdXSIM
	case "+CPIN":
		return (*modem).cmdCPIN
	case "+CEREG":
		return (*modem).cmdCEREG
	case "%CMNG":
		return (*modem).cmdCMNG
	}
	return nil
}

// bare answers the action form only (no ?, =?, =…) with one line.
func bare(text func(m *modem) string) handler {
	return func(m *modem, op, args string) result {
		if op != "" {
			return errResult()
		}
		return ok(text(m))
	}
}

// bareOpt is bare for a value that may be unset (→ ERROR).
func bareOpt(value func(m *modem) string, prefix string) handler {
	return func(m *modem, op, args string) result {
		v := value(m)
		if op != "" || v == "" {
			return errResult()
		}
		return ok(prefix + v)
	}
}

// exec runs one command line as received (terminator stripped).
func (m *modem) exec(cmd string) result {
	if cmd == "AT" {
		return ok()
	}
	name, op, args, good := splitCommand(cmd)
	if !good {
		return errResult()
	}
	h := lookup(name)
	if h == nil {
		return errResult()
	}
	return h(m, op, args)
}

// splitCommand splits "AT+NAME", "AT+NAME?", "AT+NAME=?" and "AT+NAME=args".
// Names are '+' or '%' then upper-case letters and digits: the modem is
// strict about case here (a lowercase "at+cgsn" is an ERROR).
func splitCommand(cmd string) (name, op, args string, good bool) {
	if !strings.HasPrefix(cmd, "AT") || len(cmd) < 4 || (cmd[2] != '+' && cmd[2] != '%') {
		return "", "", "", false
	}
	i := 3
	for i < len(cmd) && (cmd[i] >= 'A' && cmd[i] <= 'Z' || cmd[i] >= '0' && cmd[i] <= '9') {
		i++
	}
	if i == 3 {
		return "", "", "", false
	}
	name, rest := cmd[2:i], cmd[i:]
	switch {
	case rest == "":
		return name, "", "", true
	case rest == "?":
		return name, "?", "", true
	case rest == "=?":
		return name, "=?", "", true
	case strings.HasPrefix(rest, "="):
		return name, "=", rest[1:], true
	}
	return "", "", "", false
}

// uintArg parses an unquoted decimal in [lo, hi].
func uintArg(p param, lo, hi uint64) (uint64, bool) {
	if p.quoted || p.s == "" || len(p.s) > 10 {
		return 0, false
	}
	for i := 0; i < len(p.s); i++ {
		if p.s[i] < '0' || p.s[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(p.s, 10, 64)
	if err != nil || v < lo || v > hi {
		return 0, false
	}
	return v, true
}

// singleInt parses args that must be exactly one unquoted integer.
func singleInt(args string, lo, hi uint64) (int, bool) {
	ps, good := parseParams(args)
	if !good || len(ps) != 1 {
		return 0, false
	}
	v, good := uintArg(ps[0], lo, hi)
	return int(v), good
}

func (m *modem) cmdCMEE(op, args string) result {
	switch op {
	case "?":
		return ok("+CMEE: " + strconv.Itoa(m.cmee))
	case "=?":
		return ok("+CMEE: (0,1)")
	case "=":
		v, good := singleInt(args, 0, 1)
		if !good {
			return errResult()
		}
		m.cmee = v
		return ok()
	}
	return errResult()
}

func (m *modem) cmdCGSN(op, args string) result {
	switch op {
	case "=?":
		return ok("+CGSN: (0-3)")
	case "?":
		return errResult()
	}
	snt := 0
	if op == "=" {
		v, good := singleInt(args, 0, 3)
		if !good {
			return errResult()
		}
		snt = v
	}
	if m.id.IMEI == "" {
		return errResult() // IMEI never written (§2)
	}
	switch snt {
	case 1:
		return ok(`+CGSN: "` + m.id.IMEI + `"`)
	case 2:
		return ok(`+CGSN: "` + m.id.IMEI[:min(14, len(m.id.IMEI))] + softwareVersion + `"`)
	case 3:
		return ok(`+CGSN: "` + softwareVersion + `"`)
	}
	return ok(m.id.IMEI)
}

// softwareVersion is the SVN reported in IMEISV (AT+CGSN=2/3).
const softwareVersion = "01"

var cfunValues = map[int]bool{0: true, 1: true, 4: true, 20: true, 21: true, 30: true, 31: true, 40: true, 41: true, 44: true}

func (m *modem) cmdCFUN(op, args string) result {
	switch op {
	case "?":
		return ok("+CFUN: " + strconv.Itoa(m.cfun))
	case "=?":
		return ok("+CFUN: (0,1,4,20,21,30,31,40,41,44)")
	case "=":
		v, good := singleInt(args, 0, 99)
		if !good || !cfunValues[v] {
			return errResult()
		}
		return result{final: resOK, acts: m.setFun(v)}
	}
	return errResult()
}

// setFun applies a functional mode; used by AT+CFUN and by the application.
// AT+CFUN? reports the value last set.
func (m *modem) setFun(v int) actions {
	lte, gnss, uicc := m.lte, m.gnss, m.uicc
	switch v {
	case 0, 4:
		lte, gnss, uicc = false, false, false
	case 1:
		lte, gnss, uicc = true, true, true
	case 44:
		lte, gnss = false, false
	case 20:
		lte = false
	case 21:
		lte, uicc = true, true
	case 30:
		gnss = false
	case 31:
		gnss = true
	case 40:
		lte, uicc = false, false
	case 41:
		uicc = true
	}
	m.cfun = v
	m.gnss = gnss
	var a actions
	m.setUICC(uicc, &a)
	m.setLTE(lte, &a)
	return a
}

func (m *modem) setUICC(on bool, a *actions) {
	if on == m.uicc {
		return
	}
	m.uicc = on
	m.uiccEpoch++
	if on {
		a.uiccOn = m.uiccEpoch
		return
	}
	if m.uiccReady && m.xsimSub {
		a.urcs = append(a.urcs, "%XSIM: 0")
	}
	m.uiccReady = false
}

func (m *modem) setLTE(on bool, a *actions) {
	if on == m.lte {
		return
	}
	m.lte = on
	m.lteEpoch++
	a.netSig = true
	if on {
		m.attaches++
		m.reg = 2
		a.attach = m.lteEpoch
		a.attachIn = m.attachDuration()
	} else {
		if m.reg == 1 {
			a.delay = detachTime
		}
		m.reg = 0
	}
	if u, sub := m.ceregURC(); sub {
		a.urcs = append(a.urcs, u)
	}
}

// attachDuration is how long the attach started now takes.
func (m *modem) attachDuration() time.Duration {
	if m.attaches <= 1 {
		return firstAttach
	}
	return reattach
}

// attached completes the attach of epoch; false if it is stale.
func (m *modem) attached(epoch int) (urc string, sub, done bool) {
	if !m.lte || epoch != m.lteEpoch || m.reg == 1 {
		return "", false, false
	}
	m.reg = 1
	u, sub := m.ceregURC()
	return u, sub, true
}

// uiccUp completes the UICC power-up of epoch.
func (m *modem) uiccUp(epoch int) (urc string, sub, done bool) {
	if !m.uicc || epoch != m.uiccEpoch || m.uiccReady {
		return "", false, false
	}
	m.uiccReady = true
	return "%XSIM: 1", m.xsimSub, true
}

func (m *modem) ceregFields() string {
	s := strconv.Itoa(m.reg)
	if m.ceregN >= 2 && (m.reg == 1 || m.reg == 2) {
		s += `,"0901","02024720",7`
	}
	if m.ceregN >= 4 && m.reg == 1 {
		s += `,,,"11100000","11100000"`
	}
	return s
}

func (m *modem) ceregURC() (string, bool) {
	if m.ceregN == 0 {
		return "", false
	}
	return "+CEREG: " + m.ceregFields(), true
}

func (m *modem) cmdCEREG(op, args string) result {
	switch op {
	case "?":
		return ok("+CEREG: " + strconv.Itoa(m.ceregN) + "," + m.ceregFields())
	case "=?":
		return ok("+CEREG: (0-5)")
	case "=":
		v, good := singleInt(args, 0, 5)
		if !good {
			return errResult()
		}
		m.ceregN = v
		return ok()
	}
	return errResult()
}

// simCheck is the failure for a SIM read now, or ok=true if the SIM is ready.
func (m *modem) simCheck() (result, bool) {
	switch {
	case !m.uicc:
		return m.cme(cmeSIMOff), false
	case !m.uiccReady:
		return m.cme(cmeSIMBusy), false
	}
	return result{}, true
}

func (m *modem) cmdCIMI(op, args string) result {
	if op != "" {
		return errResult()
	}
	if r, ready := m.simCheck(); !ready {
		return r
	}
	if m.id.IMSI == "" {
		return errResult()
	}
	return ok(m.id.IMSI)
}

func (m *modem) cmdXICCID(op, args string) result {
	if op != "" {
		return errResult()
	}
	if r, ready := m.simCheck(); !ready {
		return r
	}
	if m.id.ICCID == "" {
		return errResult()
	}
	return ok("%XICCID: " + m.id.ICCID)
}

func (m *modem) cmdXSIM(op, args string) result {
	switch op {
	case "?":
		if m.uiccReady {
			return ok("%XSIM: 1")
		}
		return ok("%XSIM: 0")
	case "=?":
		return ok("%XSIM: (0,1)")
	case "=":
		v, good := singleInt(args, 0, 1)
		if !good {
			return errResult()
		}
		m.xsimSub = v == 1
		return ok()
	}
	return errResult()
}

func (m *modem) cmdCPIN(op, args string) result {
	if op != "?" && op != "" {
		return errResult()
	}
	if r, ready := m.simCheck(); !ready {
		return r
	}
	return ok("+CPIN: READY")
}
