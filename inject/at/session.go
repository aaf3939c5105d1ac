// Package at is the station's AT session with one nRF91 unit over its
// serial port (modem-at.md): line framing of both dialects (the AT host and
// the Zephyr shell with the AT shell), final results, URCs and log lines kept
// apart from responses, the wait for a unit to answer after a reset, and
// following the unit's log.
//
// A Session owns its port. One reader goroutine reads without a timeout
// (data, a hangup or Close wake it) and cuts the bytes into tokens (lines, prompts, junk) on a channel. The
// tokens are consumed under the session's exchange lock, one consumer at a
// time and in arrival order: by a method call on the caller's goroutine, or,
// while no call runs, by the pump goroutine, which drains what is queued
// as soon as the reader queued it (or, while a call runs, right after it)
// so the boot log and lines between steps reach the transcript at their time. observe is therefore called from the caller's
// goroutine and from the pump's, never from two at once; a caller whose
// observe touches shared state must still expect the pump's goroutine
// (station's run serialises its events with emitMu for this reason).
package at

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.bug.st/serial"

	"nrfline/station"
)

// Defaults for zero values in station.ModemConfig.
const (
	DefaultBaud           = 115200
	DefaultCommandTimeout = 10 * time.Second
	DefaultReadyTimeout   = 30 * time.Second

	queueSize = 4096 // tokens buffered between calls
)

// Dialects.
const (
	ModeAT    = "at"
	ModeShell = "shell"
	ModeAuto  = "auto"
)

// Option tunes Open.
type Option func(*options)

type options struct {
	log *slog.Logger
}

// WithLogger gives the session a logger for diagnostics (never secrets).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// Session is an open AT session with one unit.
type Session struct {
	path    string
	port    serial.Port
	lock    *portLock // exclusive use of the port; released by Close
	mode    string    // configured: at | shell | auto
	cmdTO   time.Duration
	readyTO time.Duration
	observe func(dir, line string)
	log     *slog.Logger

	tokens  chan token
	dead    chan struct{} // closed when the reader stopped on its own
	deadErr error         // why (an *UnplugError); set before dead is closed
	closing atomic.Bool
	done    chan struct{} // closed when the reader goroutine returned

	dropped    atomic.Int64 // tokens lost because nobody consumed them
	rxBytes    atomic.Int64 // every byte received
	textBytes  atomic.Int64 // bytes that formed text lines or prompts
	textTokens atomic.Int64 // text lines and prompts received

	mu    sync.Mutex // one exchange (command, ready, follow) at a time
	shell bool       // talking to a Zephyr shell (configured or detected)
	known bool       // the dialect is known (not auto, or detected)
	// red hides every secret sent in this session from then on until
	// Close: the shell may echo a key late, after its command timed out.
	red redactor

	urcs urcLog // the last unsolicited result codes seen, for AwaitLine

	quit     chan struct{} // closed by Close: the pump stops
	arrived  chan struct{} // the reader queued tokens (capacity 1): wakes the pump
	pumpDone chan struct{} // closed when the pump returned

	closeOnce sync.Once
	closeErr  error
}

