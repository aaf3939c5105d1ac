package portal

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"nrfline/station"
)

// oneRequest is an "http" portal config with a single POST to u.
func oneRequest(u string, retries int) station.PortalConfig {
	return station.PortalConfig{Kind: "http", Retries: retries, HTTP: []station.HTTPRequest{
		{Name: "register", Method: "POST", URL: u + "/register/{{urlpath .endpoint}}", Body: `{"id":{{json .endpoint}}}`},
	}}
}

// TestRetryPolicy: network errors and 5xx are retried (retries+1 attempts
// in all), 4xx never.
func TestRetryPolicy(t *testing.T) {
	tests := []struct {
		name     string
		statuses []int // answers in order; the last repeats
		retries  int
		want     station.Code
		attempts int
	}{
		{"ok", []int{200}, 3, station.CodeNone, 1},
		{"500 then ok", []int{500, 503, 201}, 3, station.CodeNone, 3},
		{"500 always", []int{500}, 2, station.PortalServerError, 3},
		{"502 no retries", []int{502}, 0, station.PortalServerError, 1},
		{"400 not retried", []int{400}, 3, station.PortalRejected, 1},
		{"401 not retried", []int{401}, 3, station.PortalRejected, 1},
		{"404 not retried", []int{404}, 3, station.PortalRejected, 1},
		{"409 conflict", []int{409}, 3, station.PortalConflict, 1},
		{"redirect not followed", []int{307}, 3, station.PortalRejected, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{answer: func(w http.ResponseWriter, _ *http.Request, _ []byte, n int) {
				s := tt.statuses[min(n, len(tt.statuses))-1]
				if s == http.StatusTemporaryRedirect {
					w.Header().Set("Location", "http://example.com/elsewhere")
				}
				w.WriteHeader(s)
			}}
			ts := mustServer(t, rec)
			p := mustPortal(t, oneRequest(ts.URL, tt.retries), nil, nil)
			err := p.Register(context.Background(), registration(refEndpoint, mustRandomKey(t), mustRandomKey(t)))
			if got := station.CodeOf(err); got != tt.want {
				t.Fatalf("code %q (err %v), want %q", got, err, tt.want)
			}
			if n := len(rec.requests()); n != tt.attempts {
				t.Errorf("%d attempts, want %d", n, tt.attempts)
			}
			var st *StatusError
			if tt.want != station.CodeNone && !errors.As(err, &st) {
				t.Errorf("no *StatusError in %v", err)
			}
		})
	}
}

// TestUnreachable: a portal that never answers within portal.timeout, or
// refuses connections, is PORTAL_UNREACHABLE after every attempt.
func TestUnreachable(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		var hits atomic.Int32
		done := make(chan struct{})
		ts := mustServer(t, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			select {
			case <-r.Context().Done():
			case <-done:
			}
		}))
		defer close(done)
		cfg := oneRequest(ts.URL, 2)
		cfg.Timeout.Duration = 50 * time.Millisecond
		p := mustPortal(t, cfg, nil, nil)
		err := p.Register(context.Background(), registration(refEndpoint, mustRandomKey(t), mustRandomKey(t)))
		if got := station.CodeOf(err); got != station.PortalUnreachable {
			t.Fatalf("code %q (err %v), want PORTAL_UNREACHABLE", got, err)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("deadline not reachable in %v", err)
		}
		if n := hits.Load(); n != 3 {
			t.Errorf("%d attempts, want 3", n)
		}
	})
	t.Run("refused", func(t *testing.T) {
		ts := httptest.NewServer(http.NotFoundHandler())
		u := ts.URL
		ts.Close()
		p := mustPortal(t, oneRequest(u, 1), nil, nil)
		err := p.Register(context.Background(), registration(refEndpoint, mustRandomKey(t), mustRandomKey(t)))
		if got := station.CodeOf(err); got != station.PortalUnreachable {
			t.Fatalf("code %q (err %v), want PORTAL_UNREACHABLE", got, err)
		}
		var ue *url.Error
		if !errors.As(err, &ue) {
			t.Errorf("*url.Error not reachable in %v", err)
		}
	})
}

// TestCancelled: a cancelled ctx stops the retries and is not classified
// as a portal failure (the engine makes it ABORTED).
func TestCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	rec := &recorder{answer: func(w http.ResponseWriter, _ *http.Request, _ []byte, _ int) {
		cancel()
		w.WriteHeader(http.StatusServiceUnavailable)
	}}
	ts := mustServer(t, rec)
	p := mustPortal(t, oneRequest(ts.URL, 5), nil, nil, WithBackoff(time.Hour, time.Hour))
	err := p.Register(ctx, registration(refEndpoint, mustRandomKey(t), mustRandomKey(t)))
	if !errors.Is(err, context.Canceled) || station.CodeOf(err) != station.Interrupted {
		t.Fatalf("err %v (code %s), want a cancellation", err, station.CodeOf(err))
	}
	if n := len(rec.requests()); n != 1 {
		t.Errorf("%d attempts after cancel, want 1", n)
	}
}

