package portal

import (
	"context"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"nrfline/station"
)

// §1.1 and §1.2 of portals.md, as printed there (reformatted JSON).
const (
	refSecurityPUT = `{"endpoint":"urn:imei:352656100367872",
 "tls":{"mode":"psk","details":{"identity":"urn:imei:352656100367872",
                                "key":"000102030405060708090a0b0c0d0e0f"}}}`
	refConfigPOST = `{"servers":{"0":{"shortId":123,"lifetime":60,"defaultMinPeriod":1,
                 "notifIfDisabled":true,"binding":"U"}},
 "security":{"1":{"uri":"coaps://lwm2m.example.com:5684",
                  "bootstrapServer":false,
                  "securityMode":"PSK",
                  "publicKeyOrId":[117,114,110,58,105,109,101,105,58,51,53,50,54,53,54,49,48,48,51,54,55,56,55,50],
                  "secretKey":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15],
                  "serverId":123,
                  "clientOldOffTime":1,
                  "smsSecurityMode":"NO_SEC","smsBindingKeyParam":[],"smsBindingKeySecret":[],
                  "serverSmsNumber":""}},
 "oscore":{},
 "toDelete":["/0","/1"]}`
)

// TestLeshanReferenceRequests: without dm_url the station sends exactly
// the two requests of the Leshan web UI, byte for byte as in §1.1/§1.2.
func TestLeshanReferenceRequests(t *testing.T) {
	rec := &recorder{}
	ts := mustServer(t, rec)
	p := mustPortal(t, station.PortalConfig{Kind: "leshan", URL: ts.URL + "/api/", TargetURI: refTargetURI}, nil, nil)
	key := mustKey(t, refKeyHex)
	if err := p.Register(context.Background(), registration(refEndpoint, key, key)); err != nil {
		t.Fatalf("Register: %v", err)
	}
	got := rec.requests()
	want := []exchange{
		{Method: "PUT", URI: "/api/security/clients/", Body: compact(t, refSecurityPUT)},
		{Method: "POST", URI: "/api/bootstrap/urn%3Aimei%3A352656100367872", Body: compact(t, refConfigPOST)},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d requests %v, want %d", len(got), got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Method != w.Method || g.URI != w.URI {
			t.Errorf("request %d: %s %s, want %s %s", i, g.Method, g.URI, w.Method, w.URI)
		}
		if g.Body != w.Body {
			t.Errorf("request %d body:\n got %s\nwant %s", i, g.Body, w.Body)
		}
		if ct := g.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("request %d Content-Type %q", i, ct)
		}
		if a := g.Header.Get("Authorization"); a != "" {
			t.Errorf("request %d: Authorization %q without token_env", i, a)
		}
	}
}

// TestLeshanWithDMServer: dm_url first gets the target credentials, then
// the bootstrap server gets the bootstrap PSK and the config that hands
// out the target credentials.
func TestLeshanWithDMServer(t *testing.T) {
	rec := &recorder{}
	ts := mustServer(t, rec)
	p := mustPortal(t, station.PortalConfig{Kind: "leshan", URL: ts.URL + "/bs/api", DMURL: ts.URL + "/dm/api", TargetURI: refTargetURI}, nil, nil)
	bs, target := mustRandomKey(t), mustRandomKey(t)
	if err := p.Register(context.Background(), registration(refEndpoint, bs, target)); err != nil {
		t.Fatalf("Register: %v", err)
	}
	got := rec.requests()
	var calls []string
	for _, g := range got {
		calls = append(calls, g.Method+" "+g.URI)
	}
	want := []string{"PUT /dm/api/security/clients/", "PUT /bs/api/security/clients/", "POST /bs/api/bootstrap/urn%3Aimei%3A352656100367872"}
	if !slices.Equal(calls, want) {
		t.Fatalf("calls %v, want %v", calls, want)
	}
	if !strings.Contains(got[0].Body, `"key":"`+target.Hex()+`"`) {
		t.Errorf("DM server did not get the target key: %s", got[0].Body)
	}
	if !strings.Contains(got[1].Body, `"key":"`+bs.Hex()+`"`) {
		t.Errorf("bootstrap server did not get the bootstrap key: %s", got[1].Body)
	}
	if !strings.Contains(got[2].Body, `"secretKey":`+intArray(target.Bytes())) {
		t.Errorf("config does not hand out the target key: %s", got[2].Body)
	}
}

// TestLeshanReRegisterReplaces: a re-tested unit gets new keys everywhere.
func TestLeshanReRegisterReplaces(t *testing.T) {
	bsFake, dmFake := newLeshanFake(), newLeshanFake()
	mux := http.NewServeMux()
	mux.Handle("/bs/", bsFake.handler("/bs/api"))
	mux.Handle("/dm/", dmFake.handler("/dm/api"))
	ts := mustServer(t, mux)
	p := mustPortal(t, station.PortalConfig{Kind: "leshan", URL: ts.URL + "/bs/api", DMURL: ts.URL + "/dm/api", TargetURI: refTargetURI}, nil, nil)
	for round := range 2 {
		bs, target := mustRandomKey(t), mustRandomKey(t)
		if err := p.Register(context.Background(), registration(refEndpoint, bs, target)); err != nil {
			t.Fatalf("round %d: Register: %v", round, err)
		}
		if k, _ := bsFake.keyOf(refEndpoint); k != bs.Hex() {
			t.Errorf("round %d: bootstrap server holds another bootstrap key", round)
		}
		if k, _ := dmFake.keyOf(refEndpoint); k != target.Hex() {
			t.Errorf("round %d: DM server holds another target key", round)
		}
		c, ok := bsFake.config(refEndpoint)
		if !ok || hex.EncodeToString(c.Security["1"].SecretKey) != target.Hex() || c.Security["1"].URI != refTargetURI {
			t.Errorf("round %d: bootstrap config does not hand out the new target key", round)
		}
	}
}

