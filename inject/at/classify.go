package at

import (
	"strconv"
	"strings"
)

// expect describes which lines answer a command (modem-at.md §1, §7):
// lines starting with its own prefix ("+CFUN:", "%CMNG:"), bare digits for
// AT+CGSN and AT+CIMI, one bare text line for AT+CGMI/CGMM/CGMR. Anything
// else that arrives while the command runs is unsolicited (URC, log line,
// banner) and goes to the log.
type expect struct {
	prefix string // "+NAME:" / "%NAME:", "" for plain AT
	digits bool   // one line of bare digits
	text   bool   // one bare text line
}

// expectFor derives what answers cmd.
func expectFor(cmd string) expect {
	name, form := commandName(cmd)
	if name == "" {
		return expect{}
	}
	e := expect{prefix: name + ":"}
	if form != "" {
		return e
	}
	switch name {
	case "+CGSN", "+CIMI":
		e.digits = true
	case "+CGMI", "+CGMM", "+CGMR":
		e.text = true
	}
	return e
}

// commandName splits "AT+CGSN=1" into "+CGSN" and "=1".
func commandName(cmd string) (name, form string) {
	if len(cmd) < 4 || !strings.EqualFold(cmd[:2], "AT") || (cmd[2] != '+' && cmd[2] != '%') {
		return "", ""
	}
	i := 3
	for i < len(cmd) && isNameByte(cmd[i]) {
		i++
	}
	if i == 3 {
		return "", ""
	}
	return strings.ToUpper(cmd[2:i]), cmd[i:]
}

func isNameByte(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
}

// lineKind is what a line means to the pending command.
type lineKind int

const (
	kindOther    lineKind = iota // unsolicited: URC, log line, banner
	kindResponse                 // information text of the command
	kindFinal                    // the final result
)

func (k lineKind) String() string {
	switch k {
	case kindResponse:
		return "response"
	case kindFinal:
		return "final"
	}
	return "other"
}

// respState is what classifyLine needs to remember between lines.
type respState struct {
	inQuote bool // a response line opened a "…" that has not closed yet
	bare    bool // the one bare (digits/text) line has been taken
	shell   bool // the AT shell's failure line is a final result too
}

// classifyLine decides what line is to a command expecting e, and updates
// st. Final results are matched by whole line (OK, ERROR) or prefix
// (+CME ERROR: , +CMS ERROR: ), never by substring (modem-at.md §1, §12.7);
// inside a quoted response that spans lines everything is content.
func classifyLine(e expect, st *respState, line string) lineKind {
	if st.inQuote {
		st.inQuote = strings.Count(line, `"`)%2 == 0
		return kindResponse
	}
	if isFinal(line, st.shell) {
		return kindFinal
	}
	switch {
	case e.prefix != "" && strings.HasPrefix(line, e.prefix):
		st.inQuote = strings.Count(line, `"`)%2 == 1
		return kindResponse
	case e.digits && !st.bare && isDigits(line):
		st.bare = true
		return kindResponse
	case e.text && !st.bare && line != "" && !looksUnsolicited(line):
		st.bare = true
		return kindResponse
	}
	return kindOther
}

// isFinal reports whether line is a final result.
func isFinal(line string, shell bool) bool {
	switch {
	case line == "OK", line == "ERROR":
		return true
	case strings.HasPrefix(line, "+CME ERROR: "), strings.HasPrefix(line, "+CMS ERROR: "):
		return true
	case shell && strings.HasPrefix(line, shellFailPrefix):
		return true
	}
	return false
}

const shellFailPrefix = "Sending AT command failed with error code "

// finalError turns a final result line into nil (OK) or its error. A
// +CME/+CMS line without a number is kept as ERROR.
func finalError(line string) error {
	num := func(prefix string) (int, bool) {
		n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, prefix)))
		return n, err == nil
	}
	switch {
	case line == "OK":
		return nil
	case strings.HasPrefix(line, "+CME ERROR: "):
		if n, ok := num("+CME ERROR: "); ok {
			return &CMEError{Code: n}
		}
	case strings.HasPrefix(line, "+CMS ERROR: "):
		if n, ok := num("+CMS ERROR: "); ok {
			return &CMSError{Code: n}
		}
	case strings.HasPrefix(line, shellFailPrefix):
		if n, ok := num(shellFailPrefix); ok {
			return &ShellError{Code: n}
		}
	}
	return ErrError
}

// looksUnsolicited recognises lines that are never a command's bare text:
// URCs (+NAME: / %NAME:), Zephyr log lines, boot banners and the AT host's
// boot lines (modem-at.md §7, §9).
func looksUnsolicited(line string) bool {
	switch {
	case isURC(line):
		return true
	case strings.HasPrefix(line, "["), strings.HasPrefix(line, "<"), strings.HasPrefix(line, "***"),
		strings.HasPrefix(line, "---"):
		return true
	case line == "Ready", line == "The AT host sample started", line == "AT event handler:":
		return true
	case len(line) > 3 && line[1] == ':' && line[2] == ' ' && strings.ContainsRune("IWED", rune(line[0])):
		return true // MCUboot: "I: Starting bootloader"
	}
	return false
}

// isURC: "+NAME: …" or "%NAME: …" with an upper-case name.
func isURC(line string) bool {
	if len(line) < 3 || (line[0] != '+' && line[0] != '%') {
		return false
	}
	i := 1
	for i < len(line) && (line[i] >= 'A' && line[i] <= 'Z' || line[i] >= '0' && line[i] <= '9' || line[i] == '_') {
		i++
	}
	return i > 1 && i < len(line) && line[i] == ':'
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
