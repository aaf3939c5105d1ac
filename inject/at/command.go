package at

import (
	"context"
	"errors"
	"fmt"
	"time"

	"nrfline/station"
)

// Response is a command's answer.
type Response struct {
	Lines []string // information text lines that belong to the command, in order
	Final string   // the final result line
}

// Command sends one AT command and waits for its final result, at most
// modem.command_timeout. In shell mode it is typed as `at '<cmd>'` and the
// call returns once the shell printed its prompt again.
//
// Errors: a final result other than OK is returned wrapped as ErrError,
// *CMEError, *CMSError or *ShellError (unclassified: what it means depends
// on the command). Transport failures are *station.Error: MODEM_TIMEOUT (no
// final result in time), UNIT_UNPLUGGED (the port went away). A done ctx
// returns ctx's error.
func (s *Session) Command(ctx context.Context, cmd string) (Response, error) {
	return s.CommandSecret(ctx, cmd, "")
}

// CommandSecret is Command for a command that carries a secret (a PSK as
// hex text): the device gets the real text, while observe, errors and logs
// see the secret replaced by "<redacted sha256:…>" (the uppercase SHA-256 of
// the secret text, which is also what %CMNG lists for a stored PSK).
func (s *Session) CommandSecret(ctx context.Context, cmd, secret string) (Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.known {
		if err := s.detect(ctx, s.cmdTO); err != nil {
			return Response{}, err
		}
	}
	return s.exchange(ctx, request{cmd: cmd, secret: secret, shell: s.shell, timeout: s.cmdTO})
}

// request is one exchange with the device.
type request struct {
	cmd    string // the AT command (decides which lines answer it)
	typed  string // what is typed instead of cmd / ShellLine(cmd), if set
	prefix string // control bytes sent before the line (not observed)
	secret string
	shell  bool // expect echo, and the prompt after the final result
	probe  bool // auto-detect probe: a prompt is expected only after OK
	// bootSync: a readiness probe to an AT host. Its sync line "Ready"
	// arriving before an answer means the host only now started listening:
	// the probe was lost, and waiting out its timeout would only add time.
	bootSync bool
	timeout  time.Duration
}

// line is what gets typed.
func (r request) line() string {
	switch {
	case r.typed != "":
		return r.typed
	case r.shell:
		return ShellLine(r.cmd)
	}
	return r.cmd
}

// exchangeState follows the device's output for one request.
type exchangeState struct {
	req      request
	exp      expect
	st       respState
	echo     echoMatcher
	resp     Response
	final    bool
	refusal  bool // a plain (not log-like) line came after the echo: the shell's complaint?
	noResult bool // the shell came back to its prompt without a final result
	booted   bool // bootSync: the AT host announced itself before answering
}

// errBooted ends a readiness probe that the unit announced "Ready" after.
var errBooted = errors.New("the AT host started after the probe was sent")

func (s *Session) exchange(ctx context.Context, req request) (Response, error) {
	s.red = s.red.with(req.secret)
	red := s.red
	s.drain()
	line := req.line()
	shown := red.text(line)
	if req.shell && len(line) > shellLineMax {
		return Response{}, station.Errorf(station.Internal, nil, "%s: %d characters do not fit the shell's line buffer (%d)", shown, len(line), shellLineMax)
	}
	s.observe(station.DirTx, shown)
	if err := s.write([]byte(req.prefix+line+"\r\n"), "send "+shown); err != nil {
		return Response{}, err
	}
	x := &exchangeState{req: req, exp: expectFor(req.cmd), st: respState{shell: req.shell}}
	if req.shell {
		x.echo.rest = line
	}
	return s.await(ctx, x, red, shown)
}

// await consumes tokens until the exchange is complete, its timer fires,
// ctx ends or the port goes away.
func (s *Session) await(ctx context.Context, x *exchangeState, red redactor, shown string) (Response, error) {
	timer := time.NewTimer(x.req.timeout)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return x.resp, fmt.Errorf("%s: %w", shown, ctx.Err())
		case <-timer.C:
			if x.final {
				s.log.Debug("no shell prompt after the final result", "cmd", shown)
				return x.result(shown)
			}
			return x.resp, station.Errorf(station.ModemTimeout, nil, "%s: no final result within %s", shown, x.req.timeout)
		case t := <-s.tokens:
			if s.consume(x, t, red) {
				if x.booted {
					return x.resp, errBooted
				}
				return x.result(shown)
			}
		case <-s.dead:
			return s.awaitDead(x, red, shown)
		}
	}
}

// awaitDead finishes an exchange whose port went away: what was received
// before still counts.
func (s *Session) awaitDead(x *exchangeState, red redactor, shown string) (Response, error) {
	for {
		select {
		case t := <-s.tokens:
			if s.consume(x, t, red) {
				return x.result(shown)
			}
		default:
			if x.final {
				return x.result(shown)
			}
			return x.resp, s.unplugged(shown)
		}
	}
}

// consume handles one token; true when the exchange is complete.
func (s *Session) consume(x *exchangeState, t token, red redactor) bool {
	switch {
	case t.kind == tokPrompt && x.req.shell && !x.final && x.echo.rest == "" && x.refusal:
		// the shell complained ("command not found", "not terminated") and
		// is back at its prompt; a prompt reprinted after a log line alone
		// does not end the command
		x.noResult = true
		return true
	case t.kind == tokPrompt:
		return x.final
	case t.kind == tokJunk:
		s.observe(station.DirLog, red.line(t.text))
		return false
	case t.text == "":
		return false
	case x.req.shell && !x.final && x.echo.take(t.text):
		return false // the shell's echo of what we typed (already shown as tx)
	}
	if x.final {
		s.observe(station.DirLog, red.line(t.text))
		return false
	}
	switch classifyLine(x.exp, &x.st, t.text) {
	case kindFinal:
		s.observe(station.DirRx, red.line(t.text))
		x.resp.Final, x.final = t.text, true
		return !x.needPrompt()
	case kindResponse:
		s.observe(station.DirRx, red.line(t.text))
		x.resp.Lines = append(x.resp.Lines, t.text)
	default:
		s.observe(station.DirLog, red.line(t.text))
		x.refusal = x.refusal || (x.req.shell && x.echo.rest == "" && !looksUnsolicited(t.text))
		if x.req.bootSync && t.text == atHostReady {
			x.booted = true
			return true
		}
	}
	return false
}

// needPrompt: in the shell the exchange ends when the prompt is back, so
// the next command is not typed into a busy shell.
func (x *exchangeState) needPrompt() bool {
	if !x.req.shell {
		return false
	}
	return !x.req.probe || x.resp.Final == "OK"
}

func (x *exchangeState) result(shown string) (Response, error) {
	if x.noResult {
		return x.resp, fmt.Errorf("%s: %w", shown, ErrNoResult)
	}
	if err := finalError(x.resp.Final); err != nil {
		return x.resp, fmt.Errorf("%s: %w", shown, err)
	}
	return x.resp, nil
}
