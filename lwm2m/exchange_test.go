package lwm2m

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/mux"
)

const testEndpoint = "urn:imei:352656100367872"

// testKeys is a fixed identity→key table.
type testKeys map[string][]byte

func (k testKeys) lookup(identity string) ([]byte, error) {
	key, ok := k[identity]
	if !ok {
		return nil, fmt.Errorf("identity %q: %w", identity, ErrUnknownIdentity)
	}
	return key, nil
}

func testConfig() BootstrapConfig {
	return BootstrapConfig{
		ToDelete: []string{"/0", "/1"},
		Security: []SecurityInstance{fullSecurity()},
		Servers:  []ServerInstance{refServer()},
	}
}

// mustListen starts h on loopback, CoAPs when keys is non-nil.
func mustListen(tb testing.TB, h mux.Handler, keys testKeys) *Listener {
	tb.Helper()
	return mustListenWith(tb, ListenConfig{Logger: testLogger(tb)}, h, keys)
}

// mustListenWith is mustListen with lc (its Keys are set from keys).
func mustListenWith(tb testing.TB, lc ListenConfig, h mux.Handler, keys testKeys) *Listener {
	tb.Helper()
	var (
		l   *Listener
		err error
	)
	if keys != nil {
		lc.Keys = keys.lookup
		l, err = lc.ListenCoAPs(context.Background(), "127.0.0.1:0", h)
	} else {
		l, err = lc.ListenCoAP(context.Background(), "127.0.0.1:0", h)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = l.Close() })
	return l
}

// sessionLog records BootstrapServer.Done calls.
type sessionLog struct {
	mu   sync.Mutex
	ends []string
	ch   chan struct{}
}

func newSessionLog() *sessionLog { return &sessionLog{ch: make(chan struct{}, 16)} }

func (s *sessionLog) done(identity, endpoint string, err error) {
	s.mu.Lock()
	s.ends = append(s.ends, fmt.Sprintf("%s %s %v", identity, endpoint, err))
	s.mu.Unlock()
	s.ch <- struct{}{}
}

func newTestBootstrapServer(tb testing.TB, log *sessionLog) *BootstrapServer {
	return &BootstrapServer{
		Logger: testLogger(tb),
		Done:   log.done,
		Lookup: func(_ context.Context, identity, endpoint string) (BootstrapConfig, error) {
			if endpoint != testEndpoint {
				return BootstrapConfig{}, errors.New("no bootstrap config")
			}
			if identity != "" && identity != testEndpoint {
				return BootstrapConfig{}, errors.New("identity belongs to another endpoint")
			}
			return testConfig(), nil
		},
	}
}

