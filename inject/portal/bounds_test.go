package portal

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"nrfline/station"
)

// A portal reply is bounded and, where the portal kind speaks JSON, must be
// JSON: an 8 MB header (the probe saw it accepted, 91 MB RSS), an
// oversized body or a login page answered with 200 by a proxy in the
// portal's place is a PORTAL_* failure, never a registered unit.
func TestPortalRepliesAreBoundedAndParsed(t *testing.T) {
	huge := strings.Repeat("x", 8<<20)
	answers := []struct {
		name   string
		answer func(w http.ResponseWriter)
		ok     bool
	}{
		{"empty 201", func(w http.ResponseWriter) { w.WriteHeader(http.StatusCreated) }, true},
		{"json 200", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"id":"urn:imei:352656100367872-bs"}`))
		}, true},
		{"8 MB header", func(w http.ResponseWriter) { w.Header().Set("X-Junk", huge); w.WriteHeader(http.StatusOK) }, false},
		{"8 MB body", func(w http.ResponseWriter) { w.Write([]byte(`{"junk":"` + huge + `"}`)) }, false},
		{"login page", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<html><body>Please sign in to the proxy</body></html>"))
		}, false},
	}
	kinds := map[string]func(url string) station.PortalConfig{
		"leshan": func(url string) station.PortalConfig {
			return station.PortalConfig{Kind: "leshan", URL: url + "/api/", TargetURI: refTargetURI}
		},
		"coiote": func(url string) station.PortalConfig {
			return station.PortalConfig{Kind: "coiote", URL: url + "/api/coiotedm/v3", TokenEnv: "COIOTE_TOKEN",
				Coiote: station.CoioteConfig{Domain: "/IoT/NordicSemi/Interop/"}}
		},
	}
	for kind, cfgOf := range kinds {
		for _, a := range answers {
			t.Run(kind+"/"+a.name, func(t *testing.T) {
				rec := &recorder{answer: func(w http.ResponseWriter, r *http.Request, _ []byte, _ int) {
					if r.Method == http.MethodDelete {
						w.WriteHeader(http.StatusNotFound)
						return
					}
					a.answer(w)
				}}
				ts := mustServer(t, rec)
				p := mustPortal(t, cfgOf(ts.URL), map[string]string{"COIOTE_TOKEN": "abc"}, nil)
				key := mustKey(t, refKeyHex)
				err := p.Register(context.Background(), registration(refEndpoint, key, key))
				code := station.CodeOf(err)
				switch {
				case a.ok && err != nil:
					t.Fatalf("a good reply failed: %v", err)
				case !a.ok && !strings.HasPrefix(string(code), "PORTAL_"):
					t.Fatalf("code %q (err %v), want a PORTAL_* failure", code, err)
				case !a.ok && len(err.Error()) > 4096:
					t.Fatalf("the error carries %d bytes of the reply", len(err.Error()))
				}
			})
		}
	}
}
