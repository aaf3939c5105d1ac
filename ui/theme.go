package ui

import (
	"image/color"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/progress"
	"charm.land/lipgloss/v2"
)

// look is what a card's state looks like: its border and the style of its
// state word. Everything that matters is also said in words and symbols,
// so the screen reads the same without colour.
type look int

const (
	lookEmpty look = iota
	lookPresent
	lookRunning
	lookPass
	lookFail
	lookError
	lookAborted
	lookLocked
	lookDisabled
	nLooks
)

// styles are built once from the theme (colour or NO_COLOR) and shared by
// every component.
type styles struct {
	noColor bool
	border  [nLooks]lipgloss.Style // card frame
	state   [nLooks]lipgloss.Style // the state word / verdict banner
	big     [nLooks]lipgloss.Style // the big verdict letters
	name    lipgloss.Style
	sel     lipgloss.Style // the selected slot's name
	dim     lipgloss.Style
	bold    lipgloss.Style
	title   lipgloss.Style // section titles of the detail view
	good    lipgloss.Style
	bad     lipgloss.Style
	status  lipgloss.Style // footer status line
	box     lipgloss.Style // prompt, help and quit dialogs
	bar     progress.Model
	help    help.Model
}

func newStyles(noColor bool) *styles {
	c := func(hex string) color.Color {
		if noColor {
			return lipgloss.NoColor{}
		}
		return lipgloss.Color(hex)
	}
	green, red, orange, blue, grey, yellow := c("#22c55e"), c("#ef4444"), c("#f59e0b"), c("#38bdf8"), c("#6b7280"), c("#eab308")
	black := c("#000000")
	st := &styles{noColor: noColor}
	frame := func(b lipgloss.Border, fg color.Color) lipgloss.Style {
		return lipgloss.NewStyle().Border(b).BorderForeground(fg)
	}
	st.border = [nLooks]lipgloss.Style{
		lookEmpty:    frame(lipgloss.NormalBorder(), grey),
		lookPresent:  frame(lipgloss.RoundedBorder(), yellow),
		lookRunning:  frame(lipgloss.RoundedBorder(), blue),
		lookPass:     frame(lipgloss.DoubleBorder(), green),
		lookFail:     frame(lipgloss.ThickBorder(), red),
		lookError:    frame(lipgloss.ThickBorder(), orange),
		lookAborted:  frame(lipgloss.ThickBorder(), orange),
		lookLocked:   frame(lipgloss.ThickBorder(), grey),
		lookDisabled: frame(lipgloss.NormalBorder(), grey),
	}
	// A verdict banner is reverse video in both themes: a block that is
	// seen from across the bench, coloured when colour is there.
	banner := func(bg color.Color) lipgloss.Style {
		s := lipgloss.NewStyle().Bold(true)
		if noColor {
			return s.Reverse(true)
		}
		return s.Foreground(black).Background(bg)
	}
	plain := lipgloss.NewStyle()
	st.state = [nLooks]lipgloss.Style{
		lookEmpty:    plain.Foreground(grey),
		lookPresent:  plain.Bold(true).Foreground(yellow),
		lookRunning:  plain.Bold(true).Foreground(blue),
		lookPass:     banner(green),
		lookFail:     banner(red),
		lookError:    banner(orange),
		lookAborted:  banner(orange),
		lookLocked:   plain.Bold(true).Foreground(red),
		lookDisabled: plain.Foreground(grey),
	}
	for lk := range nLooks {
		st.big[lk] = plain.Bold(true).Foreground(st.border[lk].GetBorderTopForeground())
	}
	st.name = plain.Bold(true)
	st.sel = plain.Bold(true).Reverse(true)
	st.dim = plain.Foreground(grey)
	if noColor {
		st.dim = plain.Faint(true)
	}
	st.bold = plain.Bold(true)
	st.title = plain.Bold(true).Underline(true)
	st.good = plain.Bold(true).Foreground(green)
	st.bad = plain.Bold(true).Foreground(red)
	st.status = plain.Foreground(yellow)
	st.box = plain.Border(lipgloss.RoundedBorder()).BorderForeground(blue).Padding(1, 2)

	st.bar = progress.New(progress.WithColors(blue), progress.WithFillCharacters('█', '░'), progress.WithoutPercentage())
	st.bar.EmptyColor = grey

	st.help = help.New()
	if noColor {
		hs := help.Styles{}
		hs.ShortKey, hs.FullKey = plain.Bold(true), plain.Bold(true)
		st.help.Styles = hs
	}
	return st
}
