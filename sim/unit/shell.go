package unit

import (
	"strconv"
	"strings"
)

// Zephyr shell constants (CONFIG_SHELL_* defaults, modem-at.md §8).
const (
	shellPrompt   = "uart:~$ "
	shellCmdBuf   = 256 // CONFIG_SHELL_CMD_BUFF_SIZE: 255 characters + NUL
	shellArgcMax  = 20  // CONFIG_SHELL_ARGC_MAX
	shellWidth    = 80  // terminal width assumed by the shell
	shellRXBuffer = 64  // serial backend RX ring buffer while a command runs

	vtInfo     = "\x1b[1;32m" // SHELL_INFO (green): the prompt
	vtError    = "\x1b[1;31m" // SHELL_ERROR (red)
	vtModesOff = "\x1b[m"     // back to SHELL_NORMAL
)

// atUsage is the AT shell's usage text (nrf lib/at_shell).
const atUsage = "Usage: at <subcommand>\n" +
	"\n" +
	"Subcommands:\n" +
	"  events_enable     Enable AT event handler which prints AT notifications\n" +
	"  events_disable    Disable AT event handler\n" +
	"\n" +
	"Any other subcommand is interpreted as AT command and sent to the modem.\n"

// promptText is the prompt as the shell prints it, with colours.
func promptText() string { return vtInfo + shellPrompt + vtModesOff }

// crlf turns every LF into CR LF, as the UART shell backend does
// (SHELL_FLAG_OLF_CRLF): a modem line "OK\r\n" goes out as "OK\r\r\n".
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// shellPrint is shell_print(sh, "%s", text): text, then the shell's newline.
func shellPrint(text string) string { return crlf(text + "\n") }

// shellError is z_shell_fprintf(sh, SHELL_ERROR, "%s\n", text).
func shellError(text string) string { return vtError + crlf(text+"\n") + vtModesOff }

// lineEditor is the Zephyr shell's input side: echo, line editing and the
// newline rule. It is pure; the unit prints what it returns.
type lineEditor struct {
	buf    []byte
	lastNL byte // CR or LF that ended the previous line (process_nl)
	esc    int  // 0 none, 1 after ESC, 2 inside a CSI sequence
}

// editResult is what one input byte caused.
type editResult struct {
	echo  string // bytes to print
	enter bool   // Enter pressed: line holds the (untrimmed) command
	line  string
	redo  bool // print prompt and the current line again (Ctrl-C/Ctrl-L)
}

// feed handles one received byte.
func (e *lineEditor) feed(b byte) editResult {
	if e.escape(b) {
		return editResult{}
	}
	if b == '\r' || b == '\n' {
		return e.newline(b)
	}
	e.lastNL = 0
	switch {
	case b == 0x08 || b == 0x7f:
		return e.backspace()
	case b == 0x03: // Ctrl-C: abandon the line
		echo := e.nextLine()
		e.buf = e.buf[:0]
		return editResult{echo: echo, redo: true}
	case b == 0x0c: // Ctrl-L: clear screen, reprint prompt and line
		return editResult{echo: "\x1b[H\x1b[2J", redo: true}
	case b == 0x15: // Ctrl-U: delete the whole line
		echo := cursorLeft(len(e.buf)) + "\x1b[J"
		e.buf = e.buf[:0]
		return editResult{echo: echo}
	case b < 0x20 || b >= 0x7f: // other control bytes; non-ASCII filtered
		return editResult{}
	}
	if len(e.buf) >= shellCmdBuf-1 {
		return editResult{}
	}
	e.buf = append(e.buf, b)
	echo := string(b)
	if e.fullLine() {
		echo += "\r\n"
	}
	return editResult{echo: echo}
}

// escape swallows VT100 input sequences (arrow keys and the like).
func (e *lineEditor) escape(b byte) bool {
	switch e.esc {
	case 1:
		e.esc = 0
		if b == '[' {
			e.esc = 2
		}
		return true
	case 2:
		if b >= 0x40 && b <= 0x7e {
			e.esc = 0
		}
		return true
	}
	if b == 0x1b {
		e.esc = 1
		return true
	}
	return false
}

// newline applies Zephyr's process_nl: CR LF and LF CR are one newline.
func (e *lineEditor) newline(b byte) editResult {
	if e.lastNL != 0 && e.lastNL != b {
		e.lastNL = 0
		return editResult{}
	}
	e.lastNL = b
	if len(e.buf) == 0 {
		return editResult{echo: "\r\n", redo: true}
	}
	line := string(e.buf)
	echo := e.nextLine()
	e.buf = e.buf[:0]
	return editResult{echo: echo, enter: true, line: line}
}

