package probe

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"go/build"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plgd-dev/go-coap/v3/message/codes"

	"nrfline/lwm2m"
	"nrfline/station"
)

const (
	endpoint  = "urn:imei:352656100367872"
	targetURI = "coaps://lwm2m.example.com:5684"
)

// bootstrapServer is a real lwm2m bootstrap server on loopback (CoAPs and
// CoAP) that knows one unit.
type bootstrapServer struct {
	secure, plain *lwm2m.Listener
	key           []byte
	mu            sync.Mutex
	config        lwm2m.BootstrapConfig
}

func (b *bootstrapServer) setConfig(c lwm2m.BootstrapConfig) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.config = c
}

// mustBootstrapServer starts the server; closed at cleanup.
func mustBootstrapServer(tb testing.TB, key []byte) *bootstrapServer {
	tb.Helper()
	b := &bootstrapServer{key: key, config: config(targetURI)}
	h := &lwm2m.BootstrapServer{
		Lookup: func(_ context.Context, identity, ep string) (lwm2m.BootstrapConfig, error) {
			if ep != endpoint || (identity != "" && identity != endpoint) {
				return lwm2m.BootstrapConfig{}, errors.New("no bootstrap config")
			}
			b.mu.Lock()
			defer b.mu.Unlock()
			return b.config, nil
		},
		RequestTimeout: 5 * time.Second,
	}
	keys := func(identity string) ([]byte, error) {
		if identity != endpoint {
			return nil, fmt.Errorf("identity %q: %w", identity, lwm2m.ErrUnknownIdentity)
		}
		return b.key, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	var err error
	lc := lwm2m.ListenConfig{Keys: keys}
	if b.secure, err = lc.ListenCoAPs(ctx, "127.0.0.1:0", h); err != nil {
		tb.Fatal(err)
	}
	if b.plain, err = lc.ListenCoAP(ctx, "127.0.0.1:0", h); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		cancel()
		_ = b.secure.Close()
		_ = b.plain.Close()
		h.Wait()
	})
	return b
}

// config hands out uri behind a bootstrap account, as a bootstrap server
// that rewrites instance 0 might.
func config(uri string) lwm2m.BootstrapConfig {
	return lwm2m.BootstrapConfig{
		ToDelete: []string{"/0", "/1"},
		Security: []lwm2m.SecurityInstance{
			{ID: 0, URI: "coaps://bootstrap.example.com:5784", BootstrapServer: true, Mode: lwm2m.ModePSK, Identity: []byte(endpoint), SecretKey: []byte("bootstrap-key-16")},
			{ID: 1, URI: uri, Mode: lwm2m.ModePSK, Identity: []byte(endpoint), SecretKey: []byte("target-key-01234"), ShortServerID: 123},
		},
		Servers: []lwm2m.ServerInstance{{ID: 0, ShortServerID: 123, Lifetime: 60, DefaultMinPeriod: 1, NotifIfDisabled: true, Binding: "U"}},
	}
}

// twoAccounts delivers an account for "other" first (Security instance 1,
// short server id 200) and the target's second (instance 2, id 123);
// servers lists the Server instances' short server ids.
func twoAccounts(other string, servers ...uint16) *lwm2m.BootstrapConfig {
	c := config(targetURI)
	c.Security = []lwm2m.SecurityInstance{
		c.Security[0],
		{ID: 1, URI: other, Mode: lwm2m.ModePSK, Identity: []byte(endpoint), SecretKey: []byte("target-key-01234"), ShortServerID: 200},
		{ID: 2, URI: targetURI, Mode: lwm2m.ModePSK, Identity: []byte(endpoint), SecretKey: []byte("target-key-01234"), ShortServerID: 123},
	}
	c.Servers = nil
	for i, id := range servers {
		c.Servers = append(c.Servers, lwm2m.ServerInstance{ID: uint16(i), ShortServerID: id, Lifetime: 60, Binding: "U"})
	}
	return &c
}

