package at

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func tokens(chunks ...string) []string {
	var u unframer
	var out []string
	for _, c := range chunks {
		u.feed([]byte(c), time.Time{}, func(t token) {
			switch t.kind {
			case tokPrompt:
				out = append(out, "prompt:"+t.text)
			case tokJunk:
				out = append(out, "junk")
			default:
				out = append(out, "line:"+t.text)
			}
		})
	}
	return out
}

func TestUnframer(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []string
		want []string
	}{
		{"at host", []string{"352656100367872\r\nOK\r\n"}, []string{"line:352656100367872", "line:OK"}},
		{"split anywhere", []string{"3526561003", "67872\r", "\nO", "K\r\n"}, []string{"line:352656100367872", "line:OK"}},
		{"shell line ends", []string{"OK\r\r\n\r\n"}, []string{"line:OK", "line:"}},
		{"prompt alone", []string{attestPrompt}, []string{"prompt:uart:~$ "}},
		{"prompt then echo", []string{attestPrompt + "at 'AT'\r\n"}, []string{"prompt:uart:~$ ", "line:at 'AT'"}},
		{"mosh prompt", []string{"mosh:~$ "}, []string{"prompt:mosh:~$ "}},
		{"prompt-like text mid-line", []string{"total cost:~$ 5\r\n"}, []string{"line:total cost:~$ 5"}},
		{"coloured log line", []string{"[00:00:05.123,456] \x1b[1;31m<err> net_lwm2m_rd_client: Failed\x1b[0m\r\n"},
			[]string{"line:[00:00:05.123,456] <err> net_lwm2m_rd_client: Failed"}},
		{"erase before log", []string{"\x1b[8D\x1b[J[00:00:01.000,000] <inf> app: x\r\n"}, []string{"line:[00:00:01.000,000] <inf> app: x"}},
		{"clear screen then prompt", []string{"\x1b[H\x1b[2J" + attestPrompt}, []string{"prompt:uart:~$ "}},
		{"junk", []string{"\x8f\xa3\xfe\r\n"}, []string{"junk"}},
		{"control bytes are junk", []string{"OK\x07\r\n"}, []string{"junk"}},
		{"utf8 text", []string{"Grüße\r\n"}, []string{"line:Grüße"}},
		{"no newline yet", []string{"OK"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			equalLines(t, "tokens", tokens(tc.in...), tc.want)
		})
	}
}

const attestPrompt = "\x1b[1;32muart:~$ \x1b[m"

func TestUnframerLongJunk(t *testing.T) {
	var u unframer
	n, raw := 0, 0
	u.feed([]byte(strings.Repeat("\xff", 3*maxPending)), time.Time{}, func(t token) {
		if t.kind == tokJunk {
			n++
			raw += t.raw
		}
	})
	if n != 3 || raw != 3*maxPending {
		t.Errorf("endless junk: %d tokens of %d bytes, want 3 of %d", n, raw, 3*maxPending)
	}
}

