package ui

import "charm.land/bubbles/v2/key"

// keyMap holds every key of the bench (CONTRACT.md "Bench TUI keys").
type keyMap struct {
	Up, Down, Left, Right key.Binding
	Open, Back            key.Binding
	Start, Retest, Abort  key.Binding
	Toggle                key.Binding // disable / enable
	Operator              key.Binding
	Help, Quit            key.Binding
	Yes, No               key.Binding
}

func newKeyMap() keyMap {
	b := func(keys []string, k, desc string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(k, desc))
	}
	return keyMap{
		Up:       b([]string{"up", "k"}, "↑/k", "up"),
		Down:     b([]string{"down", "j"}, "↓/j", "down"),
		Left:     b([]string{"left", "h"}, "←/h", "left"),
		Right:    b([]string{"right", "l"}, "→/l", "right"),
		Open:     b([]string{"enter"}, "enter", "detail"),
		Back:     b([]string{"esc", "enter", "backspace"}, "esc", "back"),
		Start:    b([]string{"s"}, "s", "start"),
		Retest:   b([]string{"r"}, "r", "retest"),
		Abort:    b([]string{"a"}, "a", "abort"),
		Toggle:   b([]string{"d"}, "d", "disable/enable"),
		Operator: b([]string{"o"}, "o", "operator"),
		Help:     b([]string{"?"}, "?", "help"),
		Quit:     b([]string{"q", "ctrl+c"}, "q", "quit"),
		Yes:      b([]string{"y", "Y"}, "y", "yes"),
		No:       b([]string{"n", "N", "esc"}, "n", "no"),
	}
}

// gridKeys is the footer of the slot grid.
type gridKeys struct{ keyMap }

func (k gridKeys) ShortHelp() []key.Binding {
	return []key.Binding{
		key.NewBinding(key.WithHelp("←↓↑→/hjkl", "select")),
		k.Open, k.Start, k.Retest, k.Abort, k.Toggle, k.Help, k.Quit,
	}
}

func (k gridKeys) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Up, k.Down, k.Left, k.Right, k.Open},
		{k.Start, k.Retest, k.Abort, k.Toggle},
		{k.Operator, k.Help, k.Quit},
	}
}

// detailKeys is the footer of a slot's detail.
type detailKeys struct{ keyMap }

func (k detailKeys) ShortHelp() []key.Binding {
	return []key.Binding{
		k.Back, key.NewBinding(key.WithHelp("↑↓/pgup/pgdn", "scroll")),
		k.Start, k.Retest, k.Abort, k.Toggle, k.Quit,
	}
}

func (k detailKeys) FullHelp() [][]key.Binding { return [][]key.Binding{k.ShortHelp()} }
