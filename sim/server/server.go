// Package server runs the virtual line's servers on loopback: a Leshan-like
// bootstrap portal (HTTP), the LwM2M bootstrap server it feeds (CoAP and
// CoAPs), and a LwM2M DM server (CoAPs registration plus Leshan's security
// and client-listing HTTP API). Everything is kept in memory.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"nrfline/lwm2m"
)

// Fault is what goes wrong for one endpoint.
type Fault struct {
	Portal500       bool // every portal request concerning the endpoint answers 500
	PortalSlow      bool // every such request is delayed 5 s (scaled by Config.Delay)
	PortalTimeout   bool // such requests are never answered (until the client gives up or Close)
	BootstrapReject bool // the bootstrap server answers 4.00 to the endpoint's POST /bs
}

// Faults decides the faults of an endpoint; it is called on every request
// concerning one, so it may change its answer over time.
type Faults func(endpoint string) Fault

// Config configures Start. Every field is optional.
type Config struct {
	Logger *slog.Logger
	Faults Faults
	// Delay scales a simulated delay (the sim divides by its speed factor);
	// default: unchanged.
	Delay func(time.Duration) time.Duration
	// OnRequest is called when a portal request (bootstrap portal or DM
	// security API) concerning endpoint arrives, before faults apply.
	OnRequest func(endpoint string)

	// Listen addresses; default "127.0.0.1:0" each.
	PortalAddr        string // HTTP, bootstrap server management API
	DMAPIAddr         string // HTTP, DM server security and clients API
	BootstrapAddr     string // CoAPs (DTLS-PSK)
	BootstrapCoAPAddr string // CoAP (plain UDP)
	DMAddr            string // CoAPs (DTLS-PSK)
}

// Servers are the running virtual servers.
type Servers struct {
	log      *slog.Logger
	closing  chan struct{}
	bsCreds  *credStore
	dmCreds  *credStore
	configs  *configStore
	bs       *lwm2m.BootstrapServer
	rd       *lwm2m.RegistrationServer
	portal   *httpServer
	dmAPI    *httpServer
	bsCoAPs  *lwm2m.Listener
	bsCoAP   *lwm2m.Listener
	dmCoAPs  *lwm2m.Listener
	once     sync.Once
	closeErr error

	mu      sync.Mutex
	history map[string][]lwm2m.Registration
}

// Start binds every server on loopback and serves until Close or until ctx
// is done.
func Start(ctx context.Context, cfg Config) (*Servers, error) {
	s := newServers(cfg)
	if err := s.listen(ctx, cfg); err != nil {
		_ = s.Close()
		return nil, err
	}
	context.AfterFunc(ctx, func() { _ = s.Close() })
	s.log.Info("virtual servers ready", "portal", s.PortalURL(), "bootstrap", s.BootstrapURI(),
		"bootstrap_coap", s.BootstrapCoAPURI(), "dm", s.DMServerURI(), "dm_api", s.DMURL())
	return s, nil
}

func newServers(cfg Config) *Servers {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Servers{
		log: log, closing: make(chan struct{}),
		bsCreds: newCredStore(), dmCreds: newCredStore(), configs: &configStore{},
		history: map[string][]lwm2m.Registration{},
	}
	s.bs = &lwm2m.BootstrapServer{Lookup: s.bootstrapConfig(cfg.Faults), Logger: log.With("server", "bootstrap")}
	s.rd = &lwm2m.RegistrationServer{Authorize: s.dmCreds.authorize, OnRegister: s.recordRegistration, Logger: log.With("server", "dm")}
	return s
}

func (s *Servers) listen(ctx context.Context, cfg Config) error {
	delay := cfg.Delay
	if delay == nil {
		delay = func(d time.Duration) time.Duration { return d }
	}
	a := func(name string) *api {
		return &api{log: s.log.With("server", name), faults: cfg.Faults, delay: delay, onRequest: cfg.OnRequest, closing: s.closing}
	}
	var err error
	portalMux := http.NewServeMux()
	pa := a("portal")
	pa.securityRoutes(portalMux, s.bsCreds)
	pa.bootstrapRoutes(portalMux, s.configs)
	if s.portal, err = serveHTTP(addrOr(cfg.PortalAddr), portalMux); err != nil {
		return fmt.Errorf("portal: %w", err)
	}
	dmMux := http.NewServeMux()
	a("dm-api").securityRoutes(dmMux, s.dmCreds)
	clientRoutes(dmMux, s.rd)
	if s.dmAPI, err = serveHTTP(addrOr(cfg.DMAPIAddr), dmMux); err != nil {
		return fmt.Errorf("dm api: %w", err)
	}
	bsLC := lwm2m.ListenConfig{Logger: s.log.With("server", "bootstrap"), Keys: s.bsCreds.key}
	if s.bsCoAPs, err = bsLC.ListenCoAPs(ctx, addrOr(cfg.BootstrapAddr), s.bs); err != nil {
		return err
	}
	if s.bsCoAP, err = bsLC.ListenCoAP(ctx, addrOr(cfg.BootstrapCoAPAddr), s.bs); err != nil {
		return err
	}
	dmLC := lwm2m.ListenConfig{Logger: s.log.With("server", "dm"), Keys: s.dmCreds.key}
	if s.dmCoAPs, err = dmLC.ListenCoAPs(ctx, addrOr(cfg.DMAddr), s.rd); err != nil {
		return err
	}
	return nil
}