func TestStripANSI(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                        "plain",
		"\x1b[1;32muart:~$ \x1b[m":     "uart:~$ ",
		"a\x1b[0mb":                    "ab",
		"\x1b[8D\x1b[Jx":               "x",
		"x\x1b[":                       "x",
		"x\x1b":                        "x",
		"\x1b7saved\x1b8":              "saved",
		"\x1b[?25l\x1b[1 qtext\x1b[1K": "text",
	} {
		if got := StripANSI(in); got != want {
			t.Errorf("StripANSI(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestClassifyLine(t *testing.T) {
	for _, tc := range []struct {
		cmd   string
		lines []string
		want  []lineKind
	}{
		{"AT+CGSN", []string{"+CEREG: 1", "352656100367872", "OK"}, []lineKind{kindOther, kindResponse, kindFinal}},
		{"AT+CGSN", []string{"352656100367872", "352656100367873"}, []lineKind{kindResponse, kindOther}},
		{"AT+CGSN=1", []string{`+CGSN: "352656100367872"`, "352656100367872"}, []lineKind{kindResponse, kindOther}},
		{"AT+CIMI", []string{"204080813630037", "ERROR"}, []lineKind{kindResponse, kindFinal}},
		{"AT+CGMI", []string{"Ready", "Nordic Semiconductor ASA", "second"}, []lineKind{kindOther, kindResponse, kindOther}},
		{"AT+CGMR", []string{"[00:00:01.000,000] <inf> app: x", "mfw_nrf91x1_2.0.2"}, []lineKind{kindOther, kindResponse}},
		{"AT%CMNG=1", []string{`%CMNG: 1,0,"AB"`, "+CSCON: 1", `%CMNG: 2,0,"CD"`, "+CME ERROR: 513"}, []lineKind{kindResponse, kindOther, kindResponse, kindFinal}},
		{"AT%CMNG=2,1,0", []string{`%CMNG: 1,0,"AB","-----BEGIN`, "OK", `-----END"`, "OK"}, []lineKind{kindResponse, kindResponse, kindResponse, kindFinal}},
		{"AT", []string{"OKAY", " OK", "OK "}, []lineKind{kindOther, kindOther, kindOther}},
		{"AT+CFUN?", []string{"+CFUN: 4", "+CMS ERROR: 1"}, []lineKind{kindResponse, kindFinal}},
		{"AT+CFUN?", []string{"%XSIM: 1", "+CFUNX: 1"}, []lineKind{kindOther, kindOther}},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			e, st := expectFor(tc.cmd), respState{}
			for i, l := range tc.lines {
				if got := classifyLine(e, &st, l); got != tc.want[i] {
					t.Errorf("%q: %s, want %s", l, got, tc.want[i])
				}
			}
		})
	}
}

func TestShellLine(t *testing.T) {
	for cmd, want := range map[string]string{
		"AT+CGSN":                              `at 'AT+CGSN'`,
		`AT%CMNG=0,100,4,"urn:imei:1 2"`:       `at 'AT%CMNG=0,100,4,"urn:imei:1 2"'`,
		`AT%XSIM?`:                             `at 'AT%XSIM?'`,
		`AT+X="it's"`:                          `at 'AT+X="it\'s"'`,
		`AT+X="a\nb\0c\xd"`:                    `at 'AT+X="a\x5cnb\x5c0c\x5cxd"'`,
		"AT+X=\"\r\n\"":                        `at 'AT+X="\x0d\x0a"'`,
		"AT%CMNG=0,100,3,\"00ff\"\x7f\xc3\xbc": `at 'AT%CMNG=0,100,3,"00ff"\x7f\xc3\xbc'`,
	} {
		got := ShellLine(cmd)
		if got != want {
			t.Errorf("ShellLine(%q) = %s, want %s", cmd, got, want)
		}
		if back, ok := shellUnquote(got); !ok || back != cmd {
			t.Errorf("shellUnquote(%s) = %q, %v; want %q", got, back, ok, cmd)
		}
	}
}

// FuzzLineParser: the response/URC classifier never panics, finds a final
// result only in a whole final line, and keeps its contract with
// finalError.
func FuzzLineParser(f *testing.F) {
	for _, s := range [][2]string{
		{"AT+CGSN", "352656100367872"}, {"AT%CMNG=1,100", `%CMNG: 100,3,"D65D"`}, {"AT", "OK"}, {"AT", "ERROR"},
		{"AT+CGMR", "mfw_nrf91x1_2.0.2"}, {"AT%CMNG=0,1,0,\"x\"", "+CME ERROR: 518"}, {"AT", "+CMS ERROR: 5"},
		{"AT+CGMI", "MIIBOKxx"}, {"AT%CMNG=2,1,0", `%CMNG: 1,0,"A","-----BEGIN`}, {"AT+CFUN?", "+CEREG: 2,\"0901\""},
		{"AT", "Sending AT command failed with error code -8"}, {"at 'AT'", "OK\x00"},
	} {
		f.Add(s[0], s[1], "OK", false)
	}
	f.Fuzz(func(t *testing.T, cmd, line, next string, shell bool) {
		e := expectFor(cmd)
		st := respState{shell: shell}
		k := classifyLine(e, &st, line)
		final := line == "OK" || line == "ERROR" || strings.HasPrefix(line, "+CME ERROR: ") ||
			strings.HasPrefix(line, "+CMS ERROR: ") || (shell && strings.HasPrefix(line, shellFailPrefix))
		if (k == kindFinal) != final {
			t.Fatalf("classifyLine(%q, %q) = %s, whole-line final rule says %v", cmd, line, k, final)
		}
		if k == kindFinal && (finalError(line) == nil) != (line == "OK") {
			t.Fatalf("finalError(%q) = %v", line, finalError(line))
		}
		if k == kindResponse && e.prefix != "" && !strings.HasPrefix(line, e.prefix) && !e.digits && !e.text {
			t.Fatalf("%q answers %q without its prefix %q", line, cmd, e.prefix)
		}
		// after a line that opened a quote, the next line is content
		if st.inQuote && classifyLine(e, &st, next) != kindResponse {
			t.Fatalf("line %q inside quotes not content", next)
		}
		if strings.Contains(line, "OK") && line != "OK" && k == kindFinal && !strings.HasPrefix(line, "+C") && !strings.HasPrefix(line, "Sending") {
			t.Fatalf("substring OK taken as final: %q", line)
		}
	})
}

