package at

import (
	"context"
	"fmt"
	"sync"
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

// Mark returns a point in the stream of unsolicited result codes (lines
// beginning with '+' or '%' that were not an answer) for AwaitLine.
func (s *Session) Mark() uint64 { return s.urcs.mark() }

// AwaitLine waits at most d for an unsolicited result code that match
// accepts — one the unit was asked to send, e.g. "%XSIM: 1" after
// AT%XSIM=1 — received after since (from Mark), and returns it. A URC that
// arrived in the meantime counts even if the pump or a command's exchange
// already showed it as a log line. Other lines are observed as log lines.
// ok is false when d passed without one; a done ctx returns ctx's error, a
// port that went away UNIT_UNPLUGGED.
func (s *Session) AwaitLine(ctx context.Context, since uint64, d time.Duration, match func(string) bool) (line string, ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.urcs.since(since, match); ok {
		return l, true, nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return "", false, fmt.Errorf("wait for a line from %s: %w", s.path, ctx.Err())
		case <-timer.C:
			return "", false, nil
		case t := <-s.tokens:
			s.reportDropped()
			s.observeOther(t)
			if t.kind == tokLine && t.text != "" && match(t.text) {
				return t.text, true, nil
			}
		case <-s.dead:
			return "", false, s.unplugged("wait for a line from " + s.path)
		}
	}
}

// urcLog keeps the last unsolicited result codes a session consumed, each
// numbered, so that a wait for one need not be the consumer that took it.
type urcLog struct {
	mu    sync.Mutex
	seq   uint64 // codes added so far
	lines [16]string
}

func (u *urcLog) add(line string) {
	if line == "" || (line[0] != '+' && line[0] != '%') {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.lines[u.seq%uint64(len(u.lines))] = line
	u.seq++
}

func (u *urcLog) mark() uint64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.seq
}

// since returns the first code after mark that match accepts, among those
// still kept.
func (u *urcLog) since(mark uint64, match func(string) bool) (string, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	first := max(mark, u.seq-min(u.seq, uint64(len(u.lines))))
	for i := first; i < u.seq; i++ {
		if l := u.lines[i%uint64(len(u.lines))]; match(l) {
			return l, true
		}
	}
	return "", false
}
