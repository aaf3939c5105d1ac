package lwm2m

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	piondtls "github.com/pion/dtls/v3"
	dtlsnet "github.com/pion/dtls/v3/pkg/net"
	coapdtls "github.com/plgd-dev/go-coap/v3/dtls"
	"github.com/plgd-dev/go-coap/v3/mux"
	coapnet "github.com/plgd-dev/go-coap/v3/net"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/pkg/runner/periodic"
	"github.com/plgd-dev/go-coap/v3/udp"
	udpclient "github.com/plgd-dev/go-coap/v3/udp/client"
)

// target is a parsed coap:// or coaps:// URI.
type target struct {
	secure bool
	host   string // host:port
}

// parseURI accepts "coap://host[:port]" and "coaps://host[:port]" with no
// path other than "/", no query and no user info.
func parseURI(uri string) (target, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return target{}, fmt.Errorf("parse uri %q: %w", uri, err)
	}
	var t target
	port := "5683"
	switch u.Scheme {
	case "coap":
	case "coaps":
		t.secure, port = true, "5684"
	default:
		return target{}, fmt.Errorf("uri %q: scheme must be coap or coaps", uri)
	}
	if u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return target{}, fmt.Errorf("uri %q: want coap[s]://host:port", uri)
	}
	if u.Port() != "" {
		port = u.Port()
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return target{}, fmt.Errorf("uri %q: bad port", uri)
	}
	t.host = net.JoinHostPort(u.Hostname(), port)
	return t, nil
}

// dial connects to uri, with a DTLS-PSK handshake for coaps bounded by ctx,
// and serves the peer's requests with h. monitor, if not nil, sees every
// received message first (see udpclient.RequestMonitorFunc). For coap://
// psk is ignored.
func dial(ctx context.Context, uri string, psk *PSK, h mux.Handler, cfg clientConfig, monitor udpclient.RequestMonitorFunc) (*udpclient.Conn, error) {
	t, err := parseURI(uri)
	if err != nil {
		return nil, err
	}
	if t.secure && psk == nil {
		return nil, fmt.Errorf("dial %s: coaps needs a PSK", uri)
	}
	runner, stop := newRunner()
	opts := []udp.Option{
		options.WithMux(h),
		options.WithErrors(func(err error) { cfg.logger.Debug("coap client", "err", err) }),
		options.WithPeriodicRunner(runner),
	}
	if monitor != nil {
		opts = append(opts, options.WithRequestMonitor(monitor))
	}
	var cc *udpclient.Conn
	if t.secure {
		dc, err := handshake(ctx, t.host, *psk, cfg.suites)
		if err != nil {
			stop()
			return nil, fmt.Errorf("dial %s: %w", uri, err)
		}
		cc = coapdtls.Client(dc, append(opts, options.WithCloseSocket())...)
	} else {
		var err error
		if cc, err = udp.Dial(t.host, opts...); err != nil {
			stop()
			return nil, fmt.Errorf("dial %s: %w", uri, err)
		}
	}
	cc.AddOnClose(stop)
	return cc, nil
}

// runnerTick is how often go-coap checks retransmissions and expiries.
const runnerTick = 250 * time.Millisecond

// newRunner returns a go-coap periodic runner and its stop function. The
// default runner sleeps 4 s between checks, so its goroutines outlive a
// closed connection or server by up to 4 s and retransmit coarsely.
func newRunner() (periodic.Func, func()) {
	done := make(chan struct{})
	var once sync.Once
	return periodic.New(done, runnerTick), func() { once.Do(func() { close(done) }) }
}