func TestBootstrapExchange(t *testing.T) {
	checkGoroutines(t)
	bsKey := []byte("0123456789abcdef")
	keys := testKeys{testEndpoint: bsKey, "urn:imei:000000000000001": []byte("another-key-1234")}
	sessions := newSessionLog()
	bs := newTestBootstrapServer(t, sessions)
	secure := mustListen(t, bs, keys)
	plain := mustListen(t, bs, nil)
	t.Cleanup(bs.Wait)

	want := &Delivered{Security: []SecurityInstance{fullSecurity()}, Servers: []ServerInstance{refServer()}, Deleted: []string{"/0", "/1"}, Format: FormatTLV}
	tests := []struct {
		name     string
		uri      string
		endpoint string
		psk      *PSK
		want     *Delivered
		events   []ClientEvent
		check    func(t *testing.T, err error)
		timeout  time.Duration // default 10s
	}{
		{
			name: "coaps ok", uri: secure.URI(), endpoint: testEndpoint,
			psk:    &PSK{Identity: testEndpoint, Key: bsKey},
			want:   want,
			events: []ClientEvent{BootstrapStarted, BootstrapRegDone, BootstrapTransferDone},
		},
		{
			name: "coap ok", uri: plain.URI(), endpoint: testEndpoint, want: want,
			events: []ClientEvent{BootstrapStarted, BootstrapRegDone, BootstrapTransferDone},
		},
		{
			name: "unknown endpoint", uri: secure.URI(), endpoint: "urn:imei:999999999999999",
			psk:    &PSK{Identity: testEndpoint, Key: bsKey},
			events: []ClientEvent{BootstrapStarted, BootstrapRegFailed},
			check:  wantResponse(codes.BadRequest),
		},
		{
			name: "identity of another endpoint", uri: secure.URI(), endpoint: testEndpoint,
			psk:    &PSK{Identity: "urn:imei:000000000000001", Key: []byte("another-key-1234")},
			events: []ClientEvent{BootstrapStarted, BootstrapRegFailed},
			check:  wantResponse(codes.BadRequest),
		},
		{
			name: "wrong key", uri: secure.URI(), endpoint: testEndpoint,
			psk:    &PSK{Identity: testEndpoint, Key: []byte("fedcba9876543210")},
			events: []ClientEvent{BootstrapStarted, BootstrapRegFailed},
			check:  wantHandshake, timeout: 1500 * time.Millisecond, // pion drops the bad Finished: only ctx ends it
		},
		{
			name: "unknown identity", uri: secure.URI(), endpoint: testEndpoint,
			psk:    &PSK{Identity: "urn:imei:111111111111111", Key: bsKey},
			events: []ClientEvent{BootstrapStarted, BootstrapRegFailed},
			check:  wantHandshake,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			var events []ClientEvent
			got, err := Bootstrap(ctx, tc.uri, tc.endpoint, tc.psk, WithEvents(func(ev ClientEvent) { events = append(events, ev) }), WithLogger(testLogger(t)))
			if tc.check != nil {
				tc.check(t, err)
			} else if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("delivered:\n got %+v\nwant %+v", got, tc.want)
			}
			if !reflect.DeepEqual(events, tc.events) {
				t.Errorf("events %v, want %v", events, tc.events)
			}
			if tc.want != nil {
				<-sessions.ch // the server saw the 2.04 to Finish
			}
		})
	}
	sessions.mu.Lock()
	defer sessions.mu.Unlock()
	wantEnds := []string{testEndpoint + " " + testEndpoint + " <nil>", " " + testEndpoint + " <nil>"}
	if !reflect.DeepEqual(sessions.ends, wantEnds) {
		t.Errorf("server sessions %q, want %q", sessions.ends, wantEnds)
	}
}

func wantResponse(code codes.Code) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var re *ResponseError
		if !errors.As(err, &re) || re.Code != code {
			t.Fatalf("err = %v, want ResponseError %s", err, CodeText(code))
		}
		if errors.Is(err, ErrHandshake) {
			t.Errorf("response error %v also reads as a handshake error", err)
		}
	}
}

func wantHandshake(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrHandshake) {
		t.Fatalf("err = %v, want ErrHandshake", err)
	}
	var re *ResponseError
	if errors.As(err, &re) {
		t.Errorf("handshake error %v also reads as a ResponseError", err)
	}
}

