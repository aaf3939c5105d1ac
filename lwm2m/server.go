package lwm2m

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	"github.com/plgd-dev/go-coap/v3/mux"
	"github.com/plgd-dev/go-coap/v3/net/responsewriter"
)

// DefaultRequestTimeout bounds each request a server sends to a client.
const DefaultRequestTimeout = 30 * time.Second

// BootstrapServer serves POST /bs?ep=..: it asks Lookup for the config
// (error → 4.00 Bad Request), answers 2.04 first, then, from a separate
// goroutine once that 2.04 has been written to the socket, pushes: DELETE
// for each ToDelete path, PUT /0/<i> per security instance, PUT /1/<i> per
// server instance, then POST /bs (Finish), and closes the connection. The
// writes use the config's content format, else the client's pct query
// parameter (TLV, SenML-JSON or SenML-CBOR), else TLV.
// Late replies to its pushes are never answered as requests.
// Serve it with ListenConfig.ListenCoAP / ListenCoAPs; the zero value with
// Lookup set is ready to use.
type BootstrapServer struct {
	// Lookup returns the configuration for endpoint; identity is the
	// client's DTLS PSK identity, "" over plain CoAP. An error is answered
	// 4.00 Bad Request, as Leshan does for unknown endpoints, missing
	// configurations and identity↔endpoint mismatches.
	Lookup func(ctx context.Context, identity, endpoint string) (BootstrapConfig, error)
	// Done, if set, is called when a session ends: err is nil once the
	// client answered Bootstrap-Finish with 2.04.
	Done func(identity, endpoint string, err error)
	// Logger for diagnostics; default discard. Keys are never logged.
	Logger *slog.Logger
	// RequestTimeout bounds each pushed request; default DefaultRequestTimeout.
	RequestTimeout time.Duration

	sessions sync.WaitGroup
}

var _ mux.Handler = (*BootstrapServer)(nil)

// ServeCOAP handles a Bootstrap-Request.
func (b *BootstrapServer) ServeCOAP(w mux.ResponseWriter, r *mux.Message) {
	log := loggerOr(b.Logger)
	if ignoreResponse(r, log) {
		return // a late reply to one of our pushes
	}
	errf := func(err error) { log.Debug("bootstrap server response", "err", err) }
	p, err := msgPath(r.Message)
	switch {
	case err != nil || p != "/bs":
		respond(w, codes.NotFound, errf)
		return
	case r.Code() != codes.POST:
		respond(w, codes.MethodNotAllowed, errf)
		return
	}
	identity, _ := PeerIdentity(w.Conn().NetConn())
	endpoint, cfg, err := b.accept(r, identity)
	log = log.With("identity", identity, "endpoint", endpoint, "peer", w.Conn().RemoteAddr().String())
	if err != nil {
		log.Info("bootstrap request refused", "err", err)
		respond(w, codes.BadRequest, errf)
		return
	}
	log.Info("bootstrap request accepted", "delete", len(cfg.ToDelete), "security", len(cfg.Security), "servers", len(cfg.Servers),
		"format", FormatName(cfg.ContentFormat))
	respond(w, codes.Changed, errf)
	// go-coap writes the response after ServeCOAP returns, then runs the
	// request context's AfterWrite callbacks: the session waits for that,
	// so no push can overtake the 2.04.
	written := make(chan struct{})
	markWritten := func() { close(written) }
	if !responsewriter.AfterWrite(r.Context(), markWritten) {
		defer markWritten() // no write hook: the best left is the handler's return
	}
	b.sessions.Add(1)
	go b.session(w.Conn(), written, identity, endpoint, cfg, log)
}

// session pushes cfg once the 2.04 to POST /bs was written, then closes
// the connection and reports to Done.
func (b *BootstrapServer) session(conn mux.Conn, written <-chan struct{}, identity, endpoint string, cfg BootstrapConfig, log *slog.Logger) {
	defer b.sessions.Done()
	var err error
	select {
	case <-written:
		err = b.push(conn.Context(), conn, cfg, log)
	case <-conn.Done():
		err = errors.New("connection closed before the 2.04 to POST /bs was sent")
	}
	// Close the session like servers that close at once after Finish: the
	// client stops lingering and moves on.
	_ = conn.Close()
	if err != nil {
		log.Info("bootstrap session failed", "err", err)
	} else {
		log.Info("bootstrap session finished")
	}
	if b.Done != nil {
		b.Done(identity, endpoint, err)
	}
}

