package ui

import (
	"image/color"
	"strings"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/progress"
	"charm.land/lipgloss/v2"
)

// look is what a card's state looks like: its frame and the style of its
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

// paint is a style reduced to the escape sequences around its text. The
// styles are lipgloss styles, built once from the theme; the cards paint
// text whose width they already know, because lipgloss measures every
// string it renders grapheme by grapheme, and a 32-slot frame has some
// 300 card lines (see BenchmarkView32Busy).
type paint struct{ pre, post string }

func newPaint(s lipgloss.Style) paint {
	r := s.Render("x")
	i := strings.IndexByte(r, 'x')
	return paint{r[:i], r[i+1:]}
}

func (p paint) on(s string) string {
	if s == "" || p.pre == "" {
		return s
	}
	return p.pre + s + p.post
}

// styles are built once from the theme (colour or NO_COLOR) and shared by
// every component.
type styles struct {
	noColor bool
	border  [nLooks]lipgloss.Border
	frame   [nLooks]paint // card frame
	state   [nLooks]paint // the state word / verdict banner
	big     [nLooks]paint // the big verdict letters
	name    paint
	sel     paint // the selected slot's name
	dim     paint
	bold    paint
	title   paint // section titles of the detail view
	good    paint
	bad     paint
	status  paint // footer status line
	box     lipgloss.Style
	bar     progress.Model
	help    help.Model
	edges   map[edgeKey][2]string // top and bottom lines of card frames
}

type edgeKey struct {
	lk    look
	width int
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
	st := &styles{noColor: noColor, edges: map[edgeKey][2]string{}}
	plain := lipgloss.NewStyle()

	frames := [nLooks]struct {
		b  lipgloss.Border
		fg color.Color
	}{
		lookEmpty:    {lipgloss.NormalBorder(), grey},
		lookPresent:  {lipgloss.RoundedBorder(), yellow},
		lookRunning:  {lipgloss.RoundedBorder(), blue},
		lookPass:     {lipgloss.DoubleBorder(), green},
		lookFail:     {lipgloss.ThickBorder(), red},
		lookError:    {lipgloss.ThickBorder(), orange},
		lookAborted:  {lipgloss.ThickBorder(), orange},
		lookLocked:   {lipgloss.ThickBorder(), grey},
		lookDisabled: {lipgloss.NormalBorder(), grey},
	}
	for lk, f := range frames {
		st.border[lk] = f.b
		st.frame[lk] = newPaint(plain.Foreground(f.fg))
		st.big[lk] = newPaint(plain.Bold(true).Foreground(f.fg))
	}
	// A verdict banner is reverse video in both themes: a block that is
	// seen from across the bench, coloured when colour is there.
	banner := func(bg color.Color) paint {
		s := plain.Bold(true)
		if noColor {
			return newPaint(s.Reverse(true))
		}
		return newPaint(s.Foreground(black).Background(bg))
	}
	st.state = [nLooks]paint{
		lookEmpty:    newPaint(plain.Foreground(grey)),
		lookPresent:  newPaint(plain.Bold(true).Foreground(yellow)),
		lookRunning:  newPaint(plain.Bold(true).Foreground(blue)),
		lookPass:     banner(green),
		lookFail:     banner(red),
		lookError:    banner(orange),
		lookAborted:  banner(orange),
		lookLocked:   newPaint(plain.Bold(true).Foreground(red)),
		lookDisabled: newPaint(plain.Foreground(grey)),
	}
	st.name = newPaint(plain.Bold(true))
	st.sel = newPaint(plain.Bold(true).Reverse(true))
	st.dim = newPaint(plain.Foreground(grey))
	if noColor {
		st.dim = newPaint(plain.Faint(true))
	}
	st.bold = newPaint(plain.Bold(true))
	st.title = newPaint(plain.Bold(true).Underline(true))
	st.good = newPaint(plain.Bold(true).Foreground(green))
	st.bad = newPaint(plain.Bold(true).Foreground(red))
	st.status = newPaint(plain.Foreground(yellow))
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

// edge returns the painted top and bottom lines of a card frame.
func (st *styles) edge(lk look, width int) (top, bottom string) {
	k := edgeKey{lk, width}
	if e, ok := st.edges[k]; ok {
		return e[0], e[1]
	}
	b, inner := st.border[lk], max(0, width-2)
	top = st.frame[lk].on(b.TopLeft + strings.Repeat(b.Top, inner) + b.TopRight)
	bottom = st.frame[lk].on(b.BottomLeft + strings.Repeat(b.Bottom, inner) + b.BottomRight)
	st.edges[k] = [2]string{top, bottom}
	return top, bottom
}