// mustSilentServer is a UDP socket that reads and never answers, as
// wakaama's bootstrap server treats an unknown endpoint.
func mustSilentServer(tb testing.TB) string {
	tb.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := c.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	tb.Cleanup(func() { _ = c.Close() })
	return "coap://" + c.LocalAddr().String()
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestProbe(t *testing.T) {
	key := []byte("0123456789abcdef")
	bs := mustBootstrapServer(t, key)
	closedURI := func() string {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = c.Close() }()
		return "coaps://" + c.LocalAddr().String()
	}()
	silent := mustSilentServer(t)
	good := station.Credential{Identity: endpoint, Key: station.PSKFromBytes(key)}
	const other = "coaps://elsewhere.example.com:5684"
	tests := []struct {
		name     string
		uri      string
		endpoint string
		cred     station.Credential
		config   *lwm2m.BootstrapConfig
		timeout  time.Duration
		answer   time.Duration // AnswerTimeout
		want     []string
		code     station.Code
		check    func(error) bool
		within   time.Duration // the probe must end this soon
	}{
		{name: "coaps", uri: bs.secure.URI(), endpoint: endpoint, cred: good, want: []string{targetURI}},
		{name: "coap", uri: bs.plain.URI(), endpoint: endpoint, want: []string{targetURI}},
		{name: "other target", uri: bs.secure.URI(), endpoint: endpoint, cred: good, config: ptr(config(other)), want: []string{other}},
		// The account of the one Server instance, not the first account.
		{name: "server's account among two", uri: bs.secure.URI(), endpoint: endpoint, cred: good, config: twoAccounts(other, 123), want: []string{targetURI}},
		{name: "two servers", uri: bs.secure.URI(), endpoint: endpoint, cred: good, config: twoAccounts(other, 123, 200), want: []string{targetURI, other}},
		{name: "silent bootstrap server", uri: silent, endpoint: endpoint, answer: 300 * time.Millisecond, code: station.ProbeFailed, within: 2 * time.Second,
			check: func(err error) bool {
				return errors.Is(err, lwm2m.ErrNoAnswer) && strings.Contains(err.Error(), "bootstrap server did not answer")
			}},
		{name: "no config 4.00", uri: bs.secure.URI(), endpoint: "urn:imei:352656100394546", cred: good, code: station.ProbeFailed,
			check: func(err error) bool {
				var re *lwm2m.ResponseError
				return errors.As(err, &re) && re.Code == codes.BadRequest && strings.Contains(err.Error(), "4.00")
			}},
		{name: "unknown identity", uri: bs.secure.URI(), endpoint: endpoint, code: station.ProbeFailed,
			cred:  station.Credential{Identity: "urn:imei:111111111111111", Key: station.PSKFromBytes(key)},
			check: func(err error) bool { return errors.Is(err, lwm2m.ErrHandshake) }},
		{name: "wrong key", uri: bs.secure.URI(), endpoint: endpoint, timeout: 1500 * time.Millisecond, code: station.ProbeFailed,
			cred:  station.Credential{Identity: endpoint, Key: station.PSKFromBytes([]byte("fedcba9876543210"))},
			check: func(err error) bool { return errors.Is(err, lwm2m.ErrHandshake) }},
		{name: "nothing listening", uri: closedURI, endpoint: endpoint, cred: good, timeout: time.Second, code: station.ProbeFailed},
		{name: "bootstrap account only", uri: bs.secure.URI(), endpoint: endpoint, cred: good, code: station.ProbeFailed,
			config: &lwm2m.BootstrapConfig{Security: config(targetURI).Security[:1]},
			check:  func(err error) bool { return strings.Contains(err.Error(), "delivered no LwM2M server") }},
		{name: "no server uri", uri: "", endpoint: endpoint, cred: good, code: station.ProbeFailed},
		{name: "not coap", uri: "https://x", endpoint: endpoint, cred: good, code: station.ProbeFailed},
		{name: "coaps without key", uri: bs.secure.URI(), endpoint: endpoint, code: station.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.config != nil {
				bs.setConfig(*tt.config)
				defer bs.setConfig(config(targetURI))
			}
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			logs := &syncBuffer{}
			p := New(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))).
				WithClientOptions()
			start := time.Now()
			got, err := p.Probe(ctx, station.ProbeRequest{ServerURI: tt.uri, Endpoint: tt.endpoint, Credential: tt.cred, AnswerTimeout: tt.answer})
			if code := station.CodeOf(err); code != tt.code {
				t.Fatalf("code %q (err %v), want %q", code, err, tt.code)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("targets %q, want %q", got, tt.want)
			}
			if d := time.Since(start); tt.within > 0 && d > tt.within {
				t.Errorf("probe took %v, want at most %v", d, tt.within)
			}
			if tt.check != nil && !tt.check(err) {
				t.Errorf("err %v fails the check", err)
			}
			t.Logf("err: %v", err)
			out := logs.String()
			if err != nil {
				out += err.Error()
			}
			for _, k := range [][]byte{key, []byte("target-key-01234"), []byte("fedcba9876543210")} {
				for _, s := range []string{string(k), hex.EncodeToString(k), strings.ToUpper(hex.EncodeToString(k)), base64.StdEncoding.EncodeToString(k)} {
					if strings.Contains(out, s) {
						t.Errorf("key %q leaked:\n%s", s, out)
					}
				}
			}
		})
	}
}

// TestProbeCancelled: an interrupt is not a probe failure.
func TestProbeCancelled(t *testing.T) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }() // a silent peer: the handshake waits
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err = New(nil).Probe(ctx, station.ProbeRequest{ServerURI: "coaps://" + c.LocalAddr().String(), Endpoint: endpoint,
		Credential: station.Credential{Identity: endpoint, Key: station.PSKFromBytes([]byte("0123456789abcdef"))}})
	if !errors.Is(err, context.Canceled) || station.CodeOf(err) != station.Interrupted {
		t.Fatalf("err %v (code %s), want a cancellation", err, station.CodeOf(err))
	}
}

// TestBroken: only a session that broke off is tried again; a refusal, a
// failed handshake or an ended ctx is final.
func TestBroken(t *testing.T) {
	live := context.Background()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"connection closed", live, fmt.Errorf("bootstrap x: %w", errors.New("connection closed before Bootstrap-Finish")), true},
		{"conn context cancelled", live, fmt.Errorf("POST /bs: connection was closed: %w", context.Canceled), true},
		{"4.00", live, fmt.Errorf("bootstrap x: %w", &lwm2m.ResponseError{Op: "POST /bs", Code: codes.BadRequest}), false},
		{"handshake", live, fmt.Errorf("dial: %w: %w", lwm2m.ErrHandshake, context.DeadlineExceeded), false},
		{"no answer", live, fmt.Errorf("POST /bs: %w in 5s", lwm2m.ErrNoAnswer), false},
		{"our ctx ended", done, fmt.Errorf("x: %w", context.Canceled), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := broken(tt.ctx, tt.err); got != tt.want {
				t.Errorf("broken = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestImports: probe uses only station and lwm2m of our packages.
func TestImports(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if strings.HasPrefix(imp, "nrfline/") && imp != "nrfline/station" && imp != "nrfline/lwm2m" {
			t.Errorf("probe imports %s", imp)
		}
	}
}

func ptr[T any](v T) *T { return &v }
