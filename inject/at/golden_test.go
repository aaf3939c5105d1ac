package at

import (
	"context"
	"errors"
	"strings"
	"testing"

	"nrfline/inject/at/attest"
)

const (
	bootBanner = "*** Booting nRF Connect SDK v3.1.0-6c6e5b32496e ***\r\n" +
		"*** Using Zephyr OS v4.1.99-1612683d4010 ***\r\n" +
		"The AT host sample started\r\n" +
		"Ready\r\n"
	keyHex    = "000102030405060708090a0b0c0d0e0f"
	keyDigest = "D65DF89F702EEC58CA3C7BF2001C9FFC7CD80553AE01D42A799BA26756142D96"
	idDigest  = "A838F5916244861F5C1ED19CCE8512CDED03214494BEC07302AEAEB61C324042"
	ceregURC  = `+CEREG: 2,"0901","02024720",7`
)

// TestGoldenTranscriptATHost replays modem-at.md §11 from the station's
// side: the bytes the station sends, what each command returns, and the
// transcript observe receives.
func TestGoldenTranscriptATHost(t *testing.T) {
	p := attest.NewPeer(t)
	s, tr := mustOpen(t, p, testConfig(ModeAT))
	cmng := func(typ, sum string) string { return "%CMNG: 100," + typ + `,"` + sum + `"` }
	steps := []step{
		{"AT", attest.OK()},
		{"AT+CMEE?", attest.OK("+CMEE: 0")},
		{"AT+CMEE=1", attest.OK()},
		{"AT+CFUN?", attest.OK("+CFUN: 0")},
		{"AT+CFUN=4", attest.OK()},
		{"AT+CGSN", attest.OK("352656100367872")},
		{"AT+CGMM", attest.OK("nRF9151-LACA")},
		{"AT+CGMR", attest.OK("mfw_nrf91x1_2.0.2")},
		{"AT%HWVERSION", attest.OK("%HWVERSION: nRF9151 LACA A0A")},
		{"AT%XICCID", attest.Err("+CME ERROR: 0")},
		{"AT+CFUN=41", attest.OK()},
		{"AT+CIMI", attest.OK("204080813630037")},
		{"AT%XICCID", attest.OK("%XICCID: 8901234567012345678F")},
		{"AT+CFUN=4", attest.OK()},
		{"AT%CMNG=3,100,3", attest.Err("+CME ERROR: 513")},
		{"AT%CMNG=3,100,4", attest.Err("+CME ERROR: 513")},
		{`AT%CMNG=0,100,4,"urn:imei:352656100367872"`, attest.OK()},
		{`AT%CMNG=0,100,3,"` + keyHex + `"`, attest.OK()},
		{"AT%CMNG=1,100", attest.OK(cmng("3", keyDigest), cmng("4", idDigest))},
		{"AT%CMNG=3,101,3", attest.Err("+CME ERROR: 513")},
		{"AT%CMNG=3,101,4", attest.Err("+CME ERROR: 513")},
		{"AT%CMNG=1,101", attest.OK()},
		{"AT+CFUN=1", attest.Reply{Raw: "OK\r\n" + ceregURC + "\r\n"}},
		{`AT%CMNG=0,100,3,"` + keyHex + `"`, attest.Err("+CME ERROR: 518")},
		{"AT+CFUN=45", attest.Err("ERROR")},
		{"at AT+CGSN", attest.Err("ERROR")},
	}
	serve(p, false, script(t, steps))
	ctx := ctxT(t)
	// the unit boots while the station follows its log, so the banner's
	// place in the transcript is fixed
	boot := func(context.Context) error { p.Write(bootBanner); return nil }
	if err := s.Follow(ctx, boot, func(l LogLine) bool { return l.Text == "Ready" }); err != nil {
		t.Fatalf("follow the boot: %v", err)
	}
	if err := s.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	type want struct {
		lines []string
		err   func(error) bool
	}
	ok := func(lines ...string) want { return want{lines: lines, err: func(e error) bool { return e == nil }} }
	cme := func(code int) want { return want{err: func(e error) bool { return IsCME(e, code) }} }
	plainErr := want{err: func(e error) bool { return errors.Is(e, ErrError) }}
	wants := []want{
		ok("+CMEE: 0"), ok(), ok("+CFUN: 0"), ok(), ok("352656100367872"), ok("nRF9151-LACA"), ok("mfw_nrf91x1_2.0.2"),
		ok("%HWVERSION: nRF9151 LACA A0A"), cme(0), ok(), ok("204080813630037"), ok("%XICCID: 8901234567012345678F"), ok(),
		cme(513), cme(513), ok(), ok(), ok(cmng("3", keyDigest), cmng("4", idDigest)), cme(513), cme(513), ok(), ok(),
		cme(518), plainErr, plainErr,
	}
	for i, st := range steps[1:] {
		var r Response
		var err error
		if strings.Contains(st.cmd, keyHex) {
			r, err = s.CommandSecret(ctx, st.cmd, keyHex)
		} else {
			r, err = s.Command(ctx, st.cmd)
		}
		w := wants[i]
		if !w.err(err) {
			t.Errorf("%s: unexpected error %v", st.cmd, err)
		}
		equalLines(t, st.cmd+" lines", r.Lines, w.lines)
	}
	var sent strings.Builder
	for _, st := range steps {
		sent.WriteString(st.cmd + "\r\n")
	}
	if got := p.Raw(); got != sent.String() {
		t.Errorf("bytes sent:\n got %q\nwant %q", got, sent.String())
	}
	checkGoldenTranscript(t, tr)
}