// accept checks the request and looks its configuration up.
func (b *BootstrapServer) accept(r *mux.Message, identity string) (string, BootstrapConfig, error) {
	q, err := msgQuery(r.Message)
	if err != nil {
		return "", BootstrapConfig{}, fmt.Errorf("bad query: %w", err)
	}
	endpoint := q["ep"]
	pct, err := preferredFormat(q)
	if err != nil {
		return endpoint, BootstrapConfig{}, err
	}
	switch {
	case r.Type() != message.Confirmable:
		return endpoint, BootstrapConfig{}, errors.New("CON CoAP type expected")
	case endpoint == "":
		return endpoint, BootstrapConfig{}, errors.New("endpoint name missing")
	case b.Lookup == nil:
		return endpoint, BootstrapConfig{}, errors.New("no bootstrap config")
	}
	ctx, cancel := context.WithTimeout(r.Context(), b.timeout())
	defer cancel()
	cfg, err := b.Lookup(ctx, identity, endpoint)
	if err == nil && cfg.ContentFormat == 0 {
		cfg.ContentFormat = pct
	}
	if err == nil && !WriteFormat(cfg.ContentFormat) {
		err = fmt.Errorf("content format %d not supported", cfg.ContentFormat)
	}
	return endpoint, cfg, err
}

// preferredFormat reads the Bootstrap-Request's pct (LwM2M 1.1): a format
// this server writes, or TLV when absent. An unknown one is refused, as
// the client could not read what would be sent.
func preferredFormat(q map[string]string) (uint16, error) {
	v, ok := q["pct"]
	if !ok {
		return FormatTLV, nil
	}
	n, err := strconv.ParseUint(v, 10, 16)
	if err != nil || !WriteFormat(uint16(n)) {
		return 0, fmt.Errorf("pct %q: not TLV (11542), SenML-JSON (110) or SenML-CBOR (112)", v)
	}
	return uint16(n), nil
}

func (b *BootstrapServer) timeout() time.Duration {
	if b.RequestTimeout > 0 {
		return b.RequestTimeout
	}
	return DefaultRequestTimeout
}

// Wait blocks until every session in flight has ended. Close the listeners
// first: that cancels the sessions and stops new ones.
func (b *BootstrapServer) Wait() { b.sessions.Wait() }

// push runs Leshan's session order: deletes, security writes, server
// writes, Finish. A failed delete is logged and skipped; a failed write or
// Finish ends the session.
func (b *BootstrapServer) push(ctx context.Context, conn mux.Conn, cfg BootstrapConfig, log *slog.Logger) error {
	for _, p := range cfg.ToDelete {
		code, err := b.send(ctx, conn, codes.DELETE, p, 0, nil)
		if err != nil {
			return err
		}
		if code != codes.Deleted {
			log.Info("bootstrap delete not done", "path", p, "reply", CodeText(code))
		}
	}
	cf := cfg.ContentFormat
	for _, s := range cfg.Security {
		if err := b.write(ctx, conn, cf, ObjectSecurity, s.ID, s.TLV()); err != nil {
			return err
		}
	}
	for _, s := range cfg.Servers {
		if err := b.write(ctx, conn, cf, ObjectServer, s.ID, s.TLV()); err != nil {
			return err
		}
	}
	return b.expect(ctx, conn, codes.POST, "/bs", 0, nil, codes.Changed)
}

// write sends a Bootstrap-Write of one instance in content format cf.
func (b *BootstrapServer) write(ctx context.Context, conn mux.Conn, cf, obj, inst uint16, rs []TLV) error {
	body, err := EncodeInstance(cf, obj, inst, rs)
	if err != nil {
		return fmt.Errorf("encode /%d/%d: %w", obj, inst, err)
	}
	return b.expect(ctx, conn, codes.PUT, fmt.Sprintf("/%d/%d", obj, inst), cf, body, codes.Changed)
}

