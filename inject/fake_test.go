package inject

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"nrfline/inject/at/attest"
	"nrfline/station"
)

// fakeNRF is a small nRF9151 modem for the tests: the commands Identify and
// Provision use, with the reference's answers (modem-at.md §2–§6) and
// switches for the failure shapes. It is the device end of a real pty.
type fakeNRF struct {
	mu sync.Mutex

	imei, fw, model, hw, uuid, iccid, imsi string

	cmee      int
	cfun      int
	simPolls  int           // %XSIM? answers "0" (a SIM read is refused) this many times before "1"
	simCause  int           // %XSIM: 0,<cause> for ever
	xsimSub   bool          // AT%XSIM=1 was sent
	noXSIMSub bool          // AT%XSIM=1 answers ERROR (an older modem firmware)
	simURC    time.Duration // with xsimSub: AT+CFUN=41 makes the SIM ready this long later and sends "%XSIM: 1"
	urcAfter  bool          // with xsimSub: the SIM gets ready right after the first AT%XSIM? answer, "%XSIM: 1" follows it
	urc       func(string)  // writes an unsolicited line to the station
	store     map[[2]uint64]string
	digest    func(typ int, content string) string
	writeFail map[int]string          // type → final result of a write
	delFail   string                  // final result of every delete
	noDelete  bool                    // deletes answer OK but keep the credential
	goOnline  bool                    // the first write finds the modem online again (the firmware turned LTE on)
	fail      map[string]string       // command → final result
	replies   map[string]attest.Reply // command → whole answer
}

func newFakeNRF() *fakeNRF {
	return &fakeNRF{
		imei: "352656100367872", fw: "mfw_nrf91x1_2.0.2", model: "nRF9151-LACA", hw: "nRF9151 LACA A0A",
		uuid: "25c95751-efa4-40d4-8b4a-1dcaab81fac9", iccid: "8901234567012345678F", imsi: "204080813630037",
		store:   map[[2]uint64]string{},
		digest:  func(_ int, c string) string { return station.HexDigest(c) },
		fail:    map[string]string{},
		replies: map[string]attest.Reply{},
	}
}

func (f *fakeNRF) handle(cmd string) attest.Reply {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r, ok := f.fail[cmd]; ok {
		return f.final(r)
	}
	if r, ok := f.replies[cmd]; ok {
		return r
	}
	switch cmd {
	case "AT":
		return attest.OK()
	case "AT+CMEE=1":
		f.cmee = 1
		return attest.OK()
	case "AT+CGSN":
		return attest.OK(f.imei)
	case "AT+CGMR":
		return attest.OK(f.fw)
	case "AT+CGMM":
		return attest.OK(f.model)
	case "AT+CGMI":
		return attest.OK("Nordic Semiconductor ASA")
	case "AT%HWVERSION":
		return attest.OK("%HWVERSION: " + f.hw)
	case "AT%XMODEMUUID":
		return attest.OK("%XMODEMUUID: " + f.uuid)
	case "AT%XSIM?":
		r := f.xsim()
		if f.urcAfter && f.xsimSub {
			f.urcAfter = false
			r.After = f.simReady
		}
		return r
	case "AT%XSIM=1":
		if f.noXSIMSub {
			return attest.Err("ERROR")
		}
		f.xsimSub = true
		return attest.OK()
	case "AT%XICCID":
		return f.simRead("%XICCID: " + f.iccid)
	case "AT+CIMI":
		return f.simRead(f.imsi)
	}
	if v, ok := strings.CutPrefix(cmd, "AT+CFUN="); ok {
		f.cfun, _ = strconv.Atoi(v)
		r := attest.OK()
		if f.cfun == 41 && f.xsimSub && f.simURC > 0 {
			r.After = func() { time.AfterFunc(f.simURC, f.simReady) }
		}
		return r
	}
	if args, ok := strings.CutPrefix(cmd, "AT%CMNG="); ok {
		return f.cmng(args)
	}
	return attest.Err("ERROR")
}

func (f *fakeNRF) final(r string) attest.Reply {
	if f.cmee == 0 && strings.HasPrefix(r, "+CME") {
		r = "ERROR"
	}
	return attest.Err(r)
}

func (f *fakeNRF) xsim() attest.Reply {
	switch {
	case f.simCause != 0:
		return attest.OK(fmt.Sprintf("%%XSIM: 0,%d", f.simCause))
	case f.cfun != 41 && f.cfun != 1:
		return attest.OK("%XSIM: 0")
	case f.simPolls > 0:
		f.simPolls--
		return attest.OK("%XSIM: 0")
	}
	return attest.OK("%XSIM: 1")
}

