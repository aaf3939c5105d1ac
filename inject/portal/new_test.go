package portal

import (
	"context"
	"strings"
	"testing"

	"nrfline/internal/deptest"
	"nrfline/station"
)

// TestNew: each kind gives its type; configuration mistakes are errors at
// New naming the key.
func TestNew(t *testing.T) {
	req := func(url, body string) []station.HTTPRequest {
		return []station.HTTPRequest{{Name: "r", Method: "POST", URL: url, Body: body}}
	}
	env := map[string]string{"TOKEN": "t0ken"}
	tests := []struct {
		name    string
		cfg     station.PortalConfig
		wantErr string // "" = success
		check   func(station.Portal) bool
	}{
		{"none", station.PortalConfig{Kind: "none"}, "", func(p station.Portal) bool { _, ok := p.(None); return ok }},
		{"leshan", station.PortalConfig{Kind: "leshan", URL: "http://127.0.0.1:8080/api", TargetURI: refTargetURI}, "",
			func(p station.Portal) bool { _, ok := p.(*Leshan); return ok }},
		{"coiote", station.PortalConfig{Kind: "coiote", URL: "https://eu.iot.avsystem.cloud/api/coiotedm/v3", TokenEnv: "TOKEN", Coiote: station.CoioteConfig{Domain: "/IoT/X/"}}, "",
			func(p station.Portal) bool { _, ok := p.(*Coiote); return ok }},
		{"http", station.PortalConfig{Kind: "http", HTTP: req("https://portal.example.com/x/{{urlpath .imei}}", `{{json .imei}}`)}, "",
			func(p station.Portal) bool { _, ok := p.(*HTTP); return ok }},
		{"unknown kind", station.PortalConfig{Kind: "thingsboard", URL: "http://x"}, "portal.kind", nil},
		{"no url", station.PortalConfig{Kind: "leshan", TargetURI: refTargetURI}, "portal.url", nil},
		{"ftp url", station.PortalConfig{Kind: "leshan", URL: "ftp://x/api", TargetURI: refTargetURI}, "portal.url", nil},
		{"credentials in url", station.PortalConfig{Kind: "leshan", URL: "http://u:p@x/api", TargetURI: refTargetURI}, "portal.url", nil},
		{"bad dm_url", station.PortalConfig{Kind: "leshan", URL: "http://x/api", DMURL: "x/api", TargetURI: refTargetURI}, "portal.dm_url", nil},
		{"no target_uri", station.PortalConfig{Kind: "leshan", URL: "http://x/api"}, "portal.target_uri", nil},
		{"negative retries", station.PortalConfig{Kind: "leshan", URL: "http://x/api", TargetURI: refTargetURI, Retries: -1}, "portal.retries", nil},
		{"token unset", station.PortalConfig{Kind: "leshan", URL: "http://x/api", TargetURI: refTargetURI, TokenEnv: "NOPE"}, "NOPE", nil},
		{"coiote without domain", station.PortalConfig{Kind: "coiote", URL: "https://x/api"}, "portal.coiote.domain", nil},
		{"http without requests", station.PortalConfig{Kind: "http"}, "portal.request", nil},
		{"template syntax", station.PortalConfig{Kind: "http", HTTP: req("https://x/{{.imei", "")}, "portal.request[0]", nil},
		{"unknown variable", station.PortalConfig{Kind: "http", HTTP: req("https://x/", "{{.imie}}")}, "imie", nil},
		{"unknown function", station.PortalConfig{Kind: "http", HTTP: req("https://x/", "{{base32 .psk}}")}, "base32", nil},
		{"json of a key", station.PortalConfig{Kind: "http", HTTP: req("https://x/", "{{json .psk}}")}, "json", nil},
		{"relative url", station.PortalConfig{Kind: "http", HTTP: req("/x/{{.imei}}", "")}, "url", nil},
		{"empty url", station.PortalConfig{Kind: "http", HTTP: req("", "")}, "url", nil},
		{"bad method", station.PortalConfig{Kind: "http", HTTP: []station.HTTPRequest{{URL: "https://x/", Method: "FETCH"}}}, "method", nil},
		{"bad expect", station.PortalConfig{Kind: "http", HTTP: []station.HTTPRequest{{URL: "https://x/", Expect: []int{20}}}}, "expect", nil},
		{"bad header", station.PortalConfig{Kind: "http", HTTP: []station.HTTPRequest{{URL: "https://x/", Headers: map[string]string{"a b": "c"}}}}, "headers", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.cfg, func(k string) string { return env[k] }, nil)
			if tt.wantErr == "" {
				if err != nil || !tt.check(p) {
					t.Fatalf("New = %T, %v", p, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err %v, want one naming %q", err, tt.wantErr)
			}
		})
	}
}

// TestNoneRegisters: the none kind accepts everything.
func TestNoneRegisters(t *testing.T) {
	if err := (None{}).Register(context.Background(), station.Registration{}); err != nil {
		t.Fatal(err)
	}
}

// TestIncompleteRegistration: a registration without keys never leaves
// the station.
func TestIncompleteRegistration(t *testing.T) {
	rec := &recorder{}
	ts := mustServer(t, rec)
	p := mustPortal(t, station.PortalConfig{Kind: "leshan", URL: ts.URL + "/api", TargetURI: refTargetURI}, nil, nil)
	r := registration(refEndpoint, mustRandomKey(t), station.PSK{})
	if err := p.Register(context.Background(), r); station.CodeOf(err) != station.Internal {
		t.Fatalf("err %v, want INTERNAL", err)
	}
	if n := len(rec.requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

// TestImports: portal uses only station of our packages, and no programs,
// SQLite or serial ports.
func TestImports(t *testing.T) {
	deptest.Check(t, ".", deptest.Rules{Ours: []string{"nrfline/station"}, Deny: []string{"os/exec", "database/sql"}})
}