func (b *BootstrapServer) expect(ctx context.Context, conn mux.Conn, method codes.Code, path string, cf uint16, body []byte, want codes.Code) error {
	code, err := b.send(ctx, conn, method, path, cf, body)
	if err != nil {
		return err
	}
	if code != want {
		return &ResponseError{Op: method.String() + " " + path, Code: code}
	}
	return nil
}

// send issues one CON request bounded by the request timeout; cf is the
// body's content format (PUT only).
func (b *BootstrapServer) send(ctx context.Context, conn mux.Conn, method codes.Code, path string, cf uint16, body []byte) (codes.Code, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout())
	defer cancel()
	var (
		resp *pool.Message
		err  error
	)
	switch method {
	case codes.DELETE:
		resp, err = conn.Delete(ctx, path)
	case codes.PUT:
		resp, err = conn.Put(ctx, path, message.MediaType(cf), bytes.NewReader(body))
	default:
		resp, err = conn.Post(ctx, path, message.TextPlain, nil)
	}
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer conn.ReleaseMessage(resp)
	return resp.Code(), nil
}

// Registration is one client registered at a RegistrationServer.
type Registration struct {
	ID         string    `json:"registrationId"`
	Endpoint   string    `json:"endpoint"`
	Identity   string    `json:"identity,omitempty"` // DTLS PSK identity; "" over plain CoAP
	Lifetime   uint32    `json:"lifetime"`
	Version    string    `json:"lwM2mVersion"`
	Binding    string    `json:"bindingMode"`
	Objects    string    `json:"objectLinks"` // link-format payload
	Addr       string    `json:"address"`
	Registered time.Time `json:"registrationDate"`
	Updated    time.Time `json:"lastUpdate"`
}

// RegistrationServer is the LwM2M server's registration interface:
// POST /rd?ep=..&lt=..&lwm2m=..&b=.. → 2.01 with Location-Path rd/<id>,
// POST /rd/<id> (update) → 2.04, DELETE /rd/<id> → 2.02. A new
// registration of an endpoint replaces its old one. The zero value accepts
// everyone; set Authorize to check the DTLS identity.
type RegistrationServer struct {
	// Authorize decides whether identity (the DTLS PSK identity, "" over
	// plain CoAP) may register endpoint; an error is answered 4.03 Forbidden.
	Authorize func(identity, endpoint string) error
	// OnRegister, if set, is called after each accepted registration.
	OnRegister func(Registration)
	// Logger for diagnostics; default discard.
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time

	mu   sync.Mutex
	regs map[string]Registration // by ID
}

var _ mux.Handler = (*RegistrationServer)(nil)

// ServeCOAP handles the registration interface.
func (s *RegistrationServer) ServeCOAP(w mux.ResponseWriter, r *mux.Message) {
	log := loggerOr(s.Logger)
	if ignoreResponse(r, log) {
		return
	}
	errf := func(err error) { log.Debug("registration response", "err", err) }
	p, err := msgPath(r.Message)
	segs := splitPath(p)
	switch {
	case err != nil || len(segs) == 0 || segs[0] != "rd" || len(segs) > 2:
		respond(w, codes.NotFound, errf)
	case len(segs) == 1 && r.Code() == codes.POST:
		s.register(w, r, log, errf)
	case len(segs) == 2 && r.Code() == codes.POST:
		respond(w, s.update(segs[1], w.Conn()), errf)
	case len(segs) == 2 && r.Code() == codes.DELETE:
		respond(w, s.deregister(segs[1], w.Conn().NetConn()), errf)
	default:
		respond(w, codes.MethodNotAllowed, errf)
	}
}

