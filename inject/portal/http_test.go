package portal

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"

	"nrfline/station"
)

// TestTemplateEncoders: every encoder over keys and strings, in the body,
// the URL and a header.
func TestTemplateEncoders(t *testing.T) {
	tests := []struct {
		name, url, header, body string
		wantURI, wantHdr        string
		wantBody                string
	}{
		{name: "hex", body: `{{hex .psk}}`, wantBody: refKeyHex},
		{name: "HEX", body: `{{HEX .target_psk}}`, wantBody: "F0E1D2C3B4A5968778695A4B3C2D1E0F"},
		{name: "b64", body: `{{b64 .psk}}`, wantBody: "AAECAwQFBgcICQoLDA0ODw=="},
		{name: "b64 prefix", body: `psk:{{b64 .target_psk}}`, wantBody: "psk:8OHSw7Sllod4aVpLPC0eDw=="},
		{name: "bytes key", body: `{{bytes .psk}}`, wantBody: "[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]"},
		{name: "bytes identity", body: `{{bytes .identity}}`, wantBody: "[117,114,110,58,105,109,101,105,58,51,53,50,54,53,54,49,48,48,51,54,55,56,55,50]"},
		{name: "hex identity", body: `{{hex .identity}}`, wantBody: "75726e3a696d65693a333532363536313030333637383732"},
		{name: "urlpath", url: `/d/{{urlpath .endpoint}}`, wantURI: "/d/urn%3Aimei%3A352656100367872"},
		{name: "urlpath b64 key", url: `/k/{{urlpath (b64 .target_psk)}}`, wantURI: "/k/8OHSw7Sllod4aVpLPC0eDw%3D%3D"},
		{name: "json", body: `{{json .station_id}}`, wantBody: `"line1 \"st3\" <a&b>"`},
		{name: "json of encoded key", body: `{"k":{{json (HEX .psk)}}}`, wantBody: `{"k":"000102030405060708090A0B0C0D0E0F"}`},
		{name: "key without encoder prints its fingerprint", body: `{{.psk}}`, wantBody: mustKey(t, refKeyHex).String()},
		{name: "variables", body: `{{.imei}} {{.imsi}} {{.iccid}} {{.endpoint}} {{.target_identity}} {{.target_uri}} {{.station_id}}`,
			wantBody: refIMEI + " 001010123456789 8901234567890123456 " + refEndpoint + " " + refEndpoint + " " + refTargetURI + ` line1 "st3" <a&b>`},
		{name: "optional field", body: `{"a":1{{if .imsi}},"imsi":{{json .imsi}}{{end}}}`, wantBody: `{"a":1,"imsi":"001010123456789"}`},
		{name: "header", header: `Bearer {{.token}}`, wantHdr: "Bearer tok"},
		{name: "header prefix", header: `psk-id:{{.identity}}`, wantHdr: "psk-id:" + refEndpoint},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			ts := mustServer(t, rec)
			req := station.HTTPRequest{Name: "one", Method: "put", URL: ts.URL + tt.url, Body: tt.body}
			if tt.header != "" {
				req.Headers = map[string]string{"x-authorization": tt.header}
			}
			cfg := station.PortalConfig{Kind: "http", TokenEnv: "T", HTTP: []station.HTTPRequest{req}}
			p := mustPortal(t, cfg, map[string]string{"T": "tok"}, nil, WithStationID(`line1 "st3" <a&b>`))
			err := p.Register(context.Background(), registration(refEndpoint, mustKey(t, refKeyHex), mustKey(t, "f0e1d2c3b4a5968778695a4b3c2d1e0f")))
			if err != nil {
				t.Fatal(err)
			}
			got := rec.requests()
			if len(got) != 1 || got[0].Method != http.MethodPut {
				t.Fatalf("requests %v", got)
			}
			if tt.wantURI != "" && got[0].URI != tt.wantURI {
				t.Errorf("URI %q, want %q", got[0].URI, tt.wantURI)
			}
			if got[0].Body != tt.wantBody {
				t.Errorf("body %q, want %q", got[0].Body, tt.wantBody)
			}
			if tt.wantHdr != "" && got[0].Header.Get("X-Authorization") != tt.wantHdr {
				t.Errorf("header %q, want %q", got[0].Header.Get("X-Authorization"), tt.wantHdr)
			}
		})
	}
}

