package lwm2m

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/mux"
	"github.com/plgd-dev/go-coap/v3/net/responsewriter"
)

// clientSession is the client's object store during one bootstrap: it
// answers the bootstrap server's Delete, Write, Discover, Read and Finish.
type clientSession struct {
	log *slog.Logger

	mu       sync.Mutex
	security map[uint16]SecurityInstance
	servers  map[uint16]ServerInstance
	written  map[uint16]bool // security instances written in this session
	deleted  []string
	format   uint16        // content format of the last write applied
	result   *finishResult // the first Bootstrap-Finish's outcome, once handled

	sent     chan struct{} // closed once the reply to that Finish was written
	sentOnce sync.Once
}

// finishResult is what a Bootstrap-Finish left: the delivered
// configuration, or why it was refused.
type finishResult struct {
	d   *Delivered
	err error
}

var _ mux.Handler = (*clientSession)(nil)

// newClientSession starts with security instance 0 as the bootstrap
// account (as NCS lwm2m_client_utils sets it up) and no server instance.
func newClientSession(uri string, psk *PSK, log *slog.Logger) *clientSession {
	bs := SecurityInstance{ID: 0, URI: uri, BootstrapServer: true, Mode: ModeNoSec}
	if psk != nil && strings.HasPrefix(uri, "coaps:") {
		bs.Mode, bs.Identity, bs.SecretKey = ModePSK, []byte(psk.Identity), append([]byte(nil), psk.Key...)
	}
	return &clientSession{
		log:      log,
		security: map[uint16]SecurityInstance{0: bs},
		servers:  map[uint16]ServerInstance{},
		written:  map[uint16]bool{},
		sent:     make(chan struct{}),
	}
}

// ServeCOAP dispatches a bootstrap server's request.
func (s *clientSession) ServeCOAP(w mux.ResponseWriter, r *mux.Message) {
	if ignoreResponse(r, s.log) {
		return
	}
	errf := func(err error) { s.log.Debug("bootstrap client response", "err", err) }
	p, err := msgPath(r.Message)
	if err != nil {
		respond(w, codes.BadRequest, errf)
		return
	}
	var code codes.Code
	switch r.Code() {
	case codes.PUT:
		code = s.write(p, r)
	case codes.DELETE:
		code = s.delete(p)
	case codes.GET:
		s.get(w, p, r, errf)
		return
	case codes.POST:
		if p != "/bs" {
			code = codes.MethodNotAllowed
			break
		}
		code = s.finish(r)
	default:
		code = codes.MethodNotAllowed
	}
	s.log.Debug("bootstrap server request", "method", r.Code().String(), "path", p, "reply", CodeText(code))
	respond(w, code, errf)
}

// write handles a Bootstrap-Write to /0 or /1 (object, instance or
// resource) in TLV, SenML-JSON or SenML-CBOR, as the NCS client accepts.
func (s *clientSession) write(p string, r *mux.Message) codes.Code {
	cf, err := r.ContentFormat()
	if err != nil || !WriteFormat(uint16(cf)) {
		return codes.UnsupportedMediaType
	}
	segs, err := parseObjectPath(p)
	if err != nil || len(segs) == 0 || len(segs) > 3 {
		return codes.BadRequest
	}
	if segs[0] != ObjectSecurity && segs[0] != ObjectServer {
		return codes.NotFound
	}
	body, err := r.ReadBody()
	if err != nil {
		return codes.BadRequest
	}
	ts, err := decodeWrite(uint16(cf), segs, body)
	if err == nil {
		s.mu.Lock()
		if err = s.applyWrite(segs, ts); err == nil {
			s.format = uint16(cf)
		}
		s.mu.Unlock()
	}
	if err != nil {
		s.log.Info("bootstrap write rejected", "path", p, "err", err)
		return codes.BadRequest
	}
	return codes.Changed
}