func (s *RegistrationServer) register(w mux.ResponseWriter, r *mux.Message, log *slog.Logger, errf func(error)) {
	identity, _ := PeerIdentity(w.Conn().NetConn())
	reg, err := s.parseRegistration(r)
	reg.Identity, reg.Addr = identity, w.Conn().RemoteAddr().String()
	log = log.With("identity", identity, "endpoint", reg.Endpoint)
	if err != nil {
		log.Info("registration refused", "err", err)
		respond(w, codes.BadRequest, errf)
		return
	}
	if s.Authorize != nil {
		if err := s.Authorize(identity, reg.Endpoint); err != nil {
			log.Info("registration forbidden", "err", err)
			respond(w, codes.Forbidden, errf)
			return
		}
	}
	reg.ID = newRegistrationID()
	reg.Registered = s.now()
	reg.Updated = reg.Registered
	s.store(reg)
	keepSession(w.Conn(), time.Duration(reg.Lifetime)*time.Second)
	log.Info("registered", "id", reg.ID, "lifetime", reg.Lifetime)
	err = w.SetResponse(codes.Created, message.TextPlain, nil,
		message.Option{ID: message.LocationPath, Value: []byte("rd")},
		message.Option{ID: message.LocationPath, Value: []byte(reg.ID)})
	if err != nil {
		errf(err)
	}
	if s.OnRegister != nil {
		s.OnRegister(reg)
	}
}

// parseRegistration reads ep, lt (default 86400), lwm2m (default "1.0"),
// b (default "U") and the object links.
func (s *RegistrationServer) parseRegistration(r *mux.Message) (Registration, error) {
	q, err := msgQuery(r.Message)
	if err != nil {
		return Registration{}, fmt.Errorf("bad query: %w", err)
	}
	reg := Registration{Endpoint: q["ep"], Lifetime: 86400, Version: "1.0", Binding: "U"}
	if reg.Endpoint == "" {
		return reg, errors.New("endpoint name missing")
	}
	if lt, ok := q["lt"]; ok {
		v, err := strconv.ParseUint(lt, 10, 32)
		if err != nil || v == 0 {
			return reg, fmt.Errorf("bad lifetime %q", lt)
		}
		reg.Lifetime = uint32(v)
	}
	if v := q["lwm2m"]; v != "" {
		reg.Version = v
	}
	if v := q["b"]; v != "" {
		reg.Binding = v
	}
	if r.Body() != nil {
		body, err := r.ReadBody()
		if err != nil {
			return reg, fmt.Errorf("read body: %w", err)
		}
		reg.Objects = string(body)
	}
	return reg, nil
}

func (s *RegistrationServer) store(reg Registration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.regs == nil {
		s.regs = map[string]Registration{}
	}
	for id, old := range s.regs {
		if old.Endpoint == reg.Endpoint {
			delete(s.regs, id)
		}
	}
	s.regs[reg.ID] = reg
}

// update refreshes registration id; only the DTLS identity that made it
// may (4.04 otherwise, as for an unknown id). The session it came over
// lives as long as the registration.
func (s *RegistrationServer) update(id string, conn mux.Conn) codes.Code {
	identity, _ := PeerIdentity(conn.NetConn())
	s.mu.Lock()
	defer s.mu.Unlock()
	reg, ok := s.regs[id]
	if !ok || reg.Identity != identity {
		return codes.NotFound
	}
	reg.Updated = s.now()
	s.regs[id] = reg
	keepSession(conn, time.Duration(reg.Lifetime)*time.Second)
	return codes.Changed
}

// deregister removes registration id, with the same rule as update.
func (s *RegistrationServer) deregister(id string, nc net.Conn) codes.Code {
	identity, _ := PeerIdentity(nc)
	s.mu.Lock()
	defer s.mu.Unlock()
	reg, ok := s.regs[id]
	if !ok || reg.Identity != identity {
		return codes.NotFound
	}
	delete(s.regs, id)
	return codes.Deleted
}

// splitPath splits "/rd/abc" into ["rd", "abc"]; "/" gives none.
func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// Registrations returns the current registrations ordered by endpoint.
func (s *RegistrationServer) Registrations() []Registration {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Registration, 0, len(s.regs))
	for _, r := range s.regs {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Registration) int {
		if a.Endpoint < b.Endpoint {
			return -1
		}
		if a.Endpoint > b.Endpoint {
			return 1
		}
		return 0
	})
	return out
}

// Registration returns endpoint's current registration.
func (s *RegistrationServer) Registration(endpoint string) (Registration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.regs {
		if r.Endpoint == endpoint {
			return r, true
		}
	}
	return Registration{}, false
}

func (s *RegistrationServer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// newRegistrationID returns a random 10-character id like Leshan's.
func newRegistrationID() string {
	return rand.Text()[:10]
}

func loggerOr(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