// Open opens the unit's serial port and starts the reader. observe
// receives every line: DirTx what is sent, DirRx response and final lines,
// DirLog everything else, with secrets redacted; it may be nil. observe is
// called on the goroutine of the method call in progress (and by Close) and
// must not call back into the session. Failures
// are *station.Error: PORT_UNAVAILABLE (busy, no permission, not a serial
// port) or UNIT_UNPLUGGED (the port does not exist).
func Open(ctx context.Context, path string, cfg station.ModemConfig, observe func(dir, line string), opts ...Option) (*Session, error) {
	o := options{log: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if cfg.RTSCTS {
		return nil, station.Errorf(station.PortUnavailable, nil,
			"port %s: modem.rtscts = true is not supported by the serial driver (go.bug.st/serial v1.8.0 always disables RTS/CTS); set it to false", path)
	}
	lock, err := lockPort(path)
	if err != nil {
		return nil, err
	}
	port, err := openPort(path, baud(cfg.Baud), o.log)
	if err != nil {
		lock.release()
		return nil, err
	}
	s := newSession(path, port, cfg, observe, o.log)
	s.lock = lock
	go s.reader()
	go s.pump()
	return s, nil
}

// idlePoll is how often the pump tries again to show what the unit printed
// while an exchange holds the session: the exchange takes what it needs,
// the pump shows the rest once it is over.
const idlePoll = 100 * time.Millisecond

// pump shows the unit's output as it arrives while no exchange is running
// (the boot log during the flash step, log lines between steps), so the
// transcript holds each line at its time and step. It never competes with
// an exchange for tokens: it only drains what is queued, and only while it
// holds the exchange lock.
//
// It wakes when the reader queued something, not on a timer: an idle unit
// costs nothing.
func (s *Session) pump() {
	defer close(s.pumpDone)
	for {
		select {
		case <-s.quit:
			return
		case <-s.arrived:
		}
		for !s.mu.TryLock() {
			select {
			case <-s.quit:
				return
			case <-time.After(idlePoll):
			}
		}
		s.drain()
		s.mu.Unlock()
	}
}

func newSession(path string, port serial.Port, cfg station.ModemConfig, observe func(dir, line string), log *slog.Logger) *Session {
	if observe == nil {
		observe = func(string, string) {}
	}
	s := &Session{
		path: path, port: port, mode: cfg.Mode,
		cmdTO: orDefault(cfg.CommandTimeout.Duration, DefaultCommandTimeout), readyTO: orDefault(cfg.ReadyTimeout.Duration, DefaultReadyTimeout),
		log:    log.With("port", path),
		tokens: make(chan token, queueSize), dead: make(chan struct{}), done: make(chan struct{}),
		quit: make(chan struct{}), pumpDone: make(chan struct{}), arrived: make(chan struct{}, 1),
	}
	// Every line consumed as a log line passes here, whoever consumed it
	// (an exchange, the pump, Follow): URCs are kept for AwaitLine.
	s.observe = func(dir, line string) {
		if dir == station.DirLog {
			s.urcs.add(line)
		}
		observe(dir, line)
	}
	switch cfg.Mode {
	case ModeShell:
		s.shell, s.known = true, true
	case ModeAuto:
	default:
		s.mode, s.known = ModeAT, true
	}
	return s
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func baud(b int) int {
	if b <= 0 {
		return DefaultBaud
	}
	return b
}

// openPort opens path 8N1 with DTR and RTS asserted (a DK's VCOM drops
// output while DTR is low, modem-at.md §9). A pseudo-terminal (the virtual
// line) has no modem control lines: the TIOCMGET/TIOCMSET ioctls fail with
// ENOTTY and go.bug.st/serial then refuses the port as InvalidSerialPort.
// So on InvalidSerialPort the port is opened again without touching the
// modem bits; if that works, the first failure was the modem bits, and DTR
// is set (best effort) afterwards.
func openPort(path string, baud int, log *slog.Logger) (serial.Port, error) {
	mode := &serial.Mode{BaudRate: baud, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit,
		InitialStatusBits: &serial.ModemOutputBits{DTR: true, RTS: true}}
	p, err := serial.Open(path, mode)
	var pe *serial.PortError
	if err != nil && errors.As(err, &pe) && pe.Code() == serial.InvalidSerialPort {
		plain := *mode
		plain.InitialStatusBits = nil
		if p2, err2 := serial.Open(path, &plain); err2 == nil {
			log.Debug("port has no modem control lines (pty?); opened without setting DTR/RTS", "port", path, "err", err)
			p, err = p2, nil
		}
	}
	if err != nil {
		return nil, openError(path, err)
	}
	// No read timeout: the reader blocks until data, a hangup (the unit
	// left) or Close. A short poll cost every idle port a syscall 20 times
	// a second, and with 32 units the Go scheduler's monitor never rested
	// (about half the station's CPU on a busy line).
	if err := p.SetReadTimeout(serial.NoTimeout); err != nil {
		p.Close()
		return nil, station.Errorf(station.PortUnavailable, err, "set the read timeout of %s", path)
	}
	return p, nil
}

// openError classifies a failed open.
func openError(path string, err error) error {
	var pe *serial.PortError
	if errors.As(err, &pe) {
		switch pe.Code() {
		case serial.PortBusy:
			return station.Errorf(station.PortUnavailable, err, "port %s is busy: another program (a terminal, ModemManager, a second station) holds it", path)
		case serial.PermissionDenied:
			return station.Errorf(station.PortUnavailable, err, "no permission to open %s: add the station's user to the dialout group (then log in again)", path)
		case serial.PortNotFound:
			return station.Errorf(station.UnitUnplugged, err, "port %s does not exist: unit unplugged, or the slot's port is wrong", path)
		}
		return station.Errorf(station.PortUnavailable, err, "open %s", path)
	}
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ENODEV) || errors.Is(err, syscall.ENXIO) {
		return station.Errorf(station.UnitUnplugged, err, "port %s does not exist: unit unplugged, or the slot's port is wrong", path)
	}
	return station.Errorf(station.PortUnavailable, err, "open %s", path)
}

// Shell reports whether the session talks to a Zephyr shell.
func (s *Session) Shell() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shell
}

