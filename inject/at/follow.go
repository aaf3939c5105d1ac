package at

import (
	"context"
	"fmt"
	"time"
)

// LogLine is one line of the unit's console that is not an answer to a
// command: a Zephyr log line, a boot banner, a URC. Text has ANSI removed.
type LogLine struct {
	Text string
	At   time.Time // when it was received
}

// Follow reads the unit's log. Lines already queued are observed but not
// handed on; then start is called (e.g. the reset, nil for none); then
// every following text line is observed (DirLog) and handed to fn until fn
// returns true (Follow returns nil), ctx ends (ctx's error) or the port
// goes away (UNIT_UNPLUGGED). The port stays open across the unit's
// reboot: the session keeps working afterwards.
func (s *Session) Follow(ctx context.Context, start func(context.Context) error, fn func(LogLine) bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drain()
	if start != nil {
		if err := start(ctx); err != nil {
			return fmt.Errorf("start following the log of %s: %w", s.path, err)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("follow the log of %s: %w", s.path, ctx.Err())
		case t := <-s.tokens:
			if s.follow(t, fn) {
				return nil
			}
		case <-s.dead:
			return s.followDead(fn)
		}
	}
}

// followDead hands on what arrived before the port went away.
func (s *Session) followDead(fn func(LogLine) bool) error {
	for {
		select {
		case t := <-s.tokens:
			if s.follow(t, fn) {
				return nil
			}
		default:
			return s.unplugged("follow the log of " + s.path)
		}
	}
}

func (s *Session) follow(t token, fn func(LogLine) bool) bool {
	s.reportDropped()
	s.observeOther(t)
	if t.kind != tokLine || t.text == "" {
		return false
	}
	return fn(LogLine{Text: s.red.line(t.text), At: t.at})
}
