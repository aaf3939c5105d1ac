package portal

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"nrfline/station"
)

// Bounds of a reply: a portal's answers are a few hundred bytes. A bigger
// one is not the portal's API talking (a proxy, a misrouted URL, a hostile
// server: an 8 MB header once cost 91 MB of RSS) and fails the request.
const (
	maxReply  = 64 << 10 // body
	maxHeader = 64 << 10 // all header lines
)

// errReplyTooLarge is a reply over a bound; it is not retried.
var errReplyTooLarge = errors.New("reply too large")

// client sends the portal's HTTP requests: a per-request timeout, retries
// with exponential backoff on network errors and 5xx only, the configured
// Authorization, TLS verification always on, and no redirects followed.
type client struct {
	hc      *http.Client
	timeout time.Duration
	retries int
	first   time.Duration
	max     time.Duration
	clock   station.Clock
	auth    authorization
	log     *slog.Logger
}

// call is one HTTP request. op names it for operators ("bootstrap
// security"); body may carry a key and is never logged.
type call struct {
	op     string
	method string
	url    string
	header http.Header
	body   []byte
}

// reply is a received response.
type reply struct {
	status   int
	body     []byte
	attempts int
}

// StatusError is a portal reply with an unexpected HTTP status. Body is a
// short excerpt with every secret masked.
type StatusError struct {
	Method string
	URL    string // secrets and passwords masked
	Status int
	Body   string
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s %s: HTTP %d %s", e.Method, e.URL, e.Status, http.StatusText(e.Status))
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

func newHTTPClient(roots *x509.CertPool) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Verification stays on: only the roots may be replaced (WithRootCAs).
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
	tr.MaxResponseHeaderBytes = maxHeader
	return &http.Client{
		Transport: tr,
		// A redirect is reported, not followed: a bootstrap portal that
		// moves is a configuration problem, and a credential must not
		// follow it anywhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// send performs c with retries and returns the last reply (whatever its
// status, also a 5xx after the retries are spent). A network failure after
// the retries is PORTAL_UNREACHABLE; a cancelled ctx is returned as is.
func (cl *client) send(ctx context.Context, c call, red redactor) (reply, error) {
	for attempt := 1; ; attempt++ {
		rep, err := cl.once(ctx, c, red)
		rep.attempts = attempt
		switch {
		case err == nil && rep.status < 500:
			return rep, nil
		case err != nil && ctx.Err() != nil:
			return reply{}, cl.stopped(ctx, c, red)
		case err != nil && permanent(err):
			return reply{}, station.Errorf(station.PortalUnreachable, red.err(err), "%s (not retried)", c.op)
		case attempt > cl.retries && err != nil:
			return reply{}, station.Errorf(station.PortalUnreachable, red.err(err), "%s: no answer after %d attempts", c.op, attempt)
		case attempt > cl.retries:
			return rep, nil
		}
		wait := cl.backoff(attempt)
		cl.log.Warn("portal request failed, retrying", "op", c.op, "method", c.method, "url", red.url(c.url),
			"attempt", attempt, "status", rep.status, "err", red.err(err), "retry_in", wait)
		if err := cl.pause(ctx, wait); err != nil {
			return reply{}, cl.stopped(ctx, c, red)
		}
	}
}

// stopped reports that ctx ended during c: a spent deadline means the
// portal did not answer in time; a cancellation is the caller's.
func (cl *client) stopped(ctx context.Context, c call, red redactor) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return station.Errorf(station.PortalUnreachable, ctx.Err(), "%s: %s %s: no answer in time", c.op, c.method, red.url(c.url))
	}
	return fmt.Errorf("%s: %s %s: %w", c.op, c.method, red.url(c.url), ctx.Err())
}

