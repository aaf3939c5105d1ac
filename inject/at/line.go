package at

import (
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxPending bounds a line that never ends (a wrong baud rate can go on
// without a line feed for ever); the bytes are then reported as junk.
const maxPending = 8192

// tokenKind says what the unframer found in the byte stream.
type tokenKind int

const (
	tokLine   tokenKind = iota // a complete text line, ANSI and CR removed
	tokPrompt                  // a shell prompt (a partial line: no newline follows it)
	tokJunk                    // bytes that did not form a text line
)

// token is one unit of what the device sent.
type token struct {
	kind tokenKind
	text string    // the cleaned line (tokLine), the prompt, or a printable rendering of junk
	raw  int       // bytes of the stream this token consumed
	at   time.Time // when its last byte arrived
}

// unframer cuts the device's byte stream into tokens, in either dialect:
// lines end at LF (CR anywhere is dropped, so "\r\n" and the shell's
// "\r\r\n" are the same); ANSI escape sequences are removed; a shell prompt
// ("uart:~$ ", no newline after it) is a token of its own, whether it stands
// alone or is followed on the same line by the echo of what was typed. A
// line that is not valid UTF-8 text, or holds control bytes, is junk.
// It is pure: feed calls emit for every token completed.
type unframer struct {
	pending []byte
}

func (u *unframer) feed(p []byte, now time.Time, emit func(token)) {
	for _, b := range p {
		u.pending = append(u.pending, b)
		switch {
		case b == '\n':
			u.flushLine(now, emit)
		case b == ' ' && u.promptEnd() && isPrompt(cleanLine(u.pending)):
			emit(token{kind: tokPrompt, text: cleanLine(u.pending), raw: len(u.pending), at: now})
			u.pending = u.pending[:0]
		case len(u.pending) >= maxPending:
			emit(junkToken(u.pending, now))
			u.pending = u.pending[:0]
		}
	}
}

// maxPromptBytes bounds the bytes of a prompt with its escape sequences
// (colour, the erase before it), so the prompt check stays cheap.
const maxPromptBytes = 128

// promptEnd: the pending bytes could be a prompt that just ended ("$ ").
func (u *unframer) promptEnd() bool {
	n := len(u.pending)
	return n >= 2 && n <= maxPromptBytes && u.pending[n-2] == '$'
}

// flushLine turns the pending bytes (ending in LF) into tokens.
func (u *unframer) flushLine(now time.Time, emit func(token)) {
	raw := len(u.pending)
	line := cleanLine(u.pending)
	defer func() { u.pending = u.pending[:0] }()
	if !isText(line) {
		emit(junkToken(u.pending, now))
		return
	}
	for {
		p, rest, ok := cutPrompt(line)
		if !ok {
			break
		}
		emit(token{kind: tokPrompt, text: p, at: now})
		line = rest
	}
	// blank lines carry nothing; they still count as well-formed bytes
	emit(token{kind: tokLine, text: line, raw: raw, at: now})
}

func junkToken(b []byte, now time.Time) token {
	const show = 48
	s := b
	if len(s) > show {
		s = s[:show]
	}
	q := strconv.Quote(string(s))
	if len(b) > show {
		q += "…"
	}
	return token{kind: tokJunk, text: "<" + strconv.Itoa(len(b)) + " bytes not text: " + q + ">", raw: len(b), at: now}
}

// cleanLine removes ANSI escape sequences, CR and the final LF. It works
// on bytes: invalid UTF-8 must survive to be recognised as junk.
func cleanLine(b []byte) string {
	s := StripANSI(string(b))
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '\r' && s[i] != '\n' {
			out = append(out, s[i])
		}
	}
	return string(out)
}

// StripANSI removes VT100/ANSI escape sequences: CSI sequences (ESC '['
// parameters 0x30–0x3F, intermediates 0x20–0x2F, final 0x40–0x7E,
// modem-at.md §8) and two-byte escapes (ESC plus one byte). An unfinished
// sequence at the end is removed too.
func StripANSI(s string) string {
	if strings.IndexByte(s, 0x1b) < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != 0x1b {
			b.WriteByte(s[i])
			i++
			continue
		}
		i = skipEscape(s, i)
	}
	return b.String()
}

// skipEscape returns the index after the escape sequence that starts at i.
func skipEscape(s string, i int) int {
	i++ // ESC
	if i >= len(s) {
		return i
	}
	if s[i] != '[' {
		return i + 1
	}
	i++
	for i < len(s) && s[i] >= 0x30 && s[i] <= 0x3f {
		i++
	}
	for i < len(s) && s[i] >= 0x20 && s[i] <= 0x2f {
		i++
	}
	if i < len(s) && s[i] >= 0x40 && s[i] <= 0x7e {
		i++
	}
	return i
}

// isText: valid UTF-8 without control characters other than tab.
func isText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if (r < 0x20 && r != '\t') || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

// promptRE is a Zephyr shell prompt: "uart:~$ ", "mosh:~$ " and the like.
var promptRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}:~\$ `)

func isPrompt(s string) bool {
	loc := promptRE.FindStringIndex(s)
	return loc != nil && loc[1] == len(s)
}

// cutPrompt splits a leading prompt off a line.
func cutPrompt(s string) (prompt, rest string, ok bool) {
	loc := promptRE.FindStringIndex(s)
	if loc == nil {
		return "", s, false
	}
	return s[:loc[1]], s[loc[1]:], true
}
