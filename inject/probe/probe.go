// Package probe is the station's own bootstrap check: before a unit is
// reset, the station runs the LwM2M bootstrap exchange itself, over
// DTLS-PSK with the unit's bootstrap credentials, exactly as the unit
// will, and reports which LwM2M server the bootstrap server hands out.
// The engine compares that URI with portal.target_uri.
//
// The probe is a real bootstrap session: it proves the portal registration
// reached the bootstrap server, that the server accepts the unit's
// identity and key, and that its config is complete, without waiting for
// the unit's modem to attach. The keys delivered to the probe are wiped
// and never logged.
package probe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"nrfline/lwm2m"
	"nrfline/station"
)

// Prober runs bootstrap probes. The zero value is not usable; use New.
type Prober struct {
	log  *slog.Logger
	opts []lwm2m.ClientOption
}

var _ station.Prober = (*Prober)(nil)

// New returns a Prober that logs to logger (discarded when nil).
func New(logger *slog.Logger) *Prober {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Prober{log: logger}
}

// WithClientOptions returns a copy of p that passes opts to every
// lwm2m.Bootstrap call (cipher suites, finish linger).
func (p *Prober) WithClientOptions(opts ...lwm2m.ClientOption) *Prober {
	q := *p
	q.opts = append(append([]lwm2m.ClientOption(nil), p.opts...), opts...)
	return &q
}

// Probe runs a Bootstrap-Request for req.Endpoint at req.ServerURI
// (coaps:// with req.Credential as the DTLS PSK, or coap://) and returns
// the URIs of the servers delivered: for each Server instance, in
// instance order, the URI of the Security instance with its Short Server
// ID. Every failure is PROBE_FAILED (4.xx answer, DTLS handshake, no
// answer to the request within req.AnswerTimeout, no answer until ctx's
// deadline, nothing to hand out), except a cancelled ctx, which is
// returned as is. A session that breaks off for another reason is tried
// again, up to maxAttempts sessions in all.
func (p *Prober) Probe(ctx context.Context, req station.ProbeRequest) ([]string, error) {
	c := req.Credential
	if err := check(req.ServerURI, req.Endpoint, c); err != nil {
		return nil, err
	}
	log := p.log.With("endpoint", req.Endpoint, "server", req.ServerURI, "identity", c.Identity, "key", c.Key)
	d, err := p.bootstrap(ctx, req, log)
	if err != nil {
		return nil, p.failed(ctx, err, req.AnswerTimeout, log)
	}
	defer wipe(d)
	uris, err := targets(d)
	if err != nil {
		log.Info("bootstrap probe failed", "err", err)
		return nil, err
	}
	log.Info("bootstrap probe passed", "target_uris", uris, "security", len(d.Security), "servers", len(d.Servers),
		"format", lwm2m.FormatName(d.Format))
	return uris, nil
}

// bootstrap runs up to maxAttempts sessions until one ends other than by
// breaking off.
func (p *Prober) bootstrap(ctx context.Context, req station.ProbeRequest, log *slog.Logger) (*lwm2m.Delivered, error) {
	psk := &lwm2m.PSK{Identity: req.Credential.Identity, Key: req.Credential.Key.Bytes()}
	defer clear(psk.Key)
	opts := append([]lwm2m.ClientOption{lwm2m.WithLogger(log), lwm2m.WithAnswerTimeout(req.AnswerTimeout)}, p.opts...)
	for attempt := 1; ; attempt++ {
		log.Debug("bootstrap probe started", "attempt", attempt)
		d, err := lwm2m.Bootstrap(ctx, req.ServerURI, req.Endpoint, psk, opts...)
		if err == nil || attempt == maxAttempts || !broken(ctx, err) {
			return d, err
		}
		log.Info("bootstrap session broke off", "attempt", attempt, "err", err)
	}
}

// maxAttempts bounds the bootstrap sessions of one probe. A session can
// break off at its very end against a server that closes the connection
// as soon as Finish is answered (lwm2m's own BootstrapServer does; under
// load about one session in twenty): retries keep that from failing units.
const maxAttempts = 3