// applyWrite applies the decoded payload ts of a write to segs. Caller
// holds s.mu.
func (s *clientSession) applyWrite(segs []uint16, ts []TLV) error {
	switch len(segs) {
	case 1:
		for _, in := range ts {
			if in.Kind != TLVObjectInstance {
				return fmt.Errorf("%w: %s %d in an object write", ErrTLV, in.Kind, in.ID)
			}
			if err := s.applyInstance(segs[0], in.ID, in.Children); err != nil {
				return err
			}
		}
		return nil
	case 2:
		id, rs, wrapped, err := unwrapInstance(ts)
		if err != nil {
			return err
		}
		if wrapped && id != segs[1] {
			return fmt.Errorf("instance %d written to /%d/%d", id, segs[0], segs[1])
		}
		return s.applyInstance(segs[0], segs[1], rs)
	default:
		if len(ts) != 1 || ts[0].ID != segs[2] {
			return fmt.Errorf("write to /%d/%d/%d must carry that one resource", segs[0], segs[1], segs[2])
		}
		return s.applyInstance(segs[0], segs[1], ts)
	}
}

// applyInstance merges resources rs into instance id of object obj.
// Caller holds s.mu.
func (s *clientSession) applyInstance(obj, id uint16, rs []TLV) error {
	if obj == ObjectSecurity {
		in, ok := s.security[id]
		if !ok {
			in = SecurityInstance{ID: id}
		}
		if err := in.ApplyTLV(rs); err != nil {
			return err
		}
		s.security[id], s.written[id] = in, true
		return nil
	}
	in, ok := s.servers[id]
	if !ok {
		in = ServerInstance{ID: id}
	}
	if err := in.ApplyTLV(rs); err != nil {
		return err
	}
	s.servers[id] = in
	return nil
}

// delete handles a Bootstrap-Delete. Like Zephyr it refuses paths below
// instance level (4.05), never deletes a bootstrap-server account, and
// answers 2.02 even when nothing matched.
func (s *clientSession) delete(p string) codes.Code {
	segs, err := parseObjectPath(p)
	if err != nil {
		return codes.BadRequest
	}
	if len(segs) > 2 {
		return codes.MethodNotAllowed
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deleted = append(s.deleted, p)
	all := len(segs) == 0
	if all || segs[0] == ObjectSecurity {
		for id, in := range s.security {
			if !in.BootstrapServer && (len(segs) < 2 || segs[1] == id) {
				delete(s.security, id)
				delete(s.written, id)
			}
		}
	}
	if all || segs[0] == ObjectServer {
		for id := range s.servers {
			if len(segs) < 2 || segs[1] == id {
				delete(s.servers, id)
			}
		}
	}
	return codes.Deleted
}

// get answers Bootstrap-Discover (Accept link-format) on / or /<obj>, and
// Bootstrap-Read (LwM2M 1.1) of the Server object in TLV.
func (s *clientSession) get(w mux.ResponseWriter, p string, r *mux.Message, errf func(error)) {
	segs, err := parseObjectPath(p)
	if err != nil {
		respond(w, codes.BadRequest, errf)
		return
	}
	accept, aerr := r.Accept()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case aerr == nil && uint16(accept) == FormatLinkFormat:
		if len(segs) > 1 {
			respond(w, codes.BadRequest, errf)
			return
		}
		s.setBody(w, codes.Content, message.AppLinkFormat, []byte(s.discover(segs)), errf)
	case len(segs) >= 1 && len(segs) <= 2 && segs[0] == ObjectServer && (aerr != nil || uint16(accept) == FormatTLV):
		s.setBody(w, codes.Content, message.AppLwm2mTLV, s.readServers(segs), errf)
	default:
		respond(w, codes.MethodNotAllowed, errf)
	}
}

func (s *clientSession) setBody(w mux.ResponseWriter, code codes.Code, cf message.MediaType, body []byte, errf func(error)) {
	if err := w.SetResponse(code, cf, bytes.NewReader(body)); err != nil {
		errf(fmt.Errorf("set response: %w", err))
	}
}

