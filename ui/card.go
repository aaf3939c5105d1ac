package ui

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"nrfline/station"
)

// Card sizes. A full card has room for the big verdict letters and the
// hint; a compact one (80×24 with many slots) for three lines.
const (
	cardMinWidth  = 24 // the widest big word (ERROR) is 19 columns
	cardMaxWidth  = 40
	fullLines     = 8
	compactLines  = 3
	cardChrome    = 2 // border, top+bottom or left+right
	cardPadding   = 1 // inside the border, each side
	fullHeight    = fullLines + cardChrome
	compactHeight = compactLines + cardChrome
)

// cardView renders one slot as a card of exactly width×(fullHeight or
// compactHeight) cells. Lines are made of plain text whose width is known
// before it is painted (see paint).
type cardView struct {
	st        *styles
	width     int
	compact   bool
	autostart bool
	now       time.Time
}

// render returns the card's lines, each exactly c.width cells wide.
func (c cardView) render(s *slotView, selected bool) []string {
	lk := lookOf(s)
	w := c.width - cardChrome - 2*cardPadding
	var lines []string
	if c.compact {
		lines = c.compactLines(s, lk, w, selected)
	} else {
		lines = c.fullLines(s, lk, w, selected)
	}
	top, bottom := c.st.edge(lk, c.width)
	b := c.st.border[lk]
	left, right := c.st.frame[lk].on(b.Left)+" ", " "+c.st.frame[lk].on(b.Right)
	out := make([]string, 0, len(lines)+2)
	out = append(out, top)
	for _, l := range lines {
		if l == "" {
			l = strings.Repeat(" ", w)
		}
		out = append(out, left+l+right)
	}
	return append(out, bottom)
}

// head is the first line: the slot's name and, on the right, its state.
func (c cardView) head(s *slotView, lk look, w int, selected bool) string {
	name, p := " "+s.st.Slot.Name, c.st.name
	if selected {
		name, p = "▶"+s.st.Slot.Name, c.st.sel
	}
	word := stateWord(s, lk)
	nw, ww := width(name), width(word)
	if nw+1+ww > w {
		name = fitPlain(name, max(1, w-1-ww))
		nw = width(name)
	}
	return p.on(name) + strings.Repeat(" ", max(1, w-nw-ww)) + c.st.state[lk].on(word)
}

func (c cardView) fullLines(s *slotView, lk look, w int, selected bool) []string {
	none := paint{}
	lines := make([]string, fullLines)
	lines[0] = c.head(s, lk, w, selected)
	lines[1], lines[2] = c.body(s, lk, w)
	if imei := s.imei(); imei != "" {
		lines[3] = fitPlain("IMEI "+imei, w)
	} else if lk != lookEmpty && lk != lookDisabled {
		lines[3] = pl(c.st.dim, "IMEI not read yet", w)
	}
	lines[4] = fitPlain(c.timeLine(s, lk), w)
	switch why := c.why(s, lk); {
	case len(why) == 2: // a verdict's code and hint
		lines[5] = pl(c.st.bold, why[0], w)
		for i, l := range wrapLines(why[1], w, 2) {
			lines[6+i] = pl(none, l, w)
		}
	case len(why) == 1: // why the slot is locked, disabled or waiting
		for i, l := range wrapLines(why[0], w, 3) {
			lines[5+i] = pl(none, l, w)
		}
	case lk == lookPass && s.st.State == station.SlotDone:
		lines[5] = pl(c.st.dim, "take the unit out", w)
	}
	return lines
}

func (c cardView) compactLines(s *slotView, lk look, w int, selected bool) []string {
	lines := make([]string, compactLines)
	lines[0] = c.head(s, lk, w, selected)
	why := c.why(s, lk)
	switch {
	case len(why) > 0:
		lines[1] = pl(c.st.bold, why[0], w)
		if len(why) > 1 {
			lines[2] = fitPlain(strings.Join(why[1:], " "), w)
		}
		return lines
	case lk == lookRunning:
		lines[1] = c.runningLine(s, w)
	case lk == lookPass:
		lines[1] = c.st.state[lk].on(center("✔ ✔  PASS  ✔ ✔", w))
	default:
		lines[1], _ = c.body(s, lk, w)
	}
	lines[2] = fitPlain(spread(s.imei(), c.timeLine(s, lk), w), w)
	return lines
}

// body is the two lines under the head of a full card: big verdict
// letters, the progress bar, or what the slot waits for.
func (c cardView) body(s *slotView, lk look, w int) (string, string) {
	switch lk {
	case lookPass, lookFail, lookError, lookAborted:
		big := bigWord(lk)
		return c.st.big[lk].on(center(big[0], w)), c.st.big[lk].on(center(big[1], w))
	case lookRunning:
		return c.runningLine(s, w), pl(c.st.dim, stepCount(s), w)
	case lookEmpty:
		return pl(c.st.dim, "insert a unit", w), ""
	case lookPresent:
		if !c.autostart || s.st.Reason != "" {
			return pl(c.st.bold, "press s to start", w), ""
		}
		return fitPlain("unit present", w), ""
	case lookLocked:
		return pl(c.st.bold, "press d to unlock", w), ""
	case lookDisabled:
		return pl(c.st.dim, "out of service", w), pl(c.st.dim, "press d to enable", w)
	}
	return "", ""
}

// runningLine is the progress bar while flashing, else the step with its
// elapsed seconds.
func (c cardView) runningLine(s *slotView, w int) string {
	if s.st.Step == station.StepFlash {
		p := max(0, min(100, s.st.Percent))
		pct := fmt.Sprintf(" %3d%%", p)
		bar := c.st.bar
		bar.SetWidth(w - len(pct))
		return bar.ViewAs(float64(p)/100) + pct
	}
	secs := int(c.now.Sub(s.st.Since).Seconds())
	return fitPlain(fmt.Sprintf("%s %ds", stepWord(s.st.Step), max(secs, 0)), w)
}