// broken reports a session that broke off for another reason than a
// refusal (4.xx), a failed handshake, a server that did not answer or the
// end of ctx: the connection closed under it (its own context cancelled),
// a transfer failed. Worth another session.
func broken(ctx context.Context, err error) bool {
	var re *lwm2m.ResponseError
	return ctx.Err() == nil && !errors.As(err, &re) && !errors.Is(err, lwm2m.ErrHandshake) && !errors.Is(err, lwm2m.ErrNoAnswer)
}

// check rejects a probe that cannot work: a configuration or engine error.
func check(serverURI, endpoint string, c station.Credential) error {
	switch {
	case serverURI == "":
		return station.Errorf(station.ProbeFailed, nil, "no bootstrap server URI (bootstrap.server_uri)")
	case !strings.HasPrefix(serverURI, "coaps://") && !strings.HasPrefix(serverURI, "coap://"):
		return station.Errorf(station.ProbeFailed, nil, "bootstrap server URI %q is not coap:// or coaps://", serverURI)
	case endpoint == "":
		return station.Errorf(station.Internal, errors.New("empty endpoint"), "bootstrap probe")
	case strings.HasPrefix(serverURI, "coaps://") && (c.Identity == "" || c.Key.IsZero()):
		return station.Errorf(station.Internal, errors.New("no PSK"), "bootstrap probe over coaps needs the unit's identity and key")
	}
	return nil
}

// failed classifies a failed bootstrap exchange; wait is the answer
// timeout it ran with.
func (p *Prober) failed(ctx context.Context, err error, wait time.Duration, log *slog.Logger) error {
	var re *lwm2m.ResponseError
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return fmt.Errorf("bootstrap probe: %w", err)
	case errors.As(err, &re):
		err = station.Errorf(station.ProbeFailed, err, "bootstrap server answered %s to %s: endpoint unknown there, no bootstrap config, or identity/endpoint mismatch",
			lwm2m.CodeText(re.Code), re.Op)
	case errors.Is(err, lwm2m.ErrNoAnswer):
		err = station.Errorf(station.ProbeFailed, err, "bootstrap server did not answer the Bootstrap-Request within %v: endpoint unknown to a server that stays silent, or nothing serving there", wait)
	case errors.Is(err, lwm2m.ErrHandshake):
		err = station.Errorf(station.ProbeFailed, err, "DTLS handshake with the bootstrap server failed: identity unknown there, wrong key, or nothing listening")
	case errors.Is(err, context.DeadlineExceeded):
		err = station.Errorf(station.ProbeFailed, err, "bootstrap did not finish in time")
	default:
		err = station.Errorf(station.ProbeFailed, err, "bootstrap exchange failed")
	}
	log.Info("bootstrap probe failed", "err", err)
	return err
}

// targets pairs each delivered Server instance with the Security
// instance of its Short Server ID, as the unit does, and returns their
// URIs in Server instance order.
func targets(d *lwm2m.Delivered) ([]string, error) {
	accounts := map[uint16]lwm2m.SecurityInstance{}
	for _, s := range d.Security {
		if !s.BootstrapServer {
			accounts[s.ShortServerID] = s
		}
	}
	var uris []string
	for _, srv := range d.Servers {
		s, ok := accounts[srv.ShortServerID]
		switch {
		case !ok:
			return nil, station.Errorf(station.ProbeFailed, nil, "server instance %d (short server id %d) delivered without a security account", srv.ID, srv.ShortServerID)
		case s.URI == "":
			return nil, station.Errorf(station.ProbeFailed, nil, "security instance %d delivered without a server URI", s.ID)
		}
		uris = append(uris, s.URI)
	}
	if len(uris) == 0 {
		return nil, station.Errorf(station.ProbeFailed, nil, "bootstrap server delivered no LwM2M server (%d security instances, %d server instances)", len(d.Security), len(d.Servers))
	}
	return uris, nil
}

// wipe clears the secret keys a bootstrap delivered.
func wipe(d *lwm2m.Delivered) {
	for i := range d.Security {
		clear(d.Security[i].SecretKey)
	}
}
