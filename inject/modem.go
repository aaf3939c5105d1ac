// Package inject is the station's side of a unit's modem: it implements
// station.Modem on top of an AT session (package inject/at) — wait for the
// unit, identify it, store and verify the bootstrap credentials, list a
// sec_tag, and watch the unit's log while it bootstraps and registers.
//
// Every failure is classified here, once, into a *station.Error: the AT
// session classifies transport failures (MODEM_TIMEOUT, UNIT_UNPLUGGED,
// PORT_UNAVAILABLE, MODEM_NOT_READY, MODEM_GARBLED); this package turns the
// modem's refusals (ERROR, +CME ERROR) into the code of the operation that
// failed (IMEI_INVALID, SIM_NOT_READY, CRED_*, MODEM_ERROR).
package inject

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"nrfline/inject/at"
	"nrfline/station"
)

var _ station.Modem = (*Modem)(nil)

// Modem is an open session with one unit's modem.
type Modem struct {
	s       *at.Session
	log     *slog.Logger
	simPoll time.Duration
	simWait time.Duration
}

// Opener returns the station.ModemOpener for cfg: it opens the port as an
// AT session in cfg.Mode and hands observe every line (secrets redacted).
func Opener(cfg station.ModemConfig, logger *slog.Logger) station.ModemOpener {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return func(ctx context.Context, port string, observe func(dir, line string)) (station.Modem, error) {
		m, err := Open(ctx, port, cfg, observe, logger)
		if err != nil {
			return nil, err
		}
		return m, nil
	}
}

// Open opens one unit's port (see Opener).
func Open(ctx context.Context, port string, cfg station.ModemConfig, observe func(dir, line string), logger *slog.Logger) (*Modem, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s, err := at.Open(ctx, port, cfg, observe, at.WithLogger(logger))
	if err != nil {
		return nil, err
	}
	return &Modem{s: s, log: logger.With("port", port), simPoll: DefaultSIMPoll, simWait: DefaultSIMWait}, nil
}

// Ready waits until the unit answers AT with OK (see at.Session.Ready).
func (m *Modem) Ready(ctx context.Context) error { return m.s.Ready(ctx) }

// Close closes the port.
func (m *Modem) Close() error { return m.s.Close() }

// Session is the underlying AT session (for tools and tests).
func (m *Modem) Session() *at.Session { return m.s }

// Gone reports whether the unit's port went away (unplugged).
func (m *Modem) Gone() bool { return m.s.Gone() }

// failed classifies err from a command as code unless it is already
// classified (a transport failure) or a context error (the engine decides
// what an interrupt or a spent budget means).
func failed(err error, code station.Code, format string, args ...any) error {
	doing := fmt.Sprintf(format, args...)
	var se *station.Error
	if errors.As(err, &se) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", doing, err)
	}
	return station.Errorf(code, err, "%s", doing)
}
