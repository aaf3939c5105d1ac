package portal

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"nrfline/station"
)

// Defaults for settings the config leaves at zero.
const (
	DefaultTimeout = 15 * time.Second       // per request
	DefaultBackoff = 500 * time.Millisecond // wait after the first failed attempt; doubles
	MaxBackoff     = 8 * time.Second        // longest wait between attempts
)

// Option adjusts a portal built by New.
type Option func(*settings)

type settings struct {
	roots     *x509.CertPool
	first     time.Duration
	max       time.Duration
	clock     station.Clock
	stationID string
}

// WithRootCAs trusts pool instead of the system roots (a private CA, or a
// test server's certificate). Verification itself is never turned off;
// SSL_CERT_FILE / SSL_CERT_DIR work as well.
func WithRootCAs(pool *x509.CertPool) Option { return func(s *settings) { s.roots = pool } }

// WithBackoff sets the wait after the first failed attempt (doubling after
// each further failure) and its ceiling.
func WithBackoff(first, max time.Duration) Option {
	return func(s *settings) { s.first, s.max = first, max }
}

// WithClock sets the clock the retry backoff waits on.
func WithClock(c station.Clock) Option { return func(s *settings) { s.clock = c } }

// WithStationID sets the station_id template variable of the "http" kind.
func WithStationID(id string) Option { return func(s *settings) { s.stationID = id } }

// None is the "none" portal: units are registered elsewhere.
type None struct{}

var _ station.Portal = None{}

// Register does nothing.
func (None) Register(context.Context, station.Registration) error { return nil }

// New builds the portal that cfg.Kind names: *Leshan, *Coiote, *HTTP or
// None. getenv (os.Getenv when nil) reads the token named by
// cfg.TokenEnv; a set token_env whose variable is empty is a
// configuration error, as are bad URLs and templates.
func New(cfg station.PortalConfig, getenv func(string) string, logger *slog.Logger, opts ...Option) (station.Portal, error) {
	if cfg.Kind == "none" {
		return None{}, nil
	}
	s := settings{first: DefaultBackoff, max: MaxBackoff, clock: station.SystemClock{}}
	for _, o := range opts {
		o(&s)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("portal", cfg.Kind)
	cl, err := newClient(cfg, getenv, s, logger)
	if err != nil {
		return nil, err
	}
	switch cfg.Kind {
	case "leshan":
		return newLeshan(cfg, cl)
	case "coiote":
		return newCoiote(cfg, cl)
	case "http":
		return newHTTP(cfg, cl, s.stationID)
	}
	return nil, fmt.Errorf("portal.kind: unknown kind %q (leshan, coiote, http, none)", cfg.Kind)
}

func newClient(cfg station.PortalConfig, getenv func(string) string, s settings, logger *slog.Logger) (*client, error) {
	if cfg.Retries < 0 {
		return nil, fmt.Errorf("portal.retries: %d is negative", cfg.Retries)
	}
	if s.first <= 0 || s.max < s.first {
		return nil, fmt.Errorf("portal backoff %v..%v invalid", s.first, s.max)
	}
	auth, err := readAuth(cfg.TokenEnv, getenv)
	if err != nil {
		return nil, err
	}
	timeout := cfg.Timeout.Duration
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &client{
		hc: newHTTPClient(s.roots), timeout: timeout, retries: cfg.Retries,
		first: s.first, max: s.max, clock: s.clock, auth: auth, log: logger,
	}, nil
}

// authorization is the Authorization header every request carries, and
// the secrets it is made of (for redaction).
type authorization struct {
	header  string
	token   string // the variable's value, for the "http" kind's templates
	secrets []string
}

// readAuth reads the token variable. Its value is a bearer token, or
// "Basic user:password" for HTTP Basic authentication.
func readAuth(name string, getenv func(string) string) (authorization, error) {
	if name == "" {
		return authorization{}, nil
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return authorization{}, fmt.Errorf("portal.token_env: environment variable %s is not set or empty", name)
	}
	if scheme, cred, ok := strings.Cut(v, " "); ok && strings.EqualFold(scheme, "basic") {
		cred = strings.TrimSpace(cred)
		if !strings.Contains(cred, ":") {
			return authorization{}, fmt.Errorf("portal.token_env: %s: Basic credentials must read \"Basic user:password\"", name)
		}
		enc := base64.StdEncoding.EncodeToString([]byte(cred))
		_, pass, _ := strings.Cut(cred, ":")
		return authorization{header: "Basic " + enc, token: v, secrets: []string{v, enc, cred, pass}}, nil
	}
	if strings.ContainsAny(v, " \t\r\n") {
		return authorization{}, fmt.Errorf("portal.token_env: %s holds whitespace; expected a bearer token or \"Basic user:password\"", name)
	}
	return authorization{header: "Bearer " + v, token: v, secrets: []string{v}}, nil
}

// checkBaseURL accepts an absolute http(s) URL with a host, without query
// or fragment, and returns it without a trailing slash.
func checkBaseURL(key, raw string) (string, error) {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return "", fmt.Errorf("%s: required", key)
	case err != nil:
		return "", fmt.Errorf("%s: %w", key, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("%s: %q: scheme must be http or https", key, u.Redacted())
	case u.Host == "":
		return "", fmt.Errorf("%s: %q: no host", key, u.Redacted())
	case u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("%s: %q: no query or fragment allowed", key, u.Redacted())
	case u.User != nil:
		return "", fmt.Errorf("%s: %q: credentials in the URL are not allowed; use portal.token_env", key, u.Redacted())
	}
	return strings.TrimRight(raw, "/"), nil
}

// checkRegistration rejects a registration the engine should never send.
func checkRegistration(r station.Registration, needTarget bool) error {
	var missing []string
	if r.Endpoint == "" {
		missing = append(missing, "endpoint")
	}
	if r.Bootstrap.Identity == "" || r.Bootstrap.Key.IsZero() {
		missing = append(missing, "bootstrap credential")
	}
	if needTarget && (r.Target.Identity == "" || r.Target.Key.IsZero()) {
		missing = append(missing, "target credential")
	}
	if len(missing) > 0 {
		return station.Errorf(station.Internal, errors.New("incomplete registration"), "portal registration lacks %s", strings.Join(missing, ", "))
	}
	return nil
}

// redactorFor covers the registration's keys and the client's credentials.
func (cl *client) redactorFor(r station.Registration) redactor {
	return newRedactor(cl.auth.secrets, r.Bootstrap.Key, r.Target.Key)
}