// handshake opens a UDP socket to host and completes a DTLS-PSK handshake
// within ctx. Failures wrap ErrHandshake.
func handshake(ctx context.Context, host string, psk PSK, suites []CipherSuiteID) (*piondtls.Conn, error) {
	opts, err := pionClientOptions(psk, suites)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", host)
	if err != nil {
		return nil, err
	}
	dc, err := piondtls.ClientWithOptions(dtlsnet.PacketConnFromConn(c), c.RemoteAddr(), opts...)
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	if err := dc.HandshakeContext(ctx); err != nil {
		_ = dc.Close()
		_ = c.Close()
		return nil, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	return dc, nil
}

// ListenConfig configures CoAP and CoAPs listeners.
type ListenConfig struct {
	Logger *slog.Logger
	// Keys looks up a client's PSK by its DTLS identity (CoAPs only,
	// required). Return an error wrapping ErrUnknownIdentity for an
	// identity that is not known, so the client gets unknown_psk_identity.
	Keys KeyLookup
	// CipherSuites accepted (CoAPs only); default CipherSuites().
	CipherSuites []CipherSuiteID
	// IdleTimeout is how long a DTLS session without traffic is kept
	// (CoAPs only); default DefaultIdleTimeout. A registration raises it
	// for its session to the registration lifetime plus IdleMargin, so
	// a client's Updates never need a new handshake.
	IdleTimeout time.Duration
	// IdleMargin is added to a registration's lifetime; default
	// DefaultIdleMargin.
	IdleMargin time.Duration
}

// Session idle defaults. go-coap's own default closes a DTLS session after
// 16 s without traffic, so that every Update of a client with a 60 s
// lifetime needed a new handshake; Leshan never closes idle sessions.
const (
	DefaultIdleTimeout = 5 * time.Minute
	DefaultIdleMargin  = 30 * time.Second
)

func (lc ListenConfig) idle() (timeout, margin time.Duration) {
	timeout, margin = lc.IdleTimeout, lc.IdleMargin
	if timeout <= 0 {
		timeout = DefaultIdleTimeout
	}
	if margin <= 0 {
		margin = DefaultIdleMargin
	}
	return timeout, margin
}

// Listener is a running CoAP (UDP) or CoAPs (DTLS-PSK) server.
type Listener struct {
	addr   *net.UDPAddr
	scheme string
	stop   func()
	done   chan struct{}
	once   sync.Once
}

// ListenCoAP serves h over plain UDP on addr (e.g. "127.0.0.1:0") until
// Close or until ctx is done.
func (lc ListenConfig) ListenCoAP(ctx context.Context, addr string, h mux.Handler) (*Listener, error) {
	l, err := coapnet.NewListenUDP("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen coap %s: %w", addr, err)
	}
	runner, stopRunner := newRunner()
	s := udp.NewServer(options.WithMux(h), options.WithErrors(lc.errorFunc("coap server")), options.WithPeriodicRunner(runner))
	ln := &Listener{addr: l.LocalAddr().(*net.UDPAddr), scheme: "coap", stop: s.Stop, done: make(chan struct{})}
	go func() {
		defer close(ln.done)
		defer stopRunner()
		if err := s.Serve(l); err != nil {
			lc.logger().Error("coap server stopped", "addr", ln.addr, "err", err)
		}
	}()
	context.AfterFunc(ctx, func() { _ = ln.Close() })
	return ln, nil
}

// ListenCoAPs serves h over DTLS-PSK on addr until Close or until ctx is
// done. A client's PSK is looked up with lc.Keys by its identity; an
// unknown identity fails the handshake.
func (lc ListenConfig) ListenCoAPs(ctx context.Context, addr string, h mux.Handler) (*Listener, error) {
	if lc.Keys == nil {
		return nil, errors.New("listen coaps: no key lookup")
	}
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen coaps %s: %w", addr, err)
	}
	l := newDTLSListener(pc, func(onUnknown func()) []piondtls.ServerOption {
		return pionServerOptions(lc.Keys, lc.CipherSuites, onUnknown)
	})
	runner, stopRunner := newRunner()
	timeout, margin := lc.idle()
	s := coapdtls.NewServer(options.WithMux(h), options.WithErrors(lc.errorFunc("coaps server")), options.WithPeriodicRunner(runner),
		idleOption{timeout: timeout, margin: margin}, options.WithOnNewConn(l.adopt))
	runner(l.checkRestarted)
	ln := &Listener{addr: pc.LocalAddr().(*net.UDPAddr), scheme: "coaps", stop: s.Stop, done: make(chan struct{})}
	go func() {
		defer close(ln.done)
		defer stopRunner()
		defer l.Close()
		if err := s.Serve(l); err != nil {
			lc.logger().Error("coaps server stopped", "addr", ln.addr, "err", err)
		}
	}()
	context.AfterFunc(ctx, func() { _ = ln.Close() })
	return ln, nil
}

func (lc ListenConfig) logger() *slog.Logger {
	if lc.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return lc.Logger
}

func (lc ListenConfig) errorFunc(what string) func(error) {
	log := lc.logger()
	return func(err error) { log.Debug(what, "err", err) }
}

// Addr returns the bound address.
func (l *Listener) Addr() *net.UDPAddr { return l.addr }

// URI returns "coap://host:port" or "coaps://host:port".
func (l *Listener) URI() string { return l.scheme + "://" + l.addr.String() }

// Close stops the server, closes its connections and waits for it to end.
func (l *Listener) Close() error {
	l.once.Do(l.stop)
	<-l.done
	return nil
}