// TestTLSVerification: a self-signed portal fails (once: a certificate
// error is not retried); the same server passes once its certificate is
// trusted through WithRootCAs.
func TestTLSVerification(t *testing.T) {
	var hits atomic.Int32
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	var handshakes atomic.Int32
	ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			handshakes.Add(1)
		}
	}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	for _, kind := range []string{"http", "leshan", "coiote"} {
		t.Run(kind, func(t *testing.T) {
			cfg := oneRequest(ts.URL, 3)
			cfg.Kind, cfg.URL, cfg.TargetURI, cfg.Coiote.Domain = kind, ts.URL+"/api", refTargetURI, "/IoT/Test/"
			hits.Store(0)
			handshakes.Store(0)
			err := mustPortal(t, cfg, nil, nil).Register(context.Background(), registration(refEndpoint, mustRandomKey(t), mustRandomKey(t)))
			if got := station.CodeOf(err); got != station.PortalUnreachable {
				t.Fatalf("self-signed: code %q (err %v), want PORTAL_UNREACHABLE", got, err)
			}
			var cve *tls.CertificateVerificationError
			if !errors.As(err, &cve) {
				t.Errorf("no certificate verification error in %v", err)
			}
			if hits.Load() != 0 || handshakes.Load() != 1 {
				t.Errorf("hits %d, connections %d: want 0 and 1 (no retry on a bad certificate)", hits.Load(), handshakes.Load())
			}
			pool := x509.NewCertPool()
			pool.AddCert(ts.Certificate())
			if err := mustPortal(t, cfg, nil, nil, WithRootCAs(pool)).Register(context.Background(), registration(refEndpoint, mustRandomKey(t), mustRandomKey(t))); err != nil {
				t.Fatalf("trusted: %v", err)
			}
		})
	}
}

// TestAuthorization: token_env's value reaches every request of every
// kind as a bearer token (or Basic credentials); an unset variable is a
// configuration error at New.
func TestAuthorization(t *testing.T) {
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("operator:s3cret-pass"))
	tests := []struct {
		kind, value, want string
	}{
		{"leshan", "tok-123.abc", "Bearer tok-123.abc"},
		{"coiote", "tok-123.abc", "Bearer tok-123.abc"},
		{"http", "tok-123.abc", "Bearer tok-123.abc"},
		{"coiote", "Basic operator:s3cret-pass", basic},
		{"http", "basic operator:s3cret-pass", basic},
	}
	for _, tt := range tests {
		t.Run(tt.kind+" "+tt.want[:5], func(t *testing.T) {
			rec := &recorder{answer: func(w http.ResponseWriter, r *http.Request, _ []byte, _ int) {
				if r.Method == http.MethodDelete {
					w.WriteHeader(http.StatusNotFound)
				}
			}}
			ts := mustServer(t, rec)
			cfg := oneRequest(ts.URL, 0)
			cfg.Kind, cfg.URL, cfg.DMURL, cfg.TargetURI, cfg.Coiote.Domain = tt.kind, ts.URL+"/api", ts.URL+"/dm", refTargetURI, "/IoT/Test/"
			cfg.TokenEnv = "PORTAL_TOKEN"
			p := mustPortal(t, cfg, map[string]string{"PORTAL_TOKEN": tt.value}, nil)
			if err := p.Register(context.Background(), registration(refEndpoint, mustRandomKey(t), mustRandomKey(t))); err != nil {
				t.Fatal(err)
			}
			got := rec.requests()
			if len(got) == 0 {
				t.Fatal("no requests")
			}
			for _, g := range got {
				if a := g.Header.Get("Authorization"); a != tt.want {
					t.Errorf("%s %s: Authorization %q, want %q", g.Method, g.URI, a, tt.want)
				}
			}
		})
	}
	t.Run("unset", func(t *testing.T) {
		cfg := station.PortalConfig{Kind: "leshan", URL: "http://127.0.0.1:1/api", TargetURI: refTargetURI, TokenEnv: "PORTAL_TOKEN"}
		if _, err := New(cfg, func(string) string { return "" }, nil); err == nil {
			t.Fatal("New accepted an unset token variable")
		}
	})
}
