package ui

import (
	"context"
	"errors"
	"io"

	tea "charm.land/bubbletea/v2"
)

// Run shows the TUI on the terminal behind in and out until the operator
// quits or ctx ends. It returns nil for both; the caller then stops the
// line (runs still going end ABORTED, recorded).
func Run(ctx context.Context, eng Engine, opt Options, in io.Reader, out io.Writer) error {
	m := New(ctx, eng, opt)
	defer m.Close()
	p := tea.NewProgram(m, tea.WithContext(ctx), tea.WithInput(in), tea.WithOutput(out))
	_, err := p.Run()
	if errors.Is(err, tea.ErrInterrupted) || errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		return nil
	}
	return err
}
