package portal

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"nrfline/station"
)

// echo answers status with everything it received: URL, Authorization and
// body (as a careless portal's error page might).
func echo(status int) func(http.ResponseWriter, *http.Request, []byte, int) {
	return func(w http.ResponseWriter, r *http.Request, body []byte, _ int) {
		w.WriteHeader(status)
		_, _ = fmt.Fprintf(w, "you sent %s %s auth=%s body=%s", r.Method, r.URL.String(), r.Header.Get("Authorization"), body)
	}
}

// secretForms are the forms in which a key or token must never leave in
// an error or a log line.
func secretForms(keys []station.PSK, texts ...string) []string {
	var out []string
	for _, k := range keys {
		b := k.Bytes()
		out = append(out, hex.EncodeToString(b), strings.ToUpper(hex.EncodeToString(b)),
			base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
			base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b), intArray(b))
	}
	return append(out, texts...)
}

// TestNoSecretInErrorsOrLogs drives every kind into failures against
// servers that echo the request (keys in the body, the URL and the
// Authorization header) and scans every error string and all log output.
func TestNoSecretInErrorsOrLogs(t *testing.T) {
	const token = "tok-Sup3rSecret"
	const basicPass = "pa55-word-xyz"
	basicCreds := base64.StdEncoding.EncodeToString([]byte("op:" + basicPass))
	leakyURL := "/u/{{hex .psk}}/{{HEX .target_psk}}/{{urlpath (b64 .psk)}}?k={{b64 .target_psk}}&t={{urlpath .token}}"
	leakyBody := `{"a":{{json (hex .psk)}},"b":{{json (b64 .target_psk)}},"c":{{bytes .psk}},"d":{{json .token}}}`
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	type scenario struct {
		name   string
		answer func(http.ResponseWriter, *http.Request, []byte, int)
		cfg    func(base string) station.PortalConfig
		token  string
	}
	leshan := func(base string) station.PortalConfig {
		return station.PortalConfig{Kind: "leshan", URL: base + "/api", DMURL: base + "/dm", TargetURI: refTargetURI, TokenEnv: "TOK", Retries: 1}
	}
	coiote := func(base string) station.PortalConfig {
		return station.PortalConfig{Kind: "coiote", URL: base + "/api", TokenEnv: "TOK", Retries: 1, Coiote: station.CoioteConfig{Domain: "/IoT/"}}
	}
	templated := func(base string) station.PortalConfig {
		return station.PortalConfig{Kind: "http", TokenEnv: "TOK", Retries: 1,
			HTTP: []station.HTTPRequest{{Name: "leaky", Method: "POST", URL: base + leakyURL, Body: leakyBody}}}
	}
	scenarios := []scenario{
		{"leshan 400", echo(400), leshan, token},
		{"leshan 500", echo(500), leshan, token},
		{"leshan config 400 listing keys", func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
			switch {
			case r.Method == http.MethodGet:
				_, _ = fmt.Fprintf(w, `[{"endpoint":"other","tls":{"details":{"identity":%q,"key":"x"}},"body":%q}]`, refEndpoint, body)
			case strings.Contains(r.URL.Path, "/bootstrap/"), r.Method == http.MethodDelete:
				echo(400)(w, r, body, n)
			case strings.HasPrefix(r.URL.Path, "/api/security"):
				echo(400)(w, r, body, n)
			}
		}, leshan, "Basic op:" + basicPass},
		{"coiote 400", echo(400), coiote, token},
		{"coiote 503", echo(503), coiote, "Basic op:" + basicPass},
		{"http 400", echo(400), templated, token},
		{"http 500", echo(500), templated, token},
		{"http 409", echo(409), templated, "Basic op:" + basicPass},
		{"http refused", nil, func(string) station.PortalConfig { return templated(closedURL) }, token},
		{"http timeout", func(_ http.ResponseWriter, r *http.Request, _ []byte, _ int) { <-r.Context().Done() }, func(base string) station.PortalConfig {
			c := templated(base)
			c.Timeout.Duration = 30 * time.Millisecond
			return c
		}, token},
	}
	var leakedToServer bool
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			rec := &recorder{answer: sc.answer}
			ts := mustServer(t, rec)
			logger, logs := mustLogger(t)
			p := mustPortal(t, sc.cfg(ts.URL), map[string]string{"TOK": sc.token}, logger)
			bs, target := mustRandomKey(t), mustRandomKey(t)
			err := p.Register(context.Background(), registration(refEndpoint, bs, target))
			if err == nil {
				t.Fatal("Register succeeded; the scenario must fail")
			}
			if station.CodeOf(err) == station.Internal {
				t.Fatalf("unexpected internal error: %v", err)
			}
			out := err.Error() + "\n" + logs.String()
			for _, s := range secretForms([]station.PSK{bs, target}, token, basicPass, basicCreds) {
				if strings.Contains(out, s) {
					t.Errorf("secret %q leaked:\n%s", s, out)
				}
			}
			for _, g := range rec.requests() {
				if strings.Contains(g.Body, bs.Hex()) || strings.Contains(g.URI, bs.Hex()) {
					leakedToServer = true
				}
			}
			t.Logf("%s", err)
		})
	}
	if !leakedToServer {
		t.Error("no scenario sent a key on the wire: the scan proves nothing")
	}
}

// TestRedactor covers the encodings a server might echo.
func TestRedactor(t *testing.T) {
	k := mustKey(t, refKeyHex)
	red := newRedactor([]string{"tok-123"}, k)
	for _, in := range []string{
		refKeyHex, strings.ToUpper(refKeyHex), "000102030405060708090A0b0c0d0e0f",
		"AAECAwQFBgcICQoLDA0ODw==", "AAECAwQFBgcICQoLDA0ODw", "AAECAwQFBgcICQoLDA0ODw%3D%3D",
		"[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]", "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]",
		"tok-123",
	} {
		if got := red.text("x " + in + " y"); got != "x "+mask+" y" {
			t.Errorf("text(%q) = %q", in, got)
		}
	}
	if got := red.text("nothing secret"); got != "nothing secret" {
		t.Errorf("text changed: %q", got)
	}
}