func addrOr(a string) string {
	if a == "" {
		return "127.0.0.1:0"
	}
	return a
}

// bootstrapConfig is the bootstrap server's Lookup: Leshan's authorizer
// (a secured client must use its own endpoint's identity; an unsecured
// client is declined when the endpoint has security info), the
// bootstrap-reject fault, then the stored config.
func (s *Servers) bootstrapConfig(faults Faults) func(ctx context.Context, identity, endpoint string) (lwm2m.BootstrapConfig, error) {
	return func(_ context.Context, identity, endpoint string) (lwm2m.BootstrapConfig, error) {
		if faults != nil && faults(endpoint).BootstrapReject {
			return lwm2m.BootstrapConfig{}, errors.New("bootstrap-reject fault")
		}
		cred, secured := s.bsCreds.byEndpoint(endpoint)
		switch {
		case identity != "" && (!secured || cred.identity != identity):
			return lwm2m.BootstrapConfig{}, fmt.Errorf("unauthorized: identity %q does not belong to %q", identity, endpoint)
		case identity == "" && secured:
			return lwm2m.BootstrapConfig{}, fmt.Errorf("unauthorized: %q must use DTLS", endpoint)
		}
		c, ok := s.configs.get(endpoint)
		if !ok {
			return lwm2m.BootstrapConfig{}, errors.New("no bootstrap config")
		}
		return c.toLwM2M()
	}
}

func (s *Servers) recordRegistration(r lwm2m.Registration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.history[r.Endpoint] = append(s.history[r.Endpoint], r)
}

// PortalURL is the bootstrap server's management API, "http://127.0.0.1:<port>/api".
func (s *Servers) PortalURL() string { return s.portal.url() }

// DMURL is the DM server's API, "http://127.0.0.1:<port>/api".
func (s *Servers) DMURL() string { return s.dmAPI.url() }

// BootstrapURI is the bootstrap server over DTLS-PSK, "coaps://127.0.0.1:<port>".
func (s *Servers) BootstrapURI() string { return s.bsCoAPs.URI() }

// BootstrapCoAPURI is the bootstrap server over plain UDP, "coap://127.0.0.1:<port>".
func (s *Servers) BootstrapCoAPURI() string { return s.bsCoAP.URI() }

// DMServerURI is the DM server, "coaps://127.0.0.1:<port>".
func (s *Servers) DMServerURI() string { return s.dmCoAPs.URI() }

// Registrations returns every registration the DM server accepted for
// endpoint, oldest first (a re-registration adds one).
func (s *Servers) Registrations(endpoint string) []lwm2m.Registration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.history[endpoint])
}

// AddLegacyCredential makes the DM server also accept identity/key for
// endpoint, whatever its security API holds: a server that still knows a
// unit's previous account. A security API entry with the same identity
// takes precedence in the handshake, so give legacy accounts their own
// identity.
func (s *Servers) AddLegacyCredential(endpoint, identity string, key []byte) {
	s.dmCreds.addLegacy(credential{endpoint: endpoint, identity: identity, key: slices.Clone(key)})
	s.log.Info("legacy DM credential added", "endpoint", endpoint, "identity", identity, "key_sha256", lwm2m.Fingerprint(key))
}

// Close stops every server, releases requests held by faults and waits for
// bootstrap sessions to end.
func (s *Servers) Close() error {
	s.once.Do(func() {
		close(s.closing)
		var errs []error
		for _, h := range []*httpServer{s.portal, s.dmAPI} {
			if h != nil {
				errs = append(errs, h.close())
			}
		}
		for _, l := range []*lwm2m.Listener{s.bsCoAPs, s.bsCoAP, s.dmCoAPs} {
			if l != nil {
				errs = append(errs, l.Close())
			}
		}
		s.bs.Wait()
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// httpServer is one running HTTP API.
type httpServer struct {
	srv  *http.Server
	addr net.Addr
	done chan struct{}
}

func serveHTTP(addr string, h http.Handler) (*httpServer, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	hs := &httpServer{srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, addr: l.Addr(), done: make(chan struct{})}
	go func() {
		defer close(hs.done)
		_ = hs.srv.Serve(l) // returns http.ErrServerClosed after close
	}()
	return hs, nil
}

func (h *httpServer) url() string { return "http://" + h.addr.String() + "/api" }

func (h *httpServer) close() error {
	err := h.srv.Close()
	<-h.done
	return err
}
