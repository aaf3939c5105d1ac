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
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	"github.com/plgd-dev/go-coap/v3/mux"
	udpclient "github.com/plgd-dev/go-coap/v3/udp/client"
)

// Delivered is what a bootstrap server wrote to the client during one
// bootstrap session, as it stood when Bootstrap-Finish arrived.
type Delivered struct {
	Security []SecurityInstance // written Security (0) instances, by ID
	Servers  []ServerInstance   // written Server (1) instances, by ID
	Deleted  []string           // Bootstrap-Delete paths, in arrival order
	Format   uint16             // content format of the last Bootstrap-Write, 0 if none
}

// ClientEvent marks a step of the client side of the bootstrap exchange, so
// an emulated unit can log as Zephyr does.
type ClientEvent int

// Client events, reported in protocol order.
const (
	// BootstrapStarted: Bootstrap begins, before connecting (Zephyr's
	// "Bootstrap started with endpoint …").
	BootstrapStarted ClientEvent = iota + 1
	// BootstrapRegDone: the server answered 2.04 to POST /bs (Zephyr BOOTSTRAP_REG_COMPLETE).
	BootstrapRegDone
	// BootstrapRegFailed: the DTLS handshake failed, or POST /bs got
	// another code or no answer (Zephyr BOOTSTRAP_REG_FAILURE).
	BootstrapRegFailed
	// BootstrapTransferDone: Bootstrap-Finish arrived and its 2.04 was sent,
	// or the server closed the connection once Finish had been answered
	// (Zephyr's "Bootstrap data transfer done!"). Bootstrap returns after
	// the finish linger (see WithFinishLinger), which is when Zephyr raises
	// BOOTSTRAP_TRANSFER_COMPLETE.
	BootstrapTransferDone
)

// String returns the event's name.
func (e ClientEvent) String() string {
	switch e {
	case BootstrapStarted:
		return "BootstrapStarted"
	case BootstrapRegDone:
		return "BootstrapRegDone"
	case BootstrapRegFailed:
		return "BootstrapRegFailed"
	case BootstrapTransferDone:
		return "BootstrapTransferDone"
	}
	return fmt.Sprintf("ClientEvent(%d)", int(e))
}

// ClientOption configures Bootstrap.
type ClientOption func(*clientConfig)

type clientConfig struct {
	events func(ClientEvent)
	logger *slog.Logger
	suites []CipherSuiteID
	linger time.Duration
	pct    uint16
	answer time.Duration
}

// WithAnswerTimeout bounds the DTLS handshake and the wait for the reply
// to POST /bs (default: only ctx). A bootstrap server that stays silent,
// as wakaama's does for an unknown endpoint, then ends Bootstrap with an
// error wrapping ErrNoAnswer instead of running out ctx.
func WithAnswerTimeout(d time.Duration) ClientOption {
	return func(c *clientConfig) { c.answer = d }
}

// WithPreferredFormat has Bootstrap send pct=<cf> with its request, as
// LwM2M 1.1 clients do (NCS: 11542 TLV, 110 SenML-JSON, 112 SenML-CBOR).
// Without it no pct is sent, as LwM2M 1.0 clients do.
func WithPreferredFormat(cf uint16) ClientOption {
	return func(c *clientConfig) { c.pct = cf }
}

// DefaultFinishLinger is how long Bootstrap keeps the connection open
// after answering Bootstrap-Finish unless the server closes it first
// (Zephyr waits 1 s before moving on).
const DefaultFinishLinger = time.Second

// WithFinishLinger sets how long Bootstrap waits after Bootstrap-Finish
// for the server to close the connection (default DefaultFinishLinger;
// 0 closes at once, racing the server's receipt of the 2.04).
func WithFinishLinger(d time.Duration) ClientOption {
	return func(c *clientConfig) { c.linger = d }
}

// WithEvents has Bootstrap call fn, from the calling goroutine, at each
// ClientEvent in protocol order. fn must not block for long.
func WithEvents(fn func(ev ClientEvent)) ClientOption {
	return func(c *clientConfig) { c.events = fn }
}

// WithLogger sets the logger for diagnostics (default: discard).
func WithLogger(l *slog.Logger) ClientOption {
	return func(c *clientConfig) { c.logger = l }
}

// WithCipherSuites replaces the DTLS cipher suites offered (default
// CipherSuites()).
func WithCipherSuites(suites ...CipherSuiteID) ClientOption {
	return func(c *clientConfig) { c.suites = append([]CipherSuiteID(nil), suites...) }
}