// Path is the port the session owns.
func (s *Session) Path() string { return s.path }

// Gone reports whether the port went away under the reader (unplug).
func (s *Session) Gone() bool {
	select {
	case <-s.dead:
		return true
	default:
		return false
	}
}

// reader is the only goroutine that reads the port.
func (s *Session) reader() {
	defer close(s.done)
	var u unframer
	buf := make([]byte, 4096)
	for {
		n, err := s.port.Read(buf)
		if n > 0 {
			s.rxBytes.Add(int64(n))
			u.feed(buf[:n], time.Now(), s.push)
			select {
			case s.arrived <- struct{}{}:
			default: // the pump is already awake
			}
		}
		if err != nil {
			if !s.closing.Load() {
				s.deadErr = &UnplugError{Port: s.path, Err: err}
				close(s.dead)
			}
			return
		}
	}
}

// push queues a token without ever blocking the reader.
func (s *Session) push(t token) {
	if t.kind != tokJunk {
		s.textBytes.Add(int64(t.raw))
		if t.kind == tokPrompt || t.text != "" {
			s.textTokens.Add(1)
		}
	}
	select {
	case s.tokens <- t:
	default:
		s.dropped.Add(1)
	}
}

// unplugged is the classified error for a port that went away.
func (s *Session) unplugged(doing string) error {
	return station.Errorf(station.UnitUnplugged, s.deadErr, "%s", doing)
}

// write sends b; a failed write means the port is gone.
func (s *Session) write(b []byte, doing string) error {
	select {
	case <-s.dead:
		return s.unplugged(doing)
	default:
	}
	if _, err := s.port.Write(b); err != nil {
		return station.Errorf(station.UnitUnplugged, &UnplugError{Port: s.path, Err: err}, "%s", doing)
	}
	return nil
}

// drain observes every token already queued as a log line. Called at the
// start of each exchange, so nothing stale is taken for an answer.
func (s *Session) drain() {
	for {
		select {
		case t := <-s.tokens:
			s.observeOther(t)
		default:
			s.reportDropped()
			return
		}
	}
}

func (s *Session) reportDropped() {
	if n := s.dropped.Swap(0); n > 0 {
		s.observe(station.DirLog, fmt.Sprintf("--- %d lines dropped by the station: nobody was reading the port ---", n))
	}
}

// observeOther shows a token that is not part of an answer.
func (s *Session) observeOther(t token) {
	switch {
	case t.kind == tokPrompt, t.kind == tokLine && t.text == "":
	default:
		s.observe(station.DirLog, s.red.line(t.text))
	}
}

// Close stops the reader and the pump and closes the port. Lines still
// queued are observed before Close returns when no call is running, so
// nothing is observed after it. Safe to call more than once.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		close(s.quit)
		s.closeErr = s.port.Close()
		<-s.done
		<-s.pumpDone
		s.lock.release() // after the port: the next holder finds it closed
		if s.mu.TryLock() {
			s.drain()
			s.red = redactor{}
			s.mu.Unlock()
		}
	})
	if s.closeErr != nil {
		return fmt.Errorf("close %s: %w", s.path, s.closeErr)
	}
	return nil
}
