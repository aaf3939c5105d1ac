package ui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// header is two lines: who and what (station, operator, firmware, clock),
// then how the line does (portal, today's counts, first-pass yield).
func (m *Model) header() string {
	st := m.st
	op := m.operator
	if op == "" {
		op = st.bad.on("none")
	}
	fw := m.opt.Firmware.Name
	if sha := m.opt.Firmware.SHA256; len(sha) >= 8 {
		fw += " " + sha[:8]
	}
	left := []string{st.bold.on("STATION " + m.opt.StationID), "operator " + st.bold.on(op)}
	if fw != "" {
		left = append(left, "fw "+fw)
	}
	first := spread(strings.Join(left, " │ "), m.now.Format("15:04:05"), m.width)

	var second []string
	if m.opt.PortalCheck != nil {
		switch m.portal {
		case "":
			second = append(second, "portal … checking")
		case "ok":
			second = append(second, st.good.on("portal ✔ reachable"))
		default:
			second = append(second, st.bad.on("portal ✘ UNREACHABLE"))
		}
	}
	if m.opt.Tally != nil {
		switch t := m.tally; {
		case t != nil:
			s := fmt.Sprintf("today ✔ %d PASS  ✘ %d FAIL", t.Pass, t.Fail)
			if t.FirstTested > 0 {
				s += fmt.Sprintf(" │ first-pass yield %.1f%% (%d/%d)", 100*float64(t.FirstPass)/float64(t.FirstTested), t.FirstPass, t.FirstTested)
			}
			second = append(second, s)
		case m.tallyErr != nil:
			second = append(second, st.bad.on("today: records unreadable"))
		default:
			second = append(second, "today …")
		}
	}
	if m.opt.Backlog != nil {
		if n := m.opt.Backlog(); n == 0 {
			second = append(second, "central ✔ synced")
		} else {
			second = append(second, st.bad.on(fmt.Sprintf("central ⧗ %d to send", n)))
		}
	}
	running := fmt.Sprintf("%d/%d running", m.line.running(), len(m.line.slots))
	return fit(first, m.width) + "\n" + fit(spread(strings.Join(second, " │ "), running, m.width), m.width)
}

// footer is the status line (command results, scrolling, a probe in no
// slot) and the keys of the current screen.
func (m *Model) footer() string {
	var status []string
	if m.status != "" && m.now.Sub(m.statusAt) < statusFor {
		status = append(status, m.st.status.on(m.status))
	}
	if m.screen == screenGrid {
		if n := m.grid.scrollNote(); n != "" {
			status = append(status, n)
		}
	}
	if m.line.ignored != "" {
		status = append(status, m.st.dim.on("probe "+m.line.ignored+" is in no slot"))
	}
	var keys string
	switch m.screen {
	case screenDetail:
		keys = m.st.help.ShortHelpView(detailKeys{m.keys}.ShortHelp())
	case screenGrid:
		keys = m.st.help.ShortHelpView(gridKeys{m.keys}.ShortHelp())
	case screenPrompt:
		keys = "enter submit • ctrl+c quit"
	default:
		keys = "any key: back"
	}
	return fit(strings.Join(status, " │ "), m.width) + "\n" + fit(keys, m.width)
}

// spread puts left and right on one line of width w; when they do not
// fit, left gives way (right is the clock, the running count, a time).
func spread(left, right string, w int) string {
	rw := ansi.StringWidth(right)
	if rw+1 >= w {
		return left
	}
	gap := w - ansi.StringWidth(left) - rw
	if gap < 1 {
		left = ansi.Truncate(left, w-rw-1, "…")
		gap = w - ansi.StringWidth(left) - rw
	}
	return left + strings.Repeat(" ", gap) + right
}