// TestTemplateSequence: requests go out in order with their own expected
// statuses; the first failure stops the sequence.
func TestTemplateSequence(t *testing.T) {
	rec := &recorder{answer: func(w http.ResponseWriter, r *http.Request, _ []byte, _ int) {
		switch r.URL.Path {
		case "/token":
			w.WriteHeader(http.StatusCreated)
		case "/device":
			w.WriteHeader(http.StatusOK) // not in expect [201]
		}
	}}
	ts := mustServer(t, rec)
	cfg := station.PortalConfig{Kind: "http", HTTP: []station.HTTPRequest{
		{Name: "a", Method: "POST", URL: ts.URL + "/token", Expect: []int{201}},
		{Name: "b", Method: "POST", URL: ts.URL + "/device", Expect: []int{201}},
		{Name: "c", Method: "POST", URL: ts.URL + "/never"},
	}}
	err := mustPortal(t, cfg, nil, nil).Register(context.Background(), registration(refEndpoint, mustRandomKey(t), mustRandomKey(t)))
	if station.CodeOf(err) != station.PortalRejected || !strings.Contains(err.Error(), "request b") {
		t.Fatalf("err %v, want PORTAL_REJECTED naming request b", err)
	}
	if n := len(rec.requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

// TestDocExample: the DT-style example of the package documentation is a
// valid config and renders valid JSON with every field, with and without
// the optional ones.
func TestDocExample(t *testing.T) {
	text := docExample(t)
	rec := &recorder{}
	ts := mustServer(t, rec)
	text = strings.ReplaceAll(text, "https://bootstrap.example.net", ts.URL)
	var file struct {
		Portal station.PortalConfig `toml:"portal"`
	}
	if err := toml.Unmarshal([]byte(text), &file); err != nil {
		t.Fatalf("doc example: %v\n%s", err, text)
	}
	p := mustPortal(t, file.Portal, map[string]string{"BOOTSTRAP_PORTAL_TOKEN": "tok"}, nil)
	target := mustKey(t, "f0e1d2c3b4a5968778695a4b3c2d1e0f")
	full := registration(refEndpoint, mustRandomKey(t), target)
	bare := full
	bare.Identity.IMSI, bare.Identity.ICCID = "", ""
	for i, r := range []station.Registration{full, bare} {
		if err := p.Register(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		got := rec.requests()[i]
		if got.Method != http.MethodPut || got.URI != "/api/imei-configurations/"+refIMEI {
			t.Errorf("%s %s", got.Method, got.URI)
		}
		var body map[string]any
		if err := json.Unmarshal([]byte(got.Body), &body); err != nil {
			t.Fatalf("body is not JSON: %v\n%s", err, got.Body)
		}
		want := map[string]any{"profile": "nrf9151-lwm2m", "bootstrapAllowed": true, "imei": refIMEI, "targetPskId": refEndpoint,
			"targetPskKey": "8OHSw7Sllod4aVpLPC0eDw==", "targetPskKeyFormat": "B64", "lwm2mEndpoint": refEndpoint}
		if i == 0 {
			want["imsi"], want["iccid"] = "001010123456789", "8901234567890123456"
		}
		if len(body) != len(want) {
			t.Errorf("fields %v, want %v", body, want)
		}
		for k, v := range want {
			if body[k] != v {
				t.Errorf("%s = %v, want %v", k, body[k], v)
			}
		}
	}
}

// docExample extracts the TOML example from doc.go.
func docExample(t *testing.T) string {
	t.Helper()
	f, err := os.Open("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var lines []string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "//\t[portal]" {
			in = true
		}
		if !in {
			continue
		}
		if !strings.HasPrefix(line, "//\t") && line != "//" {
			break
		}
		lines = append(lines, strings.TrimPrefix(strings.TrimPrefix(line, "//"), "\t"))
	}
	if len(lines) < 5 {
		t.Fatal("no example found in doc.go")
	}
	return strings.Join(lines, "\n")
}
