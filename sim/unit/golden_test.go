package unit

import (
	"strings"
	"testing"
	"time"
)

const banner = "*** Booting nRF Connect SDK v3.1.0-6c6e5b32496e ***\r\n" +
	"*** Using Zephyr OS v4.1.99-1612683d4010 ***\r\n"

// TestGoldenTranscript replays modem-at.md §11 byte for byte (AT host).
// The one [INFERRED] line, %XICCID with the UICC off, answers
// "+CME ERROR: 0"; the "(~1 s)" UICC wait is instant here (Delay 0).
func TestGoldenTranscript(t *testing.T) {
	u := mustStart(t, testConfig(t))
	c := mustOpen(t, u.Port())
	c.expect(banner + "The AT host sample started\r\nReady\r\n")
	steps := []struct{ at, resp string }{
		{"AT", "OK\r\n"},
		{"AT+CMEE?", "+CMEE: 0\r\nOK\r\n"},
		{"AT+CMEE=1", "OK\r\n"},
		{"AT+CFUN?", "+CFUN: 0\r\nOK\r\n"},
		{"AT+CFUN=4", "OK\r\n"},
		{"AT+CGSN", "352656100367872\r\nOK\r\n"},
		{"AT+CGMM", "nRF9151-LACA\r\nOK\r\n"},
		{"AT+CGMR", "mfw_nrf91x1_2.0.2\r\nOK\r\n"},
		{"AT%HWVERSION", "%HWVERSION: nRF9151 LACA A0A\r\nOK\r\n"},
		{"AT%XICCID", "+CME ERROR: 0\r\n"},
		{"AT+CFUN=41", "OK\r\n"},
		{"AT+CIMI", "204080813630037\r\nOK\r\n"},
		{"AT%XICCID", "%XICCID: 8901234567012345678F\r\nOK\r\n"},
		{"AT+CFUN=4", "OK\r\n"},
		{"AT%CMNG=3,100,3", "+CME ERROR: 513\r\n"},
		{"AT%CMNG=3,100,4", "+CME ERROR: 513\r\n"},
		{`AT%CMNG=0,100,4,"urn:imei:352656100367872"`, "OK\r\n"},
		{`AT%CMNG=0,100,3,"000102030405060708090a0b0c0d0e0f"`, "OK\r\n"},
		{"AT%CMNG=1,100", "%CMNG: 100,3,\"D65DF89F702EEC58CA3C7BF2001C9FFC7CD80553AE01D42A799BA26756142D96\"\r\n" +
			"%CMNG: 100,4,\"A838F5916244861F5C1ED19CCE8512CDED03214494BEC07302AEAEB61C324042\"\r\nOK\r\n"},
		{"AT%CMNG=3,101,3", "+CME ERROR: 513\r\n"},
		{"AT%CMNG=3,101,4", "+CME ERROR: 513\r\n"},
		{"AT%CMNG=1,101", "OK\r\n"},
		// negative cases
		{"AT+CFUN=1", "OK\r\n"},
		{`AT%CMNG=0,100,3,"000102030405060708090a0b0c0d0e0f"`, "+CME ERROR: 518\r\n"},
		{"AT+CFUN=45", "ERROR\r\n"},
		{"at AT+CGSN", "ERROR\r\n"},
	}
	for _, s := range steps {
		c.cmd(s.at, s.resp)
	}
	if got := c.quiet(100 * time.Millisecond); len(got) != 0 {
		t.Errorf("unexpected trailing output %q", got)
	}
}

// TestGoldenShell replays the shell-mode exchange of §11: echo, the modem
// lines with \r\r\n, one extra \r\n, then the prompt. Colours are VT100
// escapes; with them stripped the bytes equal the reference's.
func TestGoldenShell(t *testing.T) {
	cfg := testConfig(t)
	cfg.Shell = true
	u := mustStart(t, cfg)
	c := mustOpen(t, u.Port())
	prompt := "\x1b[1;32muart:~$ \x1b[m"
	c.expect(banner + prompt)
	c.send("at 'AT+CGSN'\r\n")
	want := "at 'AT+CGSN'\r\n352656100367872\r\r\nOK\r\r\n\r\n" + prompt
	c.expect(want)
	if got := stripANSI(want); got != "at 'AT+CGSN'\r\n352656100367872\r\r\nOK\r\r\n\r\nuart:~$ " {
		t.Errorf("stripped exchange %q", got)
	}
}

// TestShellCommands covers the shell's quoting, errors and limits.
func TestShellCommands(t *testing.T) {
	const prompt = "\x1b[1;32muart:~$ \x1b[m"
	long := strings.Repeat("A", 300)
	tests := []struct {
		name, in, out string
	}{
		{"unquoted", "at AT+CGSN\r", "at AT+CGSN\r\n352656100367872\r\r\nOK\r\r\n\r\n"},
		{"bare AT", "at AT\r", "at AT\r\nOK\r\r\n\r\n"},
		{"LF only", "at AT\n", "at AT\r\nOK\r\r\n\r\n"},
		{"modem error", "at AT+CFUN=45\r", "at AT+CFUN=45\r\nERROR\r\r\n\r\n"},
		{"cme error", "at 'AT%CMNG=3,100,3'\r", "at 'AT%CMNG=3,100,3'\r\nERROR\r\r\n\r\n"},
		{"read query", "at 'AT+CFUN?'\r", "at 'AT+CFUN?'\r\n+CFUN: 0\r\r\nOK\r\r\n\r\n"},
		{"double quotes lost unquoted", `at AT%CMNG=0,1,0,"x y"` + "\r", `at AT%CMNG=0,1,0,"x y"` + "\r\nERROR\r\r\n\r\n"},
		{"unknown command", "foo bar\r", "foo bar\r\n\x1b[1;31mfoo: command not found\r\n\x1b[m"},
		{"usage", "at\r", "at\r\n" + crlf(atUsage) + "\r\n"},
		{"unterminated", "at 'AT\r", "at 'AT\r\n\x1b[1;31mnot terminated: '\r\n\x1b[m"},
		{"empty line", "\r", "\r\n"},
		{"non-ASCII filtered", "at \xc3\xa9AT\r", "at AT\r\nOK\r\r\n\r\n"},
		{"backspace", "at ATX\x7f\r", "at ATX\x1b[1D\x1b[J\r\nOK\r\r\n\r\n"},
		{"hex escape in quotes", `at 'AT\x2bCGMM'` + "\r", `at 'AT\x2bCGMM'` + "\r\nnRF9151-LACA\r\r\nOK\r\r\n\r\n"},
		{"events", "at events_enable\r", "at events_enable\r\nAT command event handler enabled\r\n"},
		{"line limit", "at " + long + "\r", "at " + echoWrapped("at "+long[:252]) + "\r\nERROR\r\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Shell = true
			u := mustStart(t, cfg)
			c := mustOpen(t, u.Port())
			c.expect(banner + prompt)
			c.send(tt.in)
			c.expect(tt.out + prompt)
		})
	}
}

// echoWrapped is the echo of s typed after the prompt: the shell breaks
// the line whenever prompt + input fills 80 columns. The leading "at " of
// s is left out (the caller writes it).
func echoWrapped(s string) string {
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if i >= 3 {
			sb.WriteByte(s[i])
		}
		if (i+1+len(shellPrompt))%shellWidth == 0 {
			sb.WriteString("\r\n")
		}
	}
	return sb.String()
}