func TestRegister(t *testing.T) {
	checkGoroutines(t)
	dmKey := []byte("dm-key-0123456789")
	keys := testKeys{testEndpoint: dmKey, "other": []byte("other-key")}
	var (
		mu         sync.Mutex
		registered []Registration
	)
	rs := &RegistrationServer{
		Logger: testLogger(t),
		Authorize: func(identity, endpoint string) error {
			if identity != endpoint {
				return fmt.Errorf("identity %q may not register %q", identity, endpoint)
			}
			return nil
		},
		OnRegister: func(r Registration) {
			mu.Lock()
			registered = append(registered, r)
			mu.Unlock()
		},
	}
	l := mustListen(t, rs, keys)
	tests := []struct {
		name    string
		psk     PSK
		timeout time.Duration
		check   func(*testing.T, error)
	}{
		{name: "ok", psk: PSK{Identity: testEndpoint, Key: dmKey}},
		{name: "forbidden", psk: PSK{Identity: "other", Key: []byte("other-key")}, check: wantResponse(codes.Forbidden)},
		{name: "wrong key", psk: PSK{Identity: testEndpoint, Key: []byte("wrong")}, timeout: 1500 * time.Millisecond, check: wantHandshake},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			id, err := Register(ctx, l.URI(), testEndpoint, &tc.psk, 43200)
			if tc.check != nil {
				tc.check(t, err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			reg, ok := rs.Registration(testEndpoint)
			if !ok || reg.ID != id || reg.Lifetime != 43200 || reg.Identity != testEndpoint || reg.Binding != "U" || reg.Version != "1.0" || reg.Objects != registerObjects {
				t.Errorf("registration %+v (ok %v), want id %q", reg, ok, id)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if len(registered) != 1 {
		t.Errorf("OnRegister called %d times, want 1", len(registered))
	}
}

func TestPSKNeverPrintsKey(t *testing.T) {
	p := PSK{Identity: "id", Key: []byte("super-secret-key")}
	for _, s := range []string{p.String(), fmt.Sprintf("%v %+v %#v %s", p, p, p, &p), p.LogValue().String()} {
		if contains(s, "super-secret-key") || contains(s, fmt.Sprintf("%x", p.Key)) || contains(s, fmt.Sprint(p.Key)) {
			t.Errorf("key visible in %q", s)
		}
	}
	if err := (PSK{Key: []byte{1}}).Validate(); err == nil {
		t.Error("empty identity accepted")
	}
	if _, err := Bootstrap(context.Background(), "coaps://127.0.0.1:1", "ep", &PSK{Key: []byte{1}}); err == nil {
		t.Error("Bootstrap with empty identity accepted")
	}
	if _, err := Bootstrap(context.Background(), "coaps://127.0.0.1:1", "ep", nil); err == nil {
		t.Error("coaps Bootstrap without PSK accepted")
	}
}

func contains(s, sub string) bool { return len(sub) > 0 && strings.Contains(s, sub) }

// TestBootstrapServerOrder checks Leshan's session order on the wire:
// deletes, security writes, server writes, Finish, each CON with TLV.
func TestBootstrapServerOrder(t *testing.T) {
	checkGoroutines(t)
	sessions := newSessionLog()
	bs := newTestBootstrapServer(t, sessions)
	l := mustListen(t, bs, nil)
	t.Cleanup(bs.Wait)

	var (
		mu   sync.Mutex
		seen []string
	)
	finished := make(chan struct{})
	rec := mux.HandlerFunc(func(w mux.ResponseWriter, r *mux.Message) {
		p, _ := msgPath(r.Message)
		cf, _ := r.ContentFormat()
		mu.Lock()
		seen = append(seen, fmt.Sprintf("%s %v %s cf=%d", r.Type(), r.Code(), p, cf))
		mu.Unlock()
		code := codes.Changed
		if r.Code() == codes.DELETE {
			code = codes.Deleted
		}
		_ = w.SetResponse(code, message.TextPlain, nil)
		if r.Code() == codes.POST {
			close(finished)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	replies := &replyMatcher{}
	cc, err := dial(ctx, l.URI(), nil, rec, newClientConfig(nil), replies.monitor)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	code, err := bootstrapRequest(ctx, cc, replies, testEndpoint, newClientConfig(nil))
	if err != nil || code != codes.Changed {
		t.Fatalf("POST /bs: %v %v", code, err)
	}
	select {
	case <-finished:
	case <-ctx.Done():
		t.Fatal("no Finish")
	}
	<-sessions.ch
	mu.Lock()
	defer mu.Unlock()
	want := []string{
		"Confirmable DELETE /0 cf=0", "Confirmable DELETE /1 cf=0",
		"Confirmable PUT /0/1 cf=11542", "Confirmable PUT /1/0 cf=11542",
		"Confirmable POST /bs cf=0",
	}
	if !reflect.DeepEqual(seen, want) {
		t.Errorf("server sent\n%q\nwant\n%q", seen, want)
	}
}