// TestLeshanConflict: a PSK identity held by another endpoint is
// PORTAL_CONFLICT whatever text the 400 carries (the owner is looked up),
// naming the owner; the text alone suffices when the listing fails; a 400
// for any other reason is PORTAL_REJECTED. Nothing is retried and the
// earlier step (DM entry) is undone.
func TestLeshanConflict(t *testing.T) {
	const owner = refEndpoint
	tests := []struct {
		name       string
		setup      func(f *leshanFake)
		identity   string // the second unit's bootstrap identity
		want       station.Code
		wantDetail string
	}{
		{"leshan text", func(f *leshanFake) { f.conflictBody = "PSK Identity " + owner + " is already used" },
			owner, station.PortalConflict, `already used by endpoint "` + owner + `"`},
		{"other text", func(f *leshanFake) { f.conflictBody = "Bad Request" },
			owner, station.PortalConflict, `already used by endpoint "` + owner + `"`},
		{"listing broken", func(f *leshanFake) { f.listBroken = true },
			owner, station.PortalConflict, "already used by another endpoint"},
		{"plain 400", func(f *leshanFake) { f.rejectPUT = "Invalid request body: unexpected field" },
			"urn:imei:352656100394546", station.PortalRejected, "unexpected field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bsFake, dmFake := newLeshanFake(), newLeshanFake()
			mux := http.NewServeMux()
			mux.Handle("/bs/", bsFake.handler("/bs/api"))
			mux.Handle("/dm/", dmFake.handler("/dm/api"))
			ts := mustServer(t, mux)
			p := mustPortal(t, station.PortalConfig{Kind: "leshan", URL: ts.URL + "/bs/api", DMURL: ts.URL + "/dm/api", TargetURI: refTargetURI, Retries: 3}, nil, nil)
			if err := p.Register(context.Background(), registration(owner, mustRandomKey(t), mustRandomKey(t))); err != nil {
				t.Fatal(err)
			}
			tt.setup(bsFake)
			other := registration("urn:imei:352656100394546", mustRandomKey(t), mustRandomKey(t))
			other.Bootstrap.Identity = tt.identity
			err := p.Register(context.Background(), other)
			var se *station.Error
			if !errors.As(err, &se) || se.Code != tt.want {
				t.Fatalf("err = %v, want code %s", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.wantDetail) {
				t.Errorf("err %q lacks %q", err, tt.wantDetail)
			}
			var st *StatusError
			if !errors.As(err, &st) || st.Status != http.StatusBadRequest {
				t.Errorf("no *StatusError 400 in %v", err)
			}
			puts := 0
			for _, c := range bsFake.callLog() {
				if strings.HasPrefix(c, "PUT ") {
					puts++
				}
			}
			if puts != 2 {
				t.Errorf("bootstrap security PUTs = %d, want 2 (a 400 is not retried)", puts)
			}
			if _, ok := dmFake.keyOf(other.Endpoint); ok {
				t.Error("DM entry of the refused unit was not rolled back")
			}
			if _, ok := bsFake.keyOf(owner); !ok {
				t.Error("the owner's entry was removed")
			}
		})
	}
}

// TestLeshanRollback: when a later step fails, the earlier ones are undone
// in reverse order; a step the server may have applied (5xx, no answer)
// is undone too.
func TestLeshanRollback(t *testing.T) {
	const ep = "urn%3Aimei%3A352656100367872"
	tests := []struct {
		name   string
		status int
		code   station.Code
		tail   []string // calls after the failed POST(s)
	}{
		{"config rejected", http.StatusBadRequest, station.PortalRejected, []string{
			"DELETE /bs/api/security/clients/" + ep, "DELETE /dm/api/security/clients/" + ep}},
		{"config server error", http.StatusInternalServerError, station.PortalServerError, []string{
			"DELETE /bs/api/bootstrap/" + ep, "DELETE /bs/api/security/clients/" + ep, "DELETE /dm/api/security/clients/" + ep}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bsFake, dmFake := newLeshanFake(), newLeshanFake()
			bsFake.configStatus = tt.status
			var log callLog
			mux := http.NewServeMux()
			mux.Handle("/bs/", log.wrap(bsFake.handler("/bs/api")))
			mux.Handle("/dm/", log.wrap(dmFake.handler("/dm/api")))
			ts := mustServer(t, mux)
			p := mustPortal(t, station.PortalConfig{Kind: "leshan", URL: ts.URL + "/bs/api", DMURL: ts.URL + "/dm/api", TargetURI: refTargetURI, Retries: 1}, nil, nil)
			err := p.Register(context.Background(), registration(refEndpoint, mustRandomKey(t), mustRandomKey(t)))
			if got := station.CodeOf(err); got != tt.code {
				t.Fatalf("code %s (%v), want %s", got, err, tt.code)
			}
			calls := log.get()
			i := slices.IndexFunc(calls, func(c string) bool { return strings.HasPrefix(c, "DELETE") })
			if i < 0 || !slices.Equal(calls[i:], tt.tail) {
				t.Fatalf("calls %v, want rollback %v", calls, tt.tail)
			}
			if _, ok := bsFake.keyOf(refEndpoint); ok {
				t.Error("bootstrap security entry left behind")
			}
			if _, ok := dmFake.keyOf(refEndpoint); ok {
				t.Error("DM security entry left behind")
			}
		})
	}
}
