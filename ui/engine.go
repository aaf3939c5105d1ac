// Package ui is the bench TUI: the screen operators stand in front of for a
// whole shift. It draws the engine's events and sends the engine the
// operator's commands; it holds no provisioning logic and does no I/O of its
// own (no serial, no SQLite, no processes — deps_test.go keeps it so).
package ui

import (
	"context"
	"log/slog"
	"time"

	"nrfline/station"
)

// Engine is what the TUI needs of the line: its event stream and the
// operator's commands. *station.Engine implements it; tests use a fake on a
// real station.Bus.
type Engine interface {
	// Subscribe returns the event stream. The TUI subscribes with
	// station.Latest: a flood of device lines never slows the engine; slot
	// states and verdicts are never dropped.
	Subscribe(buf int, d station.Delivery) *station.Subscription
	Commands
}

// Commands are the operator's actions. Each returns nil when the engine
// accepted it, or a *station.Refusal saying why not.
type Commands interface {
	Start(ctx context.Context, slot string) error
	Retest(ctx context.Context, slot string) error
	Abort(ctx context.Context, slot string) error
	Disable(ctx context.Context, slot string) error
	Enable(ctx context.Context, slot string) error
	SetOperator(ctx context.Context, id string) error
}

// Tally is today's production count, as the records know it.
type Tally struct {
	Pass int // PASS verdicts today
	Fail int // FAIL and ERROR verdicts today
	// FirstTested units had their first run ever today; FirstPass of them
	// passed it. FirstPass/FirstTested is the first-pass yield.
	FirstTested, FirstPass int
}

// Options is what the TUI shows besides the engine's events. Every
// function is called inside a tea.Cmd, never from Update, so a slow
// database or an unreachable portal never freezes the screen.
type Options struct {
	StationID string
	Firmware  station.Firmware // its Name and SHA256 go in the header
	Bell      bool             // [ui] bell: ring the terminal bell on every verdict
	NoColor   bool             // NO_COLOR: words, symbols and reverse video only
	Autostart bool             // [line] autostart: hides the Start key's hint on cards
	Operator  string           // preset operator id: skips the prompt when set

	// Tally reads today's counts from the records; nil hides them.
	Tally func(ctx context.Context) (Tally, error)
	// PortalCheck tells whether the portal answers; nil hides it.
	PortalCheck func(ctx context.Context) error
	// Backlog is how many finished runs still wait to be shipped to the
	// line-wide records ([central]); nil hides it. It must not block (an
	// atomic read): the header calls it on every draw.
	Backlog func() int

	Now    func() time.Time // the clock; time.Now when nil
	Logger *slog.Logger     // diagnostics (a file while the TUI owns the terminal)
}

// Intervals of the background work; the clock ticks every second.
const (
	tallyEvery   = 30 * time.Second
	portalEvery  = 15 * time.Second
	portalTimout = 5 * time.Second
	commandLimit = 10 * time.Second // an engine command that takes longer is reported as failed
	statusFor    = 10 * time.Second // how long a status message stays in the footer
)
