package unit

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func frame(in string) []string {
	var f framer
	var out []string
	for i := 0; i < len(in); i++ {
		if cmd, done := f.feed(in[i]); done {
			out = append(out, cmd)
		}
	}
	return out
}

func TestFramer(t *testing.T) {
	long := "AT" + strings.Repeat("X", 5000)
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"CR", "AT\r", []string{"AT"}},
		{"LF", "AT\n", []string{"AT"}},
		{"CRLF is one command", "AT\r\n", []string{"AT"}},
		{"blank lines dropped", "\r\n\r\n  \r\n\t\nAT\r\n", []string{"AT"}},
		{"no terminator yet", "AT", nil},
		{"CRLF inside quotes kept", "AT%CMNG=0,1,0,\"a\r\nb\r\n\"\r\n", []string{"AT%CMNG=0,1,0,\"a\r\nb\r\n\""}},
		{"backspace", "ATX\x08\r", []string{"AT"}},
		{"DEL", "ATXY\x7f\x7f\r", []string{"AT"}},
		{"backspace on empty", "\x08\x08AT\r", []string{"AT"}},
		{"backspace inside quotes", "AT+X=\"ab\x08\"\r", []string{"AT+X=\"a\""}},
		{"deleting a quote keeps quote state", "AT+X=\"\x08\r\"\r", []string{"AT+X=\r\""}},
		{"NUL outside quotes dropped", "A\x00T\r", []string{"AT"}},
		{"NUL inside quotes kept", "AT+X=\"\x00\"\r", []string{"AT+X=\"\x00\""}},
		{"overflow truncates", long + "\r", []string{long[:atBufSize-1]}},
		{"two commands", "AT\rAT+CGMM\r", []string{"AT", "AT+CGMM"}},
		{"only control bytes", "\x01\x02\r", nil},
		{"non-ASCII only", "\xc3\xa9\r", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := frame(tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("frame(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestFramingOverPTY checks the same rules end to end, plus RX being
// disabled while a command executes: bytes after a terminator that arrive
// together with it are lost.
func TestFramingOverPTY(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"CR", "AT\r", "OK\r\n"},
		{"LF", "AT\n", "OK\r\n"},
		{"CRLF", "AT\r\n", "OK\r\n"},
		{"blank lines silent", "\r\n\r\n\n\rAT\r\n", "OK\r\n"},
		{"backspace", "AT+CGMMX\x08\r\n", "nRF9151-LACA\r\nOK\r\n"},
		{"pipelined command dropped", "AT+CGMM\r\nAT+CGMR\r\n", "nRF9151-LACA\r\nOK\r\n"},
		{"overflow", "AT" + strings.Repeat("A", 5000) + "\r\n", "ERROR\r\n"},
		{"quoted CRLF", "AT%CMNG=0,200,0,\"l1\r\nl2\r\n\"\r\n", "OK\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := mustStart(t, testConfig(t))
			c := mustOpen(t, u.Port())
			c.expect(banner + "The AT host sample started\r\nReady\r\n")
			c.send(tt.in)
			c.expect(tt.want)
			c.cmd("AT", "OK\r\n") // the console still works afterwards
		})
	}
}

// TestQuotedContentRoundTrip writes a PEM-like credential with CRLF inside
// the quotes and reads it back exactly; the digest covers those bytes.
func TestQuotedContentRoundTrip(t *testing.T) {
	u := mustStart(t, testConfig(t))
	c := mustOpen(t, u.Port())
	c.expect(banner + "The AT host sample started\r\nReady\r\n")
	pem := "-----BEGIN CERTIFICATE-----\r\nMIIF\r\n-----END CERTIFICATE-----\r\n"
	c.cmd(`AT%CMNG=0,64738,0,"`+pem+`"`, "OK\r\n")
	sha := hexDigest(pem)
	c.cmd("AT%CMNG=1,64738", `%CMNG: 64738,0,"`+sha+"\"\r\nOK\r\n")
	c.cmd("AT%CMNG=2,64738,0", `%CMNG: 64738,0,"`+sha+`","`+pem+"\"\r\nOK\r\n")
}