// nextLine moves to a new line unless the echo just wrapped.
func (e *lineEditor) nextLine() string {
	if (len(e.buf)+len(shellPrompt))%shellWidth == 0 {
		return ""
	}
	return "\r\n"
}

func (e *lineEditor) fullLine() bool {
	return (len(e.buf)+len(shellPrompt))%shellWidth == 0
}

func (e *lineEditor) backspace() editResult {
	if len(e.buf) == 0 {
		return editResult{}
	}
	e.buf = e.buf[:len(e.buf)-1]
	return editResult{echo: "\x1b[1D\x1b[J"}
}

func cursorLeft(n int) string {
	if n <= 0 {
		return ""
	}
	return "\x1b[" + strconv.Itoa(n) + "D"
}

// eraseLine is z_shell_cmd_line_erase with the cursor at the end of the
// line: back to column 1 of the prompt's row, then clear to end of screen.
// The shell prints it before a log line or notification, then reprints the
// prompt and the line.
func eraseLine(bufLen int) string {
	pos := bufLen + len(shellPrompt)
	x, y := pos%shellWidth, pos/shellWidth
	s := cursorLeft(x)
	if y > 0 {
		s += "\x1b[" + strconv.Itoa(y) + "A"
	}
	return s + "\x1b[J"
}

// shellArgv splits a command line as Zephyr's z_shell_make_argv does:
// leading/trailing spaces trimmed, arguments split on spaces outside
// quotes, ' and " both quote (and are removed); inside quotes \<quote>,
// \0ooo and \xHH are unescaped and other backslashes kept; outside quotes
// a backslash makes the next character literal. unterminated is the open
// quote character, or 0; tooMany reports more than shellArgcMax arguments.
func shellArgv(line string) (argv []string, unterminated byte, tooMany bool) {
	s := []byte(strings.TrimSpace(line))
	for i := 0; i < len(s); {
		if isSpace(s[i]) {
			i++
			continue
		}
		if len(argv) == shellArgcMax {
			return argv, 0, true
		}
		arg, next, q := makeArg(s, i)
		argv = append(argv, arg)
		i = next
		if q != 0 {
			return argv, q, false
		}
	}
	return argv, 0, false
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// makeArg reads one argument starting at s[i].
func makeArg(s []byte, i int) (string, int, byte) {
	var out []byte
	var quote byte
	for i < len(s) {
		c := s[i]
		if quote == 0 {
			switch {
			case c == '\\':
				if i+1 < len(s) {
					out = append(out, s[i+1])
				}
				i += 2
				continue
			case c == '\'' || c == '"':
				quote = c
				i++
				continue
			case isSpace(c):
				return string(out), i, 0
			}
			out = append(out, c)
			i++
			continue
		}
		if c == quote {
			quote = 0
			i++
			continue
		}
		if c == '\\' {
			if v, n, good := unescape(s[i:], quote); good {
				out = append(out, v)
				i += n
				continue
			}
		}
		out = append(out, c)
		i++
	}
	return string(out), i, quote
}

// unescape decodes \<quote>, \0ooo (up to 3 octal digits) and \xHH (up to
// 2 hex digits) at the start of s; n is the number of bytes consumed.
func unescape(s []byte, quote byte) (v byte, n int, good bool) {
	if len(s) < 2 {
		return 0, 0, false
	}
	switch s[1] {
	case quote:
		return quote, 2, true
	case '0':
		return digits(s, 3, 8)
	case 'x':
		return digits(s, 2, 16)
	}
	return 0, 0, false
}

func digits(s []byte, max, base int) (byte, int, bool) {
	var v byte
	i := 2
	for ; i < 2+max && i < len(s); i++ {
		d, good := digitValue(s[i], base)
		if !good {
			break
		}
		v = v*byte(base) + d
	}
	if i == 2 {
		return 0, 0, false
	}
	return v, i, true
}

func digitValue(c byte, base int) (byte, bool) {
	switch {
	case c >= '0' && c <= '7':
		return c - '0', true
	case c >= '8' && c <= '9' && base == 16:
		return c - '0', true
	case c >= 'a' && c <= 'f' && base == 16:
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F' && base == 16:
		return c - 'A' + 10, true
	}
	return 0, false
}

// unescapeLF is CONFIG_AT_SHELL_UNESCAPE_LF: in commands starting
// AT%CMNG=0 the two characters \ n become CR LF (PEM over the shell).
func unescapeLF(cmd string) string {
	if !strings.HasPrefix(cmd, "AT%CMNG=0") {
		return cmd
	}
	return strings.ReplaceAll(cmd, `\n`, "\r\n")
}