func checkGoldenTranscript(t *testing.T, tr *transcript) {
	t.Helper()
	red := "<redacted sha256:" + keyDigest + ">"
	want := []string{
		"log: *** Booting nRF Connect SDK v3.1.0-6c6e5b32496e ***",
		"log: *** Using Zephyr OS v4.1.99-1612683d4010 ***",
		"log: The AT host sample started",
		"log: Ready",
		"tx: AT", "rx: OK",
		"tx: AT+CMEE?", "rx: +CMEE: 0", "rx: OK",
		"tx: AT+CMEE=1", "rx: OK",
		"tx: AT+CFUN?", "rx: +CFUN: 0", "rx: OK",
		"tx: AT+CFUN=4", "rx: OK",
		"tx: AT+CGSN", "rx: 352656100367872", "rx: OK",
		"tx: AT+CGMM", "rx: nRF9151-LACA", "rx: OK",
		"tx: AT+CGMR", "rx: mfw_nrf91x1_2.0.2", "rx: OK",
		"tx: AT%HWVERSION", "rx: %HWVERSION: nRF9151 LACA A0A", "rx: OK",
		"tx: AT%XICCID", "rx: +CME ERROR: 0",
		"tx: AT+CFUN=41", "rx: OK",
		"tx: AT+CIMI", "rx: 204080813630037", "rx: OK",
		"tx: AT%XICCID", "rx: %XICCID: 8901234567012345678F", "rx: OK",
		"tx: AT+CFUN=4", "rx: OK",
		"tx: AT%CMNG=3,100,3", "rx: +CME ERROR: 513",
		"tx: AT%CMNG=3,100,4", "rx: +CME ERROR: 513",
		`tx: AT%CMNG=0,100,4,"urn:imei:352656100367872"`, "rx: OK",
		`tx: AT%CMNG=0,100,3,"` + red + `"`, "rx: OK",
		"tx: AT%CMNG=1,100", `rx: %CMNG: 100,3,"` + keyDigest + `"`, `rx: %CMNG: 100,4,"` + idDigest + `"`, "rx: OK",
		"tx: AT%CMNG=3,101,3", "rx: +CME ERROR: 513",
		"tx: AT%CMNG=3,101,4", "rx: +CME ERROR: 513",
		"tx: AT%CMNG=1,101", "rx: OK",
		"tx: AT+CFUN=1", "rx: OK",
		`tx: AT%CMNG=0,100,3,"` + red + `"`, "rx: +CME ERROR: 518",
		"tx: AT+CFUN=45", "rx: ERROR",
		"tx: at AT+CGSN", "rx: ERROR",
	}
	// The URC after AT+CFUN=1 lands before or after the next tx depending on
	// when the reader got it; its place is not part of the contract.
	urc := "log: " + ceregURC
	equalLines(t, "transcript", tr.without(urc), want)
	if n := len(tr.all()) - len(tr.without(urc)); n != 1 {
		t.Errorf("URC observed %d times, want once as a log line", n)
	}
}

// TestGoldenShellExchange is §11's shell-mode exchange: echo (with VT100
// sequences), "\r\r\n" line ends, the extra "\r\n" and the prompt.
func TestGoldenShellExchange(t *testing.T) {
	p := attest.NewPeer(t)
	s, tr := mustOpen(t, p, testConfig(ModeShell))
	go func() {
		l, ok := p.Next(testTimeout)
		if !ok || l != "at 'AT+CGSN'" {
			t.Errorf("station typed %q, want %q", l, "at 'AT+CGSN'")
		}
		p.Write("at 'AT+CGSN'\r\n" + "352656100367872\r\r\nOK\r\r\n\r\n" + attest.PromptBytes)
	}()
	r, err := s.Command(ctxT(t), "AT+CGSN")
	if err != nil {
		t.Fatalf("AT+CGSN: %v", err)
	}
	equalLines(t, "lines", r.Lines, []string{"352656100367872"})
	if got, want := p.Raw(), "at 'AT+CGSN'\r\n"; got != want {
		t.Errorf("sent %q, want %q", got, want)
	}
	equalLines(t, "transcript", tr.all(), []string{"tx: at 'AT+CGSN'", "rx: 352656100367872", "rx: OK"})
}