// FuzzShellUnframer: whatever the device sends and however the reads cut
// it, the unframer gives the same tokens, text lines are clean (no ANSI,
// CR, LF, control bytes), prompts are prompts, and no byte is counted twice.
func FuzzShellUnframer(f *testing.F) {
	for _, s := range []string{
		"\f\x15" + attestPrompt + "at 'AT+CGSN'\r\n352656100367872\r\r\nOK\r\r\n\r\n" + attestPrompt,
		"\x1b[8D\x1b[J[00:00:01.000,000] \x1b[1;31m<err> app: x\x1b[0m\r\n" + attestPrompt + "at 'AT",
		"uart:~$ at 'AT%CMNG=0,100,3,\"000102030405060708090a0b0c0d0e0f\"'\r\nOK\r\r\n",
		"\x8f\xa3\xfe\r\n\x9a\x1b[",
		"mosh:~$ ",
	} {
		f.Add([]byte(s), uint8(7))
	}
	f.Fuzz(func(t *testing.T, in []byte, cut uint8) {
		var whole []token
		var u1 unframer
		u1.feed(in, time.Time{}, func(t token) { whole = append(whole, t) })
		var parts []token
		var u2 unframer
		for c := range chunks(in, int(cut)+1) {
			u2.feed(c, time.Time{}, func(t token) { parts = append(parts, t) })
		}
		if fmt.Sprint(whole) != fmt.Sprint(parts) {
			t.Fatalf("chunking changed the tokens:\n%v\n%v", whole, parts)
		}
		raw := 0
		for _, tk := range whole {
			raw += tk.raw
			switch tk.kind {
			case tokLine:
				if strings.ContainsAny(tk.text, "\x1b\r\n") || !isText(tk.text) || !utf8.ValidString(tk.text) {
					t.Fatalf("unclean line %q", tk.text)
				}
			case tokPrompt:
				if !isPrompt(tk.text) {
					t.Fatalf("prompt token %q", tk.text)
				}
			}
		}
		if raw > len(in) {
			t.Fatalf("%d bytes counted from %d", raw, len(in))
		}
	})
}

// chunks cuts b into pieces of n bytes.
func chunks(b []byte, n int) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(b) > 0 {
			k := min(n, len(b))
			if !yield(b[:k]) {
				return
			}
			b = b[k:]
		}
	}
}

// FuzzShellLine: whatever the command, the shell hands the AT shell
// exactly that command back.
func FuzzShellLine(f *testing.F) {
	for _, s := range []string{"AT+CGSN", `AT%CMNG=0,1,0,"a b\n'c'"`, "AT\\x41\\0", "\x00\xff'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cmd string) {
		line := ShellLine(cmd)
		back, ok := shellUnquote(line)
		if !ok || back != cmd {
			t.Fatalf("ShellLine(%q) = %s, unquotes to %q, %v", cmd, line, back, ok)
		}
		for i := 0; i < len(line); i++ {
			if line[i] < 0x20 || line[i] >= 0x7f {
				t.Fatalf("ShellLine(%q) holds byte %#x", cmd, line[i])
			}
		}
	})
}