// simReady is the UICC finishing its power-up: polls now find it ready,
// and the subscribed station is told.
func (f *fakeNRF) simReady() {
	f.mu.Lock()
	f.simPolls = 0
	f.mu.Unlock()
	f.urc("%XSIM: 1")
}

// simRead answers a SIM read: refused while the UICC is off or not yet
// initialised (modem-at.md §11, inferred there).
func (f *fakeNRF) simRead(line string) attest.Reply {
	switch {
	case f.cfun != 41 && f.cfun != 1, f.simCause != 0:
		return f.final("+CME ERROR: 0")
	case f.simPolls > 0:
		f.simPolls--
		return f.final("+CME ERROR: 0")
	}
	return attest.OK(line)
}

// cmng implements %CMNG list (1), write (0) and delete (3).
func (f *fakeNRF) cmng(args string) attest.Reply {
	p := strings.SplitN(args, ",", 4)
	op := p[0]
	tag, _ := strconv.ParseUint(p[1], 10, 32)
	if op == "1" {
		var lines []string
		for _, typ := range []int{0, 1, 2, 3, 4} {
			if c, ok := f.store[[2]uint64{tag, uint64(typ)}]; ok {
				lines = append(lines, fmt.Sprintf(`%%CMNG: %d,%d,"%s"`, tag, typ, f.digest(typ, c)))
			}
		}
		return attest.OK(lines...)
	}
	typ, _ := strconv.Atoi(p[2])
	key := [2]uint64{tag, uint64(typ)}
	switch op {
	case "0":
		if r, ok := f.writeFail[typ]; ok {
			return f.final(r)
		}
		if f.goOnline {
			f.goOnline, f.cfun = false, 1 // the unit's firmware turns LTE on
		}
		if f.cfun == 1 {
			return f.final("+CME ERROR: 518")
		}
		f.store[key] = strings.Trim(p[3], `"`)
		return attest.OK()
	case "3":
		if f.delFail != "" {
			return f.final(f.delFail)
		}
		if _, ok := f.store[key]; !ok {
			return f.final("+CME ERROR: 513")
		}
		if !f.noDelete {
			delete(f.store, key)
		}
		return attest.OK()
	}
	return attest.Err("ERROR")
}

// rig is a Modem on a pty with a fakeNRF behind it.
type rig struct {
	m    *Modem
	fake *fakeNRF
	peer *attest.Peer
	obs  *observed
	logs *bytes.Buffer
}

type observed struct {
	mu    sync.Mutex
	lines []string
}

func (o *observed) add(dir, line string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lines = append(o.lines, dir+": "+line)
}

func (o *observed) has(line string) bool {
	for _, l := range o.all() {
		if l == line {
			return true
		}
	}
	return false
}

func (o *observed) all() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.lines...)
}

func modemConfig(mode string) station.ModemConfig {
	return station.ModemConfig{Mode: mode, Baud: 115200,
		CommandTimeout: station.Duration{Duration: 5 * time.Second},
		ReadyTimeout:   station.Duration{Duration: 10 * time.Second}}
}

// newRig opens a Modem through Opener on a fresh pty; shell picks the
// device's dialect, mode the station's setting.
func newRig(tb testing.TB, shell bool, mode string, tweak func(*fakeNRF)) *rig {
	tb.Helper()
	p := attest.NewPeer(tb)
	f := newFakeNRF()
	if tweak != nil {
		tweak(f)
	}
	f.urc = func(line string) { p.Write(line + "\r\n") }
	d := &attest.Device{Peer: p, Shell: shell, Handle: f.handle}
	go d.Serve()
	obs := &observed{}
	logs := &bytes.Buffer{}
	logger := slog.New(slog.NewTextHandler(&syncWriter{w: logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sm, err := Opener(modemConfig(mode), logger)(context.Background(), p.Path, obs.add)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	m := sm.(*Modem)
	m.simPoll, m.simWait = 20*time.Millisecond, 300*time.Millisecond
	tb.Cleanup(func() { m.Close() })
	return &rig{m: m, fake: f, peer: p, obs: obs, logs: logs}
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

func ctxT(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

func testKey() station.PSK {
	return station.PSKFromBytes([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
}

func testPlan() station.CredentialPlan {
	return station.CredentialPlan{BootstrapTag: 100, Identity: "urn:imei:352656100367872", Key: testKey(),
		ServerTag: 101, ClearServerTag: true}
}
