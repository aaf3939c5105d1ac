package ui

import (
	"fmt"
	"strings"
)

// grid lays the cards out to fit the terminal: as many columns as fit,
// full cards when every row fits, else compact cards, scrolling when even
// those do not fit (80×24 with many slots).
type grid struct {
	sel     int // selected slot
	top     int // first visible row
	cols    int
	cardW   int
	compact bool
	visible int // rows on screen
	rows    int
	width   int
	height  int
}

// layout fits n cards into w×h cells.
func (g *grid) layout(n, w, h int) {
	g.width, g.height = w, h
	if n == 0 || w <= 0 {
		g.cols, g.rows, g.visible = 1, 0, 0
		return
	}
	// As few rows as fill the width with cards of at most cardMaxWidth,
	// and as many columns as it takes to fit every row on screen: full
	// cards if they fit, else compact ones, else compact and scrolling.
	maxCols := max(1, min(n, w/cardMinWidth))
	g.compact, g.cols = true, maxCols
	for _, cardH := range []int{fullHeight, compactHeight} {
		rows := h / cardH
		if rows < 1 {
			continue
		}
		cols := max((n+rows-1)/rows, (w+cardMaxWidth-1)/cardMaxWidth)
		if cols = min(cols, n); cols <= maxCols {
			g.compact, g.cols = cardH == compactHeight, cols
			break
		}
	}
	g.rows = (n + g.cols - 1) / g.cols
	g.cols = (n + g.rows - 1) / g.rows // balanced: 2×2 rather than 3+1
	g.cardW = min(w/g.cols, cardMaxWidth)
	cardH := fullHeight
	if g.compact {
		cardH = compactHeight
	}
	g.visible = max(1, min(g.rows, h/cardH))
	g.sel = min(g.sel, n-1)
	g.scroll()
}

// move changes the selection by dx columns and dy rows, staying inside
// the grid.
func (g *grid) move(dx, dy, n int) {
	if n == 0 {
		return
	}
	col, row := g.sel%g.cols, g.sel/g.cols
	col = max(0, min(g.cols-1, col+dx))
	row = max(0, min(g.rows-1, row+dy))
	g.sel = min(n-1, row*g.cols+col)
	g.scroll()
}

// scroll keeps the selected row on screen.
func (g *grid) scroll() {
	row := g.sel / max(g.cols, 1)
	if row < g.top {
		g.top = row
	}
	if row >= g.top+g.visible {
		g.top = row - g.visible + 1
	}
	g.top = max(0, min(g.top, g.rows-g.visible))
}

// view draws the visible rows of cards.
func (g *grid) view(l *line, c cardView) string {
	if len(l.slots) == 0 {
		return "waiting for the line's slots…"
	}
	c.width, c.compact = g.cardW, g.compact
	var b strings.Builder
	for row := g.top; row < g.top+g.visible && row < g.rows; row++ {
		var cards [][]string
		for col := range g.cols {
			i := row*g.cols + col
			if i >= len(l.slots) {
				break
			}
			cards = append(cards, c.render(l.slots[i], i == g.sel))
		}
		for li := range cards[0] {
			if row > g.top || li > 0 {
				b.WriteByte('\n')
			}
			for _, card := range cards {
				b.WriteString(card[li])
			}
		}
	}
	return b.String()
}

// scrollNote says which rows are on screen when not all of them are.
func (g *grid) scrollNote() string {
	if g.visible >= g.rows {
		return ""
	}
	note := fmt.Sprintf("rows %d–%d of %d", g.top+1, g.top+g.visible, g.rows)
	if g.top > 0 {
		note += " ▲ more above"
	}
	if g.top+g.visible < g.rows {
		note += " ▼ more below"
	}
	return note
}