func FuzzFramer(f *testing.F) {
	for _, s := range []string{"AT\r\n", "\"\r\n\"\r", "\x08\x7f\x00", "AT%CMNG=0,1,0,\"a\r\nb\"\n", strings.Repeat("A", 5000) + "\r"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var fr framer
		for _, b := range in {
			cmd, done := fr.feed(b)
			if !done {
				continue
			}
			if len(cmd) > atBufSize-1 {
				t.Fatalf("command of %d bytes exceeds the buffer", len(cmd))
			}
			if !hasPrintable(cmd) {
				t.Fatalf("blank command %q dispatched", cmd)
			}
		}
	})
}

// FuzzModemExec feeds arbitrary command lines to the modem: it never
// panics and always ends with exactly one valid final result.
func FuzzModemExec(f *testing.F) {
	for _, s := range []string{"AT", "AT+CGSN=1", "AT%CMNG=0,100,3,\"00\"", "AT%CMNG=1", "AT%CMNG=2,4294967293,10",
		"AT+CFUN=41", "AT+CEREG=5", "AT%CMNG=0,1,2,\"k\",\"pw\"", "AT+CMEE=1", "AT%XSIM?", "AT%CMNG=1,,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cmd string) {
		m := newModem(identity{IMEI: testIMEI, IMSI: testIMSI, ICCID: testICCID, ModemFW: DefaultModemFW}, newCredStore(nil), false)
		for _, c := range []string{cmd, "AT+CMEE=1", "AT+CFUN=1", cmd, "AT+CFUN=4", cmd} {
			r := m.exec(c)
			if r.final != resOK && r.final != resError && !strings.HasPrefix(r.final, "+CME ERROR: ") {
				t.Fatalf("exec(%q) final %q", c, r.final)
			}
			if r.final != resOK && len(r.lines) > 0 {
				t.Fatalf("exec(%q) failed with information lines %q", c, r.lines)
			}
		}
	})
}

// FuzzShellArgv: the shell's argument parser never panics, never returns
// more than 20 arguments, and never longer output than input.
func FuzzShellArgv(f *testing.F) {
	for _, s := range []string{`at 'AT+CGSN'`, `at "a\"b"`, `a\ b 'c\x41\0101'`, `'unterminated`, `\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		argv, _, _ := shellArgv(line)
		if len(argv) > shellArgcMax {
			t.Fatalf("%d arguments", len(argv))
		}
		n := 0
		for _, a := range argv {
			n += len(a)
		}
		if n > len(line) {
			t.Fatalf("arguments (%d bytes) longer than the line (%d)", n, len(line))
		}
		var e lineEditor
		for i := 0; i < len(line); i++ {
			r := e.feed(line[i])
			if r.enter && (len(r.line) >= shellCmdBuf || !utf8.ValidString(r.line)) {
				t.Fatalf("line %q", r.line)
			}
		}
	})
}

func TestShellArgv(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		open    byte
		tooMany bool
	}{
		{`at 'AT+CFUN=4'`, []string{"at", "AT+CFUN=4"}, 0, false},
		{`  at   AT  `, []string{"at", "AT"}, 0, false},
		{`at AT%CMNG=0,1,0,"x y"`, []string{"at", "AT%CMNG=0,1,0,x y"}, 0, false},
		{`at 'AT%CMNG=0,100,4,"urn:imei:1"'`, []string{"at", `AT%CMNG=0,100,4,"urn:imei:1"`}, 0, false},
		{`at 'it\'s'`, []string{"at", "it's"}, 0, false},
		{`at "a\"b"`, []string{"at", `a"b`}, 0, false},
		{`at 'a\"b'`, []string{"at", `a\"b`}, 0, false},
		{`at 'a\nb'`, []string{"at", `a\nb`}, 0, false},
		{`at '\x41\x4a\0101'`, []string{"at", "AJA"}, 0, false},
		{`at a\ b`, []string{"at", "a b"}, 0, false},
		{`at 'open`, []string{"at", "open"}, '\'', false},
		{strings.Repeat("a ", 21), slices.Repeat([]string{"a"}, 20), 0, true},
	}
	for _, tt := range tests {
		argv, open, tooMany := shellArgv(tt.in)
		if !slices.Equal(argv, tt.want) || open != tt.open || tooMany != tt.tooMany {
			t.Errorf("shellArgv(%q) = %q, %q, %v; want %q, %q, %v", tt.in, argv, open, tooMany, tt.want, tt.open, tt.tooMany)
		}
	}
}
