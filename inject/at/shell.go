package at

import (
	"fmt"
	"strings"
)

// Shell-mode constants (modem-at.md §8).
const (
	shellLineMax = 255      // CONFIG_SHELL_CMD_BUFF_SIZE 256 minus the NUL
	clearLine    = "\f\x15" // Ctrl-L, Ctrl-U: clear the screen and the typed line
)

// ShellLine is the line typed into a Zephyr shell to send cmd through the
// AT shell: the whole command inside single quotes (so the shell neither
// splits it at spaces nor eats its double quotes). Inside single quotes the
// shell unescapes \' , \0ooo and \xHH and keeps other backslashes, so a
// single quote is sent as \' and a backslash as \x5c (a backslash before
// '0', 'x' or 'n' would otherwise change meaning); bytes outside printable
// ASCII are sent as \xHH (the shell filters non-ASCII input).
func ShellLine(cmd string) string {
	var b strings.Builder
	b.WriteString("at '")
	for i := 0; i < len(cmd); i++ {
		c := cmd[i]
		switch {
		case c == '\'':
			b.WriteString(`\'`)
		case c == '\\':
			b.WriteString(`\x5c`)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// shellUnquote is the inverse of ShellLine for the part after "at ": what
// Zephyr's argument parser hands the AT shell. ok is false when line is not
// one single-quoted argument (tests and fuzzing use it to check ShellLine).
func shellUnquote(line string) (cmd string, ok bool) {
	rest, found := strings.CutPrefix(line, "at '")
	if !found || !strings.HasSuffix(rest, "'") || len(rest) < 1 {
		return "", false
	}
	rest = rest[:len(rest)-1]
	var b strings.Builder
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if c == '\'' {
			return "", false // an unescaped quote would end the argument
		}
		if c != '\\' || i+1 >= len(rest) {
			b.WriteByte(c)
			continue
		}
		switch rest[i+1] {
		case '\'':
			b.WriteByte('\'')
			i++
		case 'x':
			v, n := hexByte(rest[i+2:])
			if n == 0 {
				b.WriteByte(c)
				continue
			}
			b.WriteByte(v)
			i += 1 + n
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

// hexByte reads up to two hex digits.
func hexByte(s string) (byte, int) {
	var v byte
	n := 0
	for n < 2 && n < len(s) {
		d, ok := hexDigit(s[n])
		if !ok {
			break
		}
		v = v<<4 | d
		n++
	}
	return v, n
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// echoMatcher strips the shell's echo of the line we typed. The echo comes
// back possibly wrapped at the terminal width (so in several lines) and with
// the prompt in front (removed by the unframer); every line that continues
// the expected text is echo.
type echoMatcher struct {
	rest string // what of the typed line has not been echoed yet
}

// take reports whether line is (the next part of) the echo.
func (m *echoMatcher) take(line string) bool {
	if m.rest == "" || line == "" || !strings.HasPrefix(m.rest, line) {
		return false
	}
	m.rest = m.rest[len(line):]
	return true
}