func newClientConfig(opts []ClientOption) clientConfig {
	c := clientConfig{events: func(ClientEvent) {}, logger: slog.New(slog.DiscardHandler), suites: CipherSuites(), linger: DefaultFinishLinger}
	for _, o := range opts {
		o(&c)
	}
	if c.events == nil {
		c.events = func(ClientEvent) {}
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// ResponseError is a CoAP reply with an unexpected code, e.g. 4.00 to POST /bs.
type ResponseError struct {
	Op   string // "POST /bs", "POST /rd"
	Code codes.Code
}

func (e *ResponseError) Error() string {
	return e.Op + ": " + CodeText(e.Code)
}

// ErrNoAnswer marks a Bootstrap-Request that got no reply within the
// answer timeout (see WithAnswerTimeout).
var ErrNoAnswer = errors.New("no answer to the Bootstrap-Request")

// ErrHandshake marks a failed DTLS handshake (wrong key, unknown identity,
// no answer). The underlying pion or context error stays reachable.
var ErrHandshake = errors.New("dtls handshake failed")

// Bootstrap runs a Bootstrap-Request against uri ("coap://host:port" or "coaps://host:port";
// coaps requires psk != nil), answering the server's Delete/Write/Discover/Finish, and returns what
// was delivered once Bootstrap-Finish arrived. A non-2.04 reply to POST /bs is a *ResponseError.
// The reply to POST /bs is matched by token and message ID, so it counts even when the server's
// requests overtake it; late or duplicate replies are never answered as requests. A Finish that
// was answered counts even when the server closes the connection at once.
// A failed DTLS handshake is an error wrapping ErrHandshake. ctx bounds the
// whole exchange; for coap:// psk is ignored.
func Bootstrap(ctx context.Context, uri, endpoint string, psk *PSK, opts ...ClientOption) (*Delivered, error) {
	cfg := newClientConfig(opts)
	if endpoint == "" {
		return nil, errors.New("bootstrap: empty endpoint")
	}
	log := cfg.logger.With("endpoint", endpoint, "uri", uri)
	sess := newClientSession(uri, psk, log)
	replies := &replyMatcher{}
	cfg.events(BootstrapStarted)
	dctx, cancel := cfg.answerContext(ctx)
	cc, err := dial(dctx, uri, psk, sess, cfg, replies.monitor)
	cancel()
	if err != nil {
		cfg.events(BootstrapRegFailed)
		return nil, fmt.Errorf("bootstrap %s: %w", endpoint, err)
	}
	defer func() { _ = cc.Close() }()
	code, err := bootstrapRequest(ctx, cc, replies, endpoint, cfg)
	if err == nil && code != codes.Changed {
		err = &ResponseError{Op: "POST /bs", Code: code}
	}
	if err != nil {
		cfg.events(BootstrapRegFailed)
		return nil, fmt.Errorf("bootstrap %s: %w", endpoint, err)
	}
	log.Debug("bootstrap registration done")
	cfg.events(BootstrapRegDone)
	d, err := sess.wait(ctx, cc.Done())
	if err != nil {
		return nil, fmt.Errorf("bootstrap %s: %w", endpoint, err)
	}
	log.Debug("bootstrap data transfer done", "security", len(d.Security), "servers", len(d.Servers))
	cfg.events(BootstrapTransferDone)
	linger(ctx, cc.Done(), cfg.linger)
	return d, nil
}

// answerContext bounds ctx by the answer timeout, if one is set.
func (c clientConfig) answerContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.answer <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.answer)
}

// linger keeps the connection open after Bootstrap-Finish, as Zephyr
// does, so the server surely gets the 2.04 before the client's DTLS
// close_notify; it ends early when the server closes the connection.
func linger(ctx context.Context, connDone <-chan struct{}, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-connDone:
	case <-ctx.Done():
	}
}