// timeLine is how long the run took or takes so far.
func (c cardView) timeLine(s *slotView, lk look) string {
	if lk == lookEmpty && !s.showsVerdict() || lk == lookDisabled || lk == lookLocked {
		return ""
	}
	d := s.elapsed(c.now)
	if d <= 0 {
		return ""
	}
	t := "⏱ " + clock(d)
	if v := s.st.Last; s.showsVerdict() && v.Step != "" && v.Outcome != station.Pass {
		t += " at " + string(v.Step)
	}
	return t
}

// why is the failure code and the operator hint of a non-PASS verdict, or
// the reason a slot is locked, disabled or waiting.
func (c cardView) why(s *slotView, lk look) []string {
	switch lk {
	case lookFail, lookError, lookAborted:
		v := s.st.Last
		hint := v.Hint
		if hint == "" {
			hint = v.Code.Hint()
		}
		return []string{string(v.Code), hint}
	case lookLocked, lookDisabled, lookPresent:
		if s.st.Reason != "" {
			return []string{s.st.Reason}
		}
	}
	return nil
}

// lookOf decides what the card shows: the verdict stays until the next
// unit arrives.
func lookOf(s *slotView) look {
	switch s.st.State {
	case station.SlotRunning:
		return lookRunning
	case station.SlotPresent:
		return lookPresent
	case station.SlotLockedSt:
		return lookLocked
	case station.SlotDisabled:
		return lookDisabled
	}
	if s.showsVerdict() {
		switch s.st.Last.Outcome {
		case station.Pass:
			return lookPass
		case station.Fail:
			return lookFail
		case station.Aborted:
			return lookAborted
		default:
			return lookError
		}
	}
	return lookEmpty
}

// stateWord is the word in a card's corner. Verdicts carry a symbol, so a
// reader who does not know the word still tells them apart.
func stateWord(s *slotView, lk look) string {
	switch lk {
	case lookRunning:
		return stepWord(s.st.Step)
	case lookPass:
		if s.st.State == station.SlotEmpty {
			return "✔ PASS · out"
		}
		return "✔ PASS"
	case lookFail:
		return "✘ FAIL"
	case lookError:
		return "! ERROR"
	case lookAborted:
		return "■ ABORTED"
	}
	return string(s.st.State)
}

// stepWord names a running step the way the line says it.
func stepWord(step station.StepName) string {
	switch step {
	case station.StepFlash:
		return "FLASHING"
	case "":
		return "STARTING"
	}
	return strings.ToUpper(string(step))
}

func stepCount(s *slotView) string {
	i := slices.Index(station.Steps, s.st.Step)
	if i < 0 {
		return ""
	}
	return fmt.Sprintf("step %d/%d", i+1, len(station.Steps))
}

// Big letters, two rows of half blocks: the verdict read from across the
// bench, in any language.
var glyphs = map[rune][2]string{
	'P': {"█▀█", "█▀▀"},
	'A': {"▄▀█", "█▀█"},
	'S': {"█▀", "▄█"},
	'F': {"█▀▀", "█▀ "},
	'I': {"█", "█"},
	'L': {"█  ", "█▄▄"},
	'E': {"█▀▀", "██▄"},
	'R': {"█▀█", "█▀▄"},
	'O': {"█▀█", "█▄█"},
	'B': {"█▄▄", "█▄█"},
	'T': {"▀█▀", " █ "},
}

func bigWord(lk look) [2]string {
	word := map[look]string{lookPass: "PASS", lookFail: "FAIL", lookError: "ERROR", lookAborted: "ABORT"}[lk]
	var top, bottom []string
	for _, r := range word {
		top, bottom = append(top, glyphs[r][0]), append(bottom, glyphs[r][1])
	}
	return [2]string{strings.Join(top, " "), strings.Join(bottom, " ")}
}

// width is the cell width of plain text; most of a card is ASCII.
func width(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return ansi.StringWidth(s)
		}
	}
	return len(s)
}

// fitPlain cuts or pads plain text to exactly w cells.
func fitPlain(s string, w int) string {
	n := width(s)
	if n > w {
		return ansi.Truncate(s, w, "…")
	}
	return s + strings.Repeat(" ", w-n)
}

// pl paints plain text fitted to w cells.
func pl(p paint, s string, w int) string { return p.on(fitPlain(s, w)) }

// fit cuts or pads a styled line to exactly w cells.
func fit(s string, w int) string {
	n := ansi.StringWidth(s)
	if n > w {
		return ansi.Truncate(s, w, "…")
	}
	return s + strings.Repeat(" ", w-n)
}

func center(s string, w int) string {
	n := width(s)
	if n >= w {
		return s
	}
	left := (w - n) / 2
	return strings.Repeat(" ", left) + s + strings.Repeat(" ", w-n-left)
}

// wrapLines word-wraps plain text into at most n lines of width w, the
// last one cut with an ellipsis when the text is longer.
func wrapLines(text string, w, n int) []string {
	var out []string
	line := ""
	words := strings.Fields(text)
	for i, word := range words {
		switch {
		case line == "":
			line = word
		case width(line)+1+width(word) <= w:
			line += " " + word
		default:
			if len(out) == n-1 {
				return append(out, ansi.Truncate(strings.Join(append([]string{line}, words[i:]...), " "), w, "…"))
			}
			out = append(out, line)
			line = word
		}
	}
	if line != "" {
		out = append(out, ansi.Truncate(line, w, "…"))
	}
	return out
}

// clock formats a duration as m:ss or h:mm:ss.
func clock(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