// once sends c a single time within the per-request timeout.
func (cl *client) once(ctx context.Context, c call, red redactor) (reply, error) {
	ctx, cancel := context.WithTimeout(ctx, cl.timeout)
	defer cancel()
	var body io.Reader
	if c.body != nil {
		body = bytes.NewReader(c.body)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, c.url, body)
	if err != nil {
		return reply{}, &requestError{err: err}
	}
	for k, vs := range c.header {
		req.Header[k] = append([]string(nil), vs...)
	}
	if cl.auth.header != "" && req.Header.Get("Authorization") == "" {
		req.Header.Set("Authorization", cl.auth.header)
	}
	start := time.Now()
	resp, err := cl.hc.Do(req)
	if err != nil {
		if strings.Contains(err.Error(), "response headers exceeded") { // net/http has no typed error for it
			return reply{}, fmt.Errorf("header of more than %d KiB: %w", maxHeader>>10, errReplyTooLarge)
		}
		return reply{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxReply+1))
	if err != nil {
		return reply{}, fmt.Errorf("read reply: %w", err)
	}
	if len(b) > maxReply {
		return reply{}, fmt.Errorf("HTTP %d with a body of more than %d KiB: %w", resp.StatusCode, maxReply>>10, errReplyTooLarge)
	}
	cl.log.Debug("portal request", "op", c.op, "method", c.method, "path", red.text(req.URL.EscapedPath()),
		"status", resp.StatusCode, "elapsed", time.Since(start))
	return reply{status: resp.StatusCode, body: b}, nil
}

// requestError marks a request that could not even be built (a bad URL):
// retrying cannot help.
type requestError struct{ err error }

func (e *requestError) Error() string { return "build request: " + e.err.Error() }
func (e *requestError) Unwrap() error { return e.err }

// permanent reports failures that a retry cannot fix: an untrusted or
// mismatched certificate, a request that cannot be built, a reply over
// the bounds.
func permanent(err error) bool {
	var (
		re  *requestError
		cve *tls.CertificateVerificationError
		ua  x509.UnknownAuthorityError
		he  x509.HostnameError
		ci  x509.CertificateInvalidError
	)
	return errors.Is(err, errReplyTooLarge) || errors.As(err, &re) || errors.As(err, &cve) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci)
}

// backoff is the wait after the given failed attempt: first, doubling, at
// most max.
func (cl *client) backoff(attempt int) time.Duration {
	d := cl.first
	for i := 1; i < attempt && d < cl.max; i++ {
		d *= 2
	}
	return min(d, cl.max)
}

// pause waits d on the injected clock, or until ctx ends.
func (cl *client) pause(ctx context.Context, d time.Duration) error {
	select {
	case <-cl.clock.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// check classifies a reply whose status is not in expect: 5xx →
// PORTAL_SERVER_ERROR, 409 → PORTAL_CONFLICT, anything else →
// PORTAL_REJECTED. The detail names the operation; the *StatusError holds
// status and a redacted body excerpt.
//
// An expected status whose body is not JSON although the request asked for
// JSON (Accept: application/json, as the leshan and coiote kinds do) is
// PORTAL_UNREACHABLE: whatever answered was not the portal's API — a
// proxy's login page answers 200 too.
func check(c call, rep reply, expect func(int) bool, red redactor) error {
	if expect(rep.status) {
		if wantsJSON(c) && !jsonOrEmpty(rep.body) {
			return station.Errorf(station.PortalUnreachable, statusError(c, rep, red),
				"%s: the answer is not JSON: is portal.url the portal's API (not a proxy or login page)?", c.op)
		}
		return nil
	}
	se := statusError(c, rep, red)
	switch {
	case rep.status >= 500:
		return station.Errorf(station.PortalServerError, se, "%s (after %d attempts)", c.op, rep.attempts)
	case rep.status == http.StatusConflict:
		return station.Errorf(station.PortalConflict, se, "%s", c.op)
	default:
		return station.Errorf(station.PortalRejected, se, "%s", c.op)
	}
}

func statusError(c call, rep reply, red redactor) *StatusError {
	return &StatusError{Method: c.method, URL: red.url(c.url), Status: rep.status, Body: excerpt(red, rep.body)}
}

func wantsJSON(c call) bool {
	return strings.Contains(c.header.Get("Accept"), "application/json")
}

func jsonOrEmpty(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) == 0 || json.Valid(b)
}

// success accepts any 2xx.
func success(status int) bool { return status >= 200 && status <= 299 }

// oneOf accepts the listed statuses, or any 2xx when the list is empty.
func oneOf(codes []int) func(int) bool {
	if len(codes) == 0 {
		return success
	}
	return func(status int) bool {
		for _, c := range codes {
			if c == status {
				return true
			}
		}
		return false
	}
}

// jsonHeader is the header of a JSON request.
func jsonHeader() http.Header {
	return http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}}
}
