package portal

import (
	"context"
	"net/http"
	"testing"

	"nrfline/station"
)

// refCoioteDevice is the §2 body for the reference unit and domain.
const refCoioteDevice = `{"id":"urn:imei:352656100367872-bs",
 "connectorType":"bootstrap",
 "properties":{"endpointName":"urn:imei:352656100367872"},
 "domain":"/IoT/NordicSemi/Interop/",
 "securityMode":"psk",
 "dtlsIdentity":"urn:imei:352656100367872",
 "dtlsPsk":{"HexadecimalPsk":"000102030405060708090a0b0c0d0e0f"}}`

// TestCoiote: the unit's bootstrap account is deleted (404 is fine) and
// created with the §2 body; a failed delete stops before the create; a
// 409 on create is a conflict.
func TestCoiote(t *testing.T) {
	const devURI = "/api/coiotedm/v3/devices/urn%3Aimei%3A352656100367872-bs"
	tests := []struct {
		name      string
		delStatus int
		postState int
		want      station.Code
		calls     []string
	}{
		{"new unit", 404, 201, station.CodeNone, []string{"DELETE " + devURI, "POST /api/coiotedm/v3/devices"}},
		{"re-tested unit", 200, 201, station.CodeNone, []string{"DELETE " + devURI, "POST /api/coiotedm/v3/devices"}},
		{"delete refused", 403, 201, station.PortalRejected, []string{"DELETE " + devURI}},
		{"identity taken", 404, 409, station.PortalConflict, []string{"DELETE " + devURI, "POST /api/coiotedm/v3/devices"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{answer: func(w http.ResponseWriter, r *http.Request, _ []byte, _ int) {
				if r.Method == http.MethodDelete {
					w.WriteHeader(tt.delStatus)
					return
				}
				w.WriteHeader(tt.postState)
			}}
			ts := mustServer(t, rec)
			cfg := station.PortalConfig{Kind: "coiote", URL: ts.URL + "/api/coiotedm/v3", TokenEnv: "COIOTE_TOKEN",
				Coiote: station.CoioteConfig{Domain: "/IoT/NordicSemi/Interop/"}}
			p := mustPortal(t, cfg, map[string]string{"COIOTE_TOKEN": "abc"}, nil)
			key := mustKey(t, refKeyHex)
			err := p.Register(context.Background(), registration(refEndpoint, key, mustRandomKey(t)))
			if got := station.CodeOf(err); got != tt.want {
				t.Fatalf("code %q (err %v), want %q", got, err, tt.want)
			}
			got := rec.requests()
			var calls []string
			for _, g := range got {
				calls = append(calls, g.Method+" "+g.URI)
			}
			if len(calls) != len(tt.calls) {
				t.Fatalf("calls %v, want %v", calls, tt.calls)
			}
			for i := range calls {
				if calls[i] != tt.calls[i] {
					t.Errorf("call %d: %s, want %s", i, calls[i], tt.calls[i])
				}
			}
			if len(got) == 2 {
				if want := compact(t, refCoioteDevice); got[1].Body != want {
					t.Errorf("body\n got %s\nwant %s", got[1].Body, want)
				}
				if a := got[1].Header.Get("Authorization"); a != "Bearer abc" {
					t.Errorf("Authorization %q", a)
				}
			}
		})
	}
}