// bootstrapRequest sends CON POST /bs?ep=<endpoint>[&pct=<pct>] and returns the reply
// code. replies (the connection's monitor) matches the reply by token and
// message ID as it is read: go-coap may report the connection closed
// although the 2.04 had arrived, when the server's pushes, its Finish and
// its close all follow the 2.04 before this goroutine runs again.
func bootstrapRequest(ctx context.Context, cc *udpclient.Conn, replies *replyMatcher, endpoint string, cfg clientConfig) (codes.Code, error) {
	query := []message.Option{queryOpt("ep=" + endpoint)}
	if cfg.pct != 0 {
		query = append(query, queryOpt("pct="+strconv.Itoa(int(cfg.pct))))
	}
	rctx, cancel := cfg.answerContext(ctx)
	defer cancel()
	req, err := cc.NewPostRequest(rctx, "/bs", message.TextPlain, nil, query...)
	if err != nil {
		return 0, fmt.Errorf("POST /bs: %w", err)
	}
	defer cc.ReleaseMessage(req)
	req.SetType(message.Confirmable)
	req.SetMessageID(cc.GetMessageID())
	replies.expect(req.Token(), req.MessageID())
	resp, err := cc.Do(req)
	if err != nil {
		if code, ok := replies.reply(); ok {
			return code, nil
		}
		if rctx.Err() != nil && ctx.Err() == nil {
			return 0, fmt.Errorf("POST /bs: %w in %v", ErrNoAnswer, cfg.answer)
		}
		return 0, fmt.Errorf("POST /bs: %w", err)
	}
	defer cc.ReleaseMessage(resp)
	return resp.Code(), nil
}

// replyMatcher records the first reply to one CON request as go-coap reads
// it: a response with the request's token that is either a piggybacked ACK
// with its message ID or a separate response (CON/NON).
type replyMatcher struct {
	mu    sync.Mutex
	token message.Token
	mid   int32
	code  codes.Code
	got   bool
}

// expect sets the request to match; replies seen before are forgotten.
func (m *replyMatcher) expect(token message.Token, mid int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.token, m.mid, m.code, m.got = append(message.Token(nil), token...), mid, 0, false
}

// monitor is the connection's request monitor: it sees every message
// before go-coap dispatches it and never drops one.
func (m *replyMatcher) monitor(_ *udpclient.Conn, msg *pool.Message) (bool, error) {
	if !isResponse(msg.Code()) {
		return false, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.got || len(m.token) == 0 || !bytes.Equal(msg.Token(), m.token) {
		return false, nil
	}
	if msg.Type() == message.Acknowledgement && msg.MessageID() != m.mid {
		return false, nil
	}
	m.code, m.got = msg.Code(), true
	return false, nil
}

// reply returns the matched reply's code, if it arrived.
func (m *replyMatcher) reply() (codes.Code, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.code, m.got
}

func queryOpt(q string) message.Option {
	return message.Option{ID: message.URIQuery, Value: []byte(q)}
}

// registerObjects is the link-format object list sent with a registration.
const registerObjects = `</1/0>,</3/0>`

// Register does POST /rd?ep=<ep>&lt=<lifetime>&lwm2m=1.0&b=U (CON, link-format body of objects) and
// returns the location id from Location-Path rd/<id>. Non-2.01 → *ResponseError.
// A failed DTLS handshake is an error wrapping ErrHandshake.
func Register(ctx context.Context, uri, endpoint string, psk *PSK, lifetime uint32) (location string, err error) {
	if endpoint == "" {
		return "", errors.New("register: empty endpoint")
	}
	cfg := newClientConfig(nil)
	cc, err := dial(ctx, uri, psk, mux.HandlerFunc(notFound), cfg, nil)
	if err != nil {
		return "", fmt.Errorf("register %s: %w", endpoint, err)
	}
	defer func() { _ = cc.Close() }()
	resp, err := cc.Post(ctx, "/rd", message.AppLinkFormat, strings.NewReader(registerObjects),
		queryOpt("ep="+endpoint), queryOpt("lt="+strconv.FormatUint(uint64(lifetime), 10)),
		queryOpt("lwm2m=1.0"), queryOpt("b=U"))
	if err != nil {
		return "", fmt.Errorf("register %s: POST /rd: %w", endpoint, err)
	}
	defer cc.ReleaseMessage(resp)
	if resp.Code() != codes.Created {
		return "", fmt.Errorf("register %s: %w", endpoint, &ResponseError{Op: "POST /rd", Code: resp.Code()})
	}
	loc, err := resp.Options().LocationPath()
	id, ok := strings.CutPrefix(loc, "/rd/")
	if err != nil || !ok || id == "" || strings.Contains(id, "/") {
		return "", fmt.Errorf("register %s: 2.01 without Location-Path rd/<id> (got %q)", endpoint, loc)
	}
	return id, nil
}

// notFound answers every request 4.04, as a client that serves no objects,
// and leaves unmatched responses unanswered.
func notFound(w mux.ResponseWriter, r *mux.Message) {
	if isResponse(r.Code()) {
		return
	}
	_ = w.SetResponse(codes.NotFound, message.TextPlain, nil)
}
