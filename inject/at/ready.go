package at

import (
	"context"
	"errors"
	"fmt"
	"time"

	"nrfline/station"
)

// Ready timing: AT is tried again every attemptEvery until the unit answers
// (Nordic's scripts: first AT within 2 s, retry every ~2 s, modem-at.md §9);
// after a success, answers to earlier attempts are awaited at most
// settleFor so they cannot be taken for the next command's result.
const (
	attemptEvery = 1500 * time.Millisecond
	settleFor    = 500 * time.Millisecond
	atHostReady  = "Ready" // the AT host's sync line at start-up (modem-at.md §9)
)

// Ready waits until the unit answers AT with OK, trying again every ~1.5 s,
// at most modem.ready_timeout; boot banners and noise in between are
// observed as log lines. With modem.mode = "auto" the dialect is detected
// first (modem-at.md §8): Ctrl-L Ctrl-U, then `at AT` — OK means a Zephyr
// shell, ERROR the AT host.
//
// On timeout: MODEM_GARBLED when most bytes received meanwhile never formed
// a text line (wrong baud rate, noise), else MODEM_NOT_READY. A port that
// goes away is UNIT_UNPLUGGED; a done ctx returns ctx's error.
func (s *Session) Ready(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	base := s.snapshot()
	deadline := time.Now().Add(s.readyTO)
	unanswered := 0 // probes that timed out: their answers may still come
	for {
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return s.notReady(base)
		}
		began := time.Now()
		err := s.tryReady(ctx, min(attemptEvery, s.cmdTO, remaining))
		switch {
		case err == nil:
			s.settle(ctx, unanswered)
			return nil
		case errors.Is(err, errBooted):
			// The unit only now started listening: ask again at once
			// instead of waiting out the probe. The probe may still be
			// answered (its bytes may have been buffered), so it counts
			// as outstanding for settle.
			unanswered++
			continue
		case ctx.Err() != nil:
			return fmt.Errorf("wait for the unit to answer AT: %w", ctx.Err())
		case station.CodeOf(err) == station.UnitUnplugged:
			return err
		case station.CodeOf(err) == station.ModemTimeout:
			unanswered++
		}
		if err := s.pause(ctx, attemptEvery-time.Since(began), deadline); err != nil {
			return err
		}
	}
}

// tryReady sends one probe (two when auto-detect finds the AT host).
func (s *Session) tryReady(ctx context.Context, timeout time.Duration) error {
	if !s.known {
		if err := s.detect(ctx, timeout); err != nil {
			return err
		}
		if s.shell {
			return nil // `at AT` answered OK: ready
		}
	}
	req := request{cmd: "AT", shell: s.shell, bootSync: !s.shell, timeout: timeout}
	if s.shell {
		req.prefix = clearLine
	}
	_, err := s.exchange(ctx, req)
	return err
}

// detect sends the auto-detect probe: `at AT` after Ctrl-L Ctrl-U. OK ⇒
// Zephyr shell; ERROR ⇒ AT host (which does not know the `at` command).
func (s *Session) detect(ctx context.Context, timeout time.Duration) error {
	_, err := s.exchange(ctx, request{cmd: "AT", typed: "at AT", prefix: clearLine, shell: true, probe: true, timeout: timeout})
	switch {
	case err == nil:
		s.shell, s.known = true, true
		s.log.Debug("dialect detected", "dialect", ModeShell)
		return nil
	case errors.Is(err, ErrError):
		s.shell, s.known = false, true
		s.log.Debug("dialect detected", "dialect", ModeAT)
		return nil
	}
	return err
}

// pause waits d (bounded by deadline) between attempts, observing what
// arrives meanwhile.
func (s *Session) pause(ctx context.Context, d time.Duration, deadline time.Time) error {
	d = min(d, time.Until(deadline))
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the unit to answer AT: %w", ctx.Err())
		case <-timer.C:
			return nil
		case t := <-s.tokens:
			s.observeOther(t)
		case <-s.dead:
			return s.unplugged("wait for the unit to answer AT")
		}
	}
}

// settle waits briefly for the answers to earlier unanswered probes.
func (s *Session) settle(ctx context.Context, outstanding int) {
	if outstanding <= 0 {
		return
	}
	timer := time.NewTimer(settleFor)
	defer timer.Stop()
	for outstanding > 0 {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			return
		case <-s.dead:
			return
		case t := <-s.tokens:
			if t.kind == tokLine && isFinal(t.text, s.shell) {
				outstanding--
				s.observe(station.DirRx, t.text)
				continue
			}
			s.observeOther(t)
		}
	}
}

// counters is a snapshot of the reader's byte counts.
type counters struct{ rx, text, tokens int64 }

func (s *Session) snapshot() counters {
	return counters{rx: s.rxBytes.Load(), text: s.textBytes.Load(), tokens: s.textTokens.Load()}
}

// notReady classifies a Ready timeout.
func (s *Session) notReady(base counters) error {
	now := s.snapshot()
	rx, text, lines := now.rx-base.rx, now.text-base.text, now.tokens-base.tokens
	junk := rx - text
	switch {
	case junk > 0 && (lines == 0 || junk > text):
		return station.Errorf(station.ModemGarbled, nil,
			"no answer to AT within %s: %d bytes received, %d of them never formed a text line (%d lines)", s.readyTO, rx, junk, lines)
	case rx == 0:
		return station.Errorf(station.ModemNotReady, nil, "no answer to AT within %s: nothing received", s.readyTO)
	}
	return station.Errorf(station.ModemNotReady, nil, "no answer to AT within %s (%d lines received, none answered it)", s.readyTO, lines)
}
