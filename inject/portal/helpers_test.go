package portal

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"nrfline/station"
)

// Reference values of portals.md §1.
const (
	refEndpoint  = "urn:imei:352656100367872"
	refIMEI      = "352656100367872"
	refTargetURI = "coaps://lwm2m.example.com:5684"
	refKeyHex    = "000102030405060708090a0b0c0d0e0f"
)

// exchange is one request a test server received.
type exchange struct {
	Method string
	URI    string // RequestURI: escaped path and query as sent
	Header http.Header
	Body   string
}

// recorder records every request and answers with answer (200 when nil).
type recorder struct {
	mu     sync.Mutex
	got    []exchange
	answer func(w http.ResponseWriter, r *http.Request, body []byte, n int)
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	rec.got = append(rec.got, exchange{Method: r.Method, URI: r.RequestURI, Header: r.Header.Clone(), Body: string(body)})
	n := len(rec.got)
	rec.mu.Unlock()
	if rec.answer == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	rec.answer(w, r, body, n)
}

func (rec *recorder) requests() []exchange {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]exchange(nil), rec.got...)
}

// mustServer starts a loopback HTTP server for h, closed at cleanup.
func mustServer(tb testing.TB, h http.Handler) *httptest.Server {
	tb.Helper()
	ts := httptest.NewUnstartedServer(h)
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.Start()
	tb.Cleanup(ts.Close)
	return ts
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

// mustLogger returns a debug-level logger writing into a buffer.
func mustLogger(tb testing.TB) (*slog.Logger, *syncBuffer) {
	tb.Helper()
	buf := &syncBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// mustPortal builds a portal with fast retries.
func mustPortal(tb testing.TB, cfg station.PortalConfig, env map[string]string, logger *slog.Logger, opts ...Option) station.Portal {
	tb.Helper()
	if cfg.Timeout.Duration == 0 {
		cfg.Timeout.Duration = 5 * time.Second
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts = append([]Option{WithBackoff(time.Millisecond, 4*time.Millisecond)}, opts...)
	p, err := New(cfg, func(k string) string { return env[k] }, logger, opts...)
	if err != nil {
		tb.Fatalf("New(%+v): %v", cfg, err)
	}
	return p
}

func mustKey(tb testing.TB, hexKey string) station.PSK {
	tb.Helper()
	b, err := hex.DecodeString(hexKey)
	if err != nil {
		tb.Fatal(err)
	}
	return station.PSKFromBytes(b)
}

func mustRandomKey(tb testing.TB) station.PSK {
	tb.Helper()
	k, err := station.NewPSK(16)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// registration is a unit with the given keys and the reference endpoint.
func registration(endpoint string, bs, target station.PSK) station.Registration {
	return station.Registration{
		Endpoint:  endpoint,
		Identity:  station.Identity{IMEI: strings.TrimPrefix(endpoint, "urn:imei:"), IMSI: "001010123456789", ICCID: "8901234567890123456"},
		Bootstrap: station.Credential{Identity: endpoint, Key: bs},
		Target:    station.Credential{Identity: endpoint, Key: target},
		TargetURI: refTargetURI,
	}
}

// compact strips the whitespace of a reformatted JSON reference.
func compact(tb testing.TB, s string) string {
	tb.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(s)); err != nil {
		tb.Fatalf("reference JSON: %v", err)
	}
	return buf.String()
}

// leshanFake is an in-memory Leshan 2.x demo API (bootstrap and security
// resources) with the uniqueness rule of PSK identities.
type leshanFake struct {
	mu       sync.Mutex
	security map[string]securityInfo // by endpoint
	configs  map[string]json.RawMessage
	calls    []string // "METHOD RequestURI"
	// conflictBody is the 400 text for a PSK identity owned elsewhere.
	conflictBody string
	// configStatus, when set, answers POST /bootstrap with it.
	configStatus int
	// rejectPUT, when set, answers every security PUT 400 with it.
	rejectPUT string
	// listBroken answers the security listing 500.
	listBroken bool
}

func newLeshanFake() *leshanFake {
	return &leshanFake{security: map[string]securityInfo{}, configs: map[string]json.RawMessage{}, conflictBody: "PSK Identity is already used"}
}

func (f *leshanFake) handler(prefix string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("PUT "+prefix+"/security/clients/{$}", f.putSecurity)
	mux.HandleFunc("GET "+prefix+"/security/clients", f.listSecurity)
	mux.HandleFunc("DELETE "+prefix+"/security/clients/{ep}", f.deleteSecurity)
	mux.HandleFunc("POST "+prefix+"/bootstrap/{ep}", f.postConfig)
	mux.HandleFunc("DELETE "+prefix+"/bootstrap/{ep}", f.deleteConfig)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.calls = append(f.calls, r.Method+" "+r.RequestURI)
		f.mu.Unlock()
		mux.ServeHTTP(w, r)
	})
}

func (f *leshanFake) putSecurity(w http.ResponseWriter, r *http.Request) {
	var s securityInfo
	if err := json.NewDecoder(r.Body).Decode(&s); err != nil || s.Endpoint == "" {
		http.Error(w, "Invalid request body: bad json", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rejectPUT != "" {
		http.Error(w, f.rejectPUT, http.StatusBadRequest)
		return
	}
	for ep, other := range f.security {
		if ep != s.Endpoint && other.TLS.Details.Identity == s.TLS.Details.Identity {
			http.Error(w, f.conflictBody, http.StatusBadRequest)
			return
		}
	}
	f.security[s.Endpoint] = s
}

func (f *leshanFake) listSecurity(w http.ResponseWriter, _ *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.listBroken {
		http.Error(w, "broken", http.StatusInternalServerError)
		return
	}
	list := []securityInfo{}
	for _, s := range f.security {
		list = append(list, s)
	}
	_ = json.NewEncoder(w).Encode(list)
}

func (f *leshanFake) deleteSecurity(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ep := r.PathValue("ep")
	if _, ok := f.security[ep]; !ok {
		http.Error(w, "no security info for "+ep, http.StatusNotFound)
		return
	}
	delete(f.security, ep)
}

func (f *leshanFake) postConfig(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.configStatus != 0 {
		http.Error(w, "config refused: "+string(body), f.configStatus)
		return
	}
	f.configs[r.PathValue("ep")] = body
}

func (f *leshanFake) deleteConfig(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ep := r.PathValue("ep")
	if _, ok := f.configs[ep]; !ok {
		http.Error(w, "no config for "+ep, http.StatusNotFound)
		return
	}
	delete(f.configs, ep)
	w.WriteHeader(http.StatusNoContent)
}

func (f *leshanFake) keyOf(endpoint string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.security[endpoint]
	return s.TLS.Details.Key, ok
}

func (f *leshanFake) config(endpoint string) (leshanConfig, bool) {
	f.mu.Lock()
	raw, ok := f.configs[endpoint]
	f.mu.Unlock()
	var c struct {
		Security map[string]struct {
			URI       string `json:"uri"`
			SecretKey []int  `json:"secretKey"`
		} `json:"security"`
	}
	if !ok || json.Unmarshal(raw, &c) != nil {
		return leshanConfig{}, false
	}
	out := leshanConfig{Security: map[string]leshanSecurity{}}
	for k, s := range c.Security {
		key := make([]byte, len(s.SecretKey))
		for i, v := range s.SecretKey {
			key[i] = byte(v)
		}
		out.Security[k] = leshanSecurity{URI: s.URI, SecretKey: key}
	}
	return out, true
}

func (f *leshanFake) callLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// callLog records "METHOD RequestURI" across handlers, in arrival order.
type callLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *callLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.calls = append(l.calls, r.Method+" "+r.RequestURI)
		l.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (l *callLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.calls...)
}