// discover lists instances as LwM2M 1.0 link-format. Caller holds s.mu.
func (s *clientSession) discover(segs []uint16) string {
	links := []string{`</>;lwm2m="1.0"`}
	want := func(obj uint16) bool { return len(segs) == 0 || segs[0] == obj }
	if want(ObjectSecurity) {
		for _, in := range sortedSecurity(s.security) {
			l := fmt.Sprintf("</0/%d>", in.ID)
			if !in.BootstrapServer && in.ShortServerID != 0 {
				l += ";ssid=" + strconv.Itoa(int(in.ShortServerID))
			}
			links = append(links, l)
		}
	}
	if want(ObjectServer) {
		for _, in := range sortedServers(s.servers) {
			links = append(links, fmt.Sprintf("</1/%d>;ssid=%d", in.ID, in.ShortServerID))
		}
	}
	if want(ObjectDevice) {
		links = append(links, "</3/0>")
	}
	return strings.Join(links, ",")
}

// readServers encodes the Server instances selected by segs. Caller holds s.mu.
func (s *clientSession) readServers(segs []uint16) []byte {
	var out []TLV
	for _, in := range sortedServers(s.servers) {
		if len(segs) == 2 && in.ID != segs[1] {
			continue
		}
		out = append(out, InstanceTLV(in.ID, in.TLV()...))
	}
	return EncodeTLV(out...)
}

// ErrInconsistent is the client's reason for answering Bootstrap-Finish
// with 4.06 Not Acceptable: a Server instance without a Security account
// of the same Short Server ID.
var ErrInconsistent = errors.New("inconsistent bootstrap configuration")

// finish handles Bootstrap-Finish: it checks that every Server instance
// has a Security account with its Short Server ID (else 4.06). The first
// Finish's outcome is recorded here, before the reply goes out, so that a
// server closing the connection as soon as it reads the 2.04 can never
// turn a completed bootstrap into an error; wait also learns when the
// reply was written.
func (s *clientSession) finish(r *mux.Message) codes.Code {
	s.mu.Lock()
	d, err := s.snapshot()
	first := s.result == nil
	if first {
		s.result = &finishResult{d: d, err: err}
	}
	s.mu.Unlock()
	if first && !responsewriter.AfterWrite(r.Context(), s.markSent) {
		s.markSent() // no write hook: wait still has the recorded outcome
	}
	if err != nil {
		s.log.Info("bootstrap finish rejected", "err", err)
		return codes.NotAcceptable
	}
	return codes.Changed
}

func (s *clientSession) markSent() { s.sentOnce.Do(func() { close(s.sent) }) }

// outcome returns the first Bootstrap-Finish's outcome, if one arrived.
func (s *clientSession) outcome() (finishResult, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.result == nil {
		return finishResult{}, false
	}
	return *s.result, true
}

// wait returns the outcome of Bootstrap-Finish once its reply was written,
// or, when the connection closes (connDone) or ctx ends first, the
// outcome recorded by then: a Finish that was handled before the server
// closed the connection still counts.
func (s *clientSession) wait(ctx context.Context, connDone <-chan struct{}) (*Delivered, error) {
	select {
	case <-s.sent:
	case <-connDone:
	case <-ctx.Done():
	}
	if res, ok := s.outcome(); ok {
		return res.d, res.err
	}
	select {
	case <-connDone:
		return nil, errors.New("connection closed before Bootstrap-Finish")
	default:
		return nil, fmt.Errorf("waiting for Bootstrap-Finish: %w", context.Cause(ctx))
	}
}

// snapshot returns what was delivered. Caller holds s.mu.
func (s *clientSession) snapshot() (*Delivered, error) {
	d := &Delivered{Deleted: append([]string(nil), s.deleted...), Servers: sortedServers(s.servers), Format: s.format}
	ssids := map[uint16]bool{}
	for _, in := range sortedSecurity(s.security) {
		if !in.BootstrapServer {
			ssids[in.ShortServerID] = true
		}
		if s.written[in.ID] {
			d.Security = append(d.Security, in)
		}
	}
	for _, sv := range d.Servers {
		if !ssids[sv.ShortServerID] {
			return nil, fmt.Errorf("%w: server /1/%d (ssid %d) has no security account", ErrInconsistent, sv.ID, sv.ShortServerID)
		}
	}
	return d, nil
}
