package server

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plgd-dev/go-coap/v3/message/codes"

	"nrfline/lwm2m"
)

const ep = "urn:imei:352656100367872"

// checkGoroutines fails the test if, once its other cleanups ran, more
// goroutines are left than when it started. Call it first.
func checkGoroutines(tb testing.TB) {
	tb.Helper()
	before := runtime.NumGoroutine()
	tb.Cleanup(func() {
		http.DefaultClient.CloseIdleConnections()
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			tb.Errorf("%d goroutines left over (had %d):\n%s", n-before, before, buf[:runtime.Stack(buf, true)])
		}
	})
}

func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func mustStart(tb testing.TB, cfg Config) *Servers {
	tb.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(tb)
	}
	s, err := Start(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Error(err)
		}
	})
	return s
}

// call does one HTTP request and returns status and body.
func call(tb testing.TB, method, u, body string) (int, string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return callCtx(tb, ctx, method, u, body)
}

func callCtx(tb testing.TB, ctx context.Context, method, u, body string) (int, string) {
	tb.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func securityBody(endpoint, identity string, key []byte) string {
	return fmt.Sprintf(`{"endpoint":%q,"tls":{"mode":"psk","details":{"identity":%q,"key":%q}}}`, endpoint, identity, hex.EncodeToString(key))
}

func exampleConfig(tb testing.TB) string {
	tb.Helper()
	b, err := os.ReadFile("testdata/bootstrap-config.json")
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestPortalSecurityAPI(t *testing.T) {
	s := mustStart(t, Config{})
	for _, base := range []string{s.PortalURL(), s.DMURL()} {
		sec := base + "/security/clients/"
		steps := []struct {
			name, method, url, body string
			status                  int
			contains                string
		}{
			{"put", "PUT", sec, securityBody(ep, ep, []byte{1, 2, 3}), 200, ""},
			{"put without trailing slash, with query", "PUT", strings.TrimSuffix(sec, "/") + "?timeout=60&format=TLV", securityBody("ep2", "id2", []byte{4}), 200, ""},
			{"re-put replaces", "PUT", sec, securityBody(ep, ep, []byte{9, 9}), 200, ""},
			{"identity of another endpoint", "PUT", sec, securityBody("ep3", ep, []byte{5}), 400, "PSK Identity " + ep + " is already used"},
			{"bad json", "PUT", sec, `{"endpoint":`, 400, "Invalid request body: "},
			{"unknown field", "PUT", sec, `{"endpoint":"x","bogus":1}`, 400, "Invalid request body: "},
			{"bad hex", "PUT", sec, `{"endpoint":"x","tls":{"mode":"psk","details":{"identity":"x","key":"zz"}}}`, 400, "Invalid request body: "},
			{"rpk", "PUT", sec, `{"endpoint":"x","tls":{"mode":"rpk","details":{}}}`, 400, "Invalid request body: "},
			{"empty body", "PUT", sec, "", 400, "Invalid request body: "},
			{"list", "GET", base + "/security/clients", "", 200,
				`[{"endpoint":"ep2","tls":{"mode":"psk","details":{"identity":"id2","key":"04"}}},{"endpoint":"` + ep + `","tls":{"mode":"psk","details":{"identity":"` + ep + `","key":"0909"}}}]`},
			{"delete", "DELETE", sec + url.PathEscape(ep), "", 200, ""},
			{"delete again", "DELETE", sec + url.PathEscape(ep), "", 404, ""},
			{"identity free again", "PUT", sec, securityBody("ep3", ep, []byte{5}), 200, ""},
		}
		for _, st := range steps {
			t.Run(st.name, func(t *testing.T) {
				status, body := call(t, st.method, st.url, st.body)
				if status != st.status || !strings.Contains(body, st.contains) {
					t.Fatalf("%s %s: %d %q, want %d containing %q", st.method, st.url, status, body, st.status, st.contains)
				}
			})
		}
	}
}

func TestPortalBootstrapAPI(t *testing.T) {
	s := mustStart(t, Config{})
	cfgURL := s.PortalURL() + "/bootstrap/" + url.PathEscape(ep) + "?timeout=60&format=TLV"
	example := exampleConfig(t)
	mutate := func(f func(m map[string]any)) string {
		var m map[string]any
		if err := json.Unmarshal([]byte(example), &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return string(b)
	}
	sec1 := func(m map[string]any) map[string]any { return m["security"].(map[string]any)["1"].(map[string]any) }
	bad := []struct{ name, body, contains string }{
		{"no content", "", "no content"},
		{"not json", "{", ""},
		{"unknown field", mutate(func(m map[string]any) { m["bogus"] = 1 }), "bogus"},
		{"missing uri", mutate(func(m map[string]any) { delete(sec1(m), "uri") }), "uri is mandatory"},
		{"missing securityMode", mutate(func(m map[string]any) { delete(sec1(m), "securityMode") }), "securityMode is mandatory"},
		{"psk without key", mutate(func(m map[string]any) { sec1(m)["secretKey"] = []int{} }), "secretKey"},
		{"identity not utf-8", mutate(func(m map[string]any) { sec1(m)["publicKeyOrId"] = []int{0xff} }), "UTF-8"},
		{"byte out of range", mutate(func(m map[string]any) { sec1(m)["secretKey"] = []int{256} }), "out of range"},
		{"byte as base64", mutate(func(m map[string]any) { sec1(m)["secretKey"] = "AAEC" }), "JSON array"},
		{"server without security", mutate(func(m map[string]any) { sec1(m)["serverId"] = 124 }), "no security entry"},
		{"bad toDelete", mutate(func(m map[string]any) { m["toDelete"] = []string{"/0/x"} }), "toDelete"},
		{"bad instance id", mutate(func(m map[string]any) { m["servers"] = map[string]any{"a": m["servers"].(map[string]any)["0"]} }), "instance id"},
	}
	for _, tc := range bad {
		t.Run("reject "+tc.name, func(t *testing.T) {
			status, body := call(t, "POST", cfgURL, tc.body)
			if status != 400 || !strings.Contains(body, tc.contains) {
				t.Fatalf("%d %q, want 400 containing %q", status, body, tc.contains)
			}
		})
	}
	if status, body := call(t, "POST", s.PortalURL()+"/bootstrap/", example); status != 400 || body != "endpoint name should be specified in the URL" {
		t.Errorf("no endpoint: %d %q", status, body)
	}
	if status, body := call(t, "POST", cfgURL, example); status != 200 {
		t.Fatalf("POST example: %d %q", status, body)
	}
	status, body := call(t, "GET", s.PortalURL()+"/bootstrap", "")
	if status != 200 {
		t.Fatalf("GET: %d %q", status, body)
	}
	var all map[string]any
	if err := json.Unmarshal([]byte(body), &all); err != nil {
		t.Fatal(err)
	}
	var want any
	_ = json.Unmarshal([]byte(example), &want)
	if err := subset(want, all[ep]); err != nil {
		t.Errorf("GET does not round-trip the example: %v\n%s", err, body)
	}
	if status, _ := call(t, "DELETE", s.PortalURL()+"/bootstrap/"+url.PathEscape(ep), ""); status != 204 {
		t.Errorf("DELETE: %d, want 204", status)
	}
	if status, body := call(t, "DELETE", s.PortalURL()+"/bootstrap/"+url.PathEscape(ep), ""); status != 404 || body != "no config for "+ep {
		t.Errorf("DELETE again: %d %q", status, body)
	}
}

// subset reports where want is not contained in got (objects: every key of
// want with a matching value; everything else: equal).
func subset(want, got any) error {
	wm, ok := want.(map[string]any)
	if !ok {
		if !reflect.DeepEqual(want, got) {
			return fmt.Errorf("got %v, want %v", got, want)
		}
		return nil
	}
	gm, ok := got.(map[string]any)
	if !ok {
		return fmt.Errorf("got %v, want an object", got)
	}
	for k, v := range wm {
		if err := subset(v, gm[k]); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	return nil
}

// provision does the station's Leshan sequence (reference portals.md §1.5).
func provision(tb testing.TB, s *Servers, bsKey, dmKey []byte) {
	tb.Helper()
	steps := []struct{ method, url, body string }{
		{"PUT", s.DMURL() + "/security/clients/", securityBody(ep, ep, dmKey)},
		{"PUT", s.PortalURL() + "/security/clients/", securityBody(ep, ep, bsKey)},
		{"POST", s.PortalURL() + "/bootstrap/" + url.PathEscape(ep), dmConfig(s.DMServerURI(), dmKey)},
	}
	for _, st := range steps {
		if status, body := call(tb, st.method, st.url, st.body); status != 200 {
			tb.Fatalf("%s %s: %d %q", st.method, st.url, status, body)
		}
	}
}

func dmConfig(uri string, key []byte) string {
	ints := func(b []byte) string {
		j, _ := json.Marshal(Bytes(b))
		return string(j)
	}
	return fmt.Sprintf(`{"servers":{"0":{"shortId":123,"lifetime":60,"defaultMinPeriod":1,"notifIfDisabled":true,"binding":"U"}},
 "security":{"1":{"uri":%q,"bootstrapServer":false,"securityMode":"PSK","publicKeyOrId":%s,"secretKey":%s,"serverId":123}},
 "oscore":{},"toDelete":["/0","/1"]}`, uri, ints([]byte(ep)), ints(key))
}

// TestBootstrapContentFormat: the config's contentFormat, else the
// client's pct, else TLV, and the config's hold-off and account timeout
// reach the unit.
func TestBootstrapContentFormat(t *testing.T) {
	checkGoroutines(t)
	bsKey, dmKey := []byte("bootstrap-key-16"), []byte("dm-key-0123456789abc")
	for _, tc := range []struct {
		name   string
		config string // contentFormat JSON value, "" for absent
		pct    uint16
		want   uint16
	}{
		{"absent, no pct", "", 0, lwm2m.FormatTLV},
		{"absent, pct SenML-JSON", "", lwm2m.FormatSenMLJSON, lwm2m.FormatSenMLJSON},
		{"SENML_CBOR over pct TLV", `"SENML_CBOR"`, lwm2m.FormatTLV, lwm2m.FormatSenMLCBOR},
		{"numeric 110", `"110"`, 0, lwm2m.FormatSenMLJSON},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustStart(t, Config{})
			cfg := strings.Replace(dmConfig(s.DMServerURI(), dmKey), `"serverId":123}`, `"serverId":123,"clientOldOffTime":30,"bootstrapServerAccountTimeout":300}`, 1)
			if tc.config != "" {
				cfg = strings.Replace(cfg, `"oscore":{}`, `"contentFormat":`+tc.config+`,"oscore":{}`, 1)
			}
			for _, st := range []struct{ method, url, body string }{
				{"PUT", s.PortalURL() + "/security/clients/", securityBody(ep, ep, bsKey)},
				{"POST", s.PortalURL() + "/bootstrap/" + url.PathEscape(ep), cfg},
			} {
				if status, body := call(t, st.method, st.url, st.body); status != 200 {
					t.Fatalf("%s %s: %d %q", st.method, st.url, status, body)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var opts []lwm2m.ClientOption
			if tc.pct != 0 {
				opts = append(opts, lwm2m.WithPreferredFormat(tc.pct))
			}
			d, err := lwm2m.Bootstrap(ctx, s.BootstrapURI(), ep, &lwm2m.PSK{Identity: ep, Key: bsKey}, opts...)
			if err != nil {
				t.Fatal(err)
			}
			if sec := d.Security[0]; d.Format != tc.want || sec.ClientHoldOff != 30 || sec.BootstrapTimeout != 300 || sec.ServerPublicKey == nil {
				t.Errorf("format %s, security %+v", lwm2m.FormatName(d.Format), sec)
			}
		})
	}
	s := mustStart(t, Config{})
	bad := strings.Replace(dmConfig(s.DMServerURI(), dmKey), `"oscore":{}`, `"contentFormat":"JSON","oscore":{}`, 1)
	if status, _ := call(t, "POST", s.PortalURL()+"/bootstrap/"+url.PathEscape(ep), bad); status != 400 {
		t.Errorf("contentFormat JSON: status %d, want 400", status)
	}
}

func TestEndToEnd(t *testing.T) {
	checkGoroutines(t)
	s := mustStart(t, Config{})
	bsKey, dmKey := []byte("bootstrap-key-16"), []byte("dm-key-0123456789abc")
	provision(t, s, bsKey, dmKey)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	d, err := lwm2m.Bootstrap(ctx, s.BootstrapURI(), ep, &lwm2m.PSK{Identity: ep, Key: bsKey})
	if err != nil {
		t.Fatal(err)
	}
	want := &lwm2m.Delivered{
		Security: []lwm2m.SecurityInstance{{ID: 1, URI: s.DMServerURI(), Mode: lwm2m.ModePSK, Identity: []byte(ep), ServerPublicKey: []byte{},
			SecretKey: dmKey, ShortServerID: 123, ClientHoldOff: 1}}, // Leshan's default clientOldOffTime
		Servers: []lwm2m.ServerInstance{{ID: 0, ShortServerID: 123, Lifetime: 60, DefaultMinPeriod: 1, NotifIfDisabled: true, Binding: "U"}},
		Deleted: []string{"/0", "/1"},
		Format:  lwm2m.FormatTLV,
	}
	if !reflect.DeepEqual(d, want) {
		t.Fatalf("delivered %+v\nwant %+v", d, want)
	}

	acct := d.Security[0]
	loc, err := lwm2m.Register(ctx, acct.URI, ep, &lwm2m.PSK{Identity: string(acct.Identity), Key: acct.SecretKey}, 43200)
	if err != nil {
		t.Fatal(err)
	}
	regs := s.Registrations(ep)
	if len(regs) != 1 || regs[0].ID != loc || regs[0].Identity != ep {
		t.Fatalf("registrations %+v, want one with id %q", regs, loc)
	}
	status, body := call(t, "GET", s.DMURL()+"/clients/"+url.PathEscape(ep), "")
	var ci ClientInfo
	if status != 200 || json.Unmarshal([]byte(body), &ci) != nil || ci.RegistrationID != loc || ci.Endpoint != ep || ci.Registered.IsZero() {
		t.Errorf("GET client: %d %q", status, body)
	}
	if status, body := call(t, "GET", s.DMURL()+"/clients", ""); status != 200 || !strings.Contains(body, `"registrationId":"`+loc+`"`) {
		t.Errorf("GET clients: %d %q", status, body)
	}

	t.Run("wrong DM key", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		_, err := lwm2m.Register(ctx, s.DMServerURI(), ep, &lwm2m.PSK{Identity: ep, Key: []byte("wrong")}, 60)
		if !errors.Is(err, lwm2m.ErrHandshake) {
			t.Errorf("err = %v, want handshake failure", err)
		}
	})
	t.Run("DM identity registering another endpoint", func(t *testing.T) {
		call(t, "PUT", s.DMURL()+"/security/clients/", securityBody("urn:imei:1", "other", []byte("k")))
		_, err := lwm2m.Register(ctx, s.DMServerURI(), ep, &lwm2m.PSK{Identity: "other", Key: []byte("k")}, 60)
		wantCode(t, err, codes.Forbidden)
	})
	t.Run("plain CoAP for a secured endpoint", func(t *testing.T) {
		_, err := lwm2m.Bootstrap(ctx, s.BootstrapCoAPURI(), ep, nil)
		wantCode(t, err, codes.BadRequest)
	})
	t.Run("bootstrap identity of another endpoint", func(t *testing.T) {
		call(t, "PUT", s.PortalURL()+"/security/clients/", securityBody("urn:imei:2", "id-2", []byte("k2")))
		_, err := lwm2m.Bootstrap(ctx, s.BootstrapURI(), ep, &lwm2m.PSK{Identity: "id-2", Key: []byte("k2")})
		wantCode(t, err, codes.BadRequest)
	})
	t.Run("no config", func(t *testing.T) {
		_, err := lwm2m.Bootstrap(ctx, s.BootstrapURI(), "urn:imei:2", &lwm2m.PSK{Identity: "id-2", Key: []byte("k2")})
		wantCode(t, err, codes.BadRequest)
	})
	t.Run("legacy credential", func(t *testing.T) {
		old := []byte("previous-account")
		s.AddLegacyCredential(ep, ep+"-old", old)
		if _, err := lwm2m.Register(ctx, s.DMServerURI(), ep, &lwm2m.PSK{Identity: ep + "-old", Key: old}, 60); err != nil {
			t.Fatal(err)
		}
		if _, err := lwm2m.Register(ctx, s.DMServerURI(), ep, &lwm2m.PSK{Identity: string(acct.Identity), Key: acct.SecretKey}, 60); err != nil {
			t.Fatalf("current account after legacy: %v", err)
		}
		if n := len(s.Registrations(ep)); n != 3 {
			t.Errorf("%d registrations, want 3", n)
		}
	})
}

func wantCode(t *testing.T, err error, code codes.Code) {
	t.Helper()
	var re *lwm2m.ResponseError
	if !errors.As(err, &re) || re.Code != code {
		t.Fatalf("err = %v, want %s", err, lwm2m.CodeText(code))
	}
}

func TestFaults(t *testing.T) {
	var (
		mu       sync.Mutex
		delays   []time.Duration
		requests []string
	)
	faulty := map[string]Fault{
		"ep-500": {Portal500: true}, "ep-slow": {PortalSlow: true},
		"ep-timeout": {PortalTimeout: true}, ep: {BootstrapReject: true},
	}
	s := mustStart(t, Config{
		Faults: func(e string) Fault { return faulty[e] },
		Delay: func(d time.Duration) time.Duration {
			mu.Lock()
			delays = append(delays, d)
			mu.Unlock()
			return d / 1000
		},
		OnRequest: func(e string) {
			mu.Lock()
			requests = append(requests, e)
			mu.Unlock()
		},
	})
	sec := s.PortalURL() + "/security/clients/"

	t.Run("portal-500", func(t *testing.T) {
		for _, r := range []struct{ method, url, body string }{
			{"PUT", sec, securityBody("ep-500", "id-500", []byte{1})},
			{"DELETE", sec + "ep-500", ""},
			{"POST", s.PortalURL() + "/bootstrap/ep-500", "{}"},
			{"DELETE", s.PortalURL() + "/bootstrap/ep-500", ""},
			{"PUT", s.DMURL() + "/security/clients/", securityBody("ep-500", "id-500", []byte{1})},
		} {
			if status, _ := call(t, r.method, r.url, r.body); status != 500 {
				t.Errorf("%s %s: %d, want 500", r.method, r.url, status)
			}
		}
	})
	t.Run("portal-slow", func(t *testing.T) {
		if status, body := call(t, "PUT", sec, securityBody("ep-slow", "id-slow", []byte{1})); status != 200 {
			t.Fatalf("%d %q", status, body)
		}
		mu.Lock()
		defer mu.Unlock()
		if !reflect.DeepEqual(delays, []time.Duration{5 * time.Second}) {
			t.Errorf("delays %v, want [5s] through the Delay hook", delays)
		}
	})
	t.Run("portal-timeout", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		status, body := callCtx(t, ctx, "PUT", sec, securityBody("ep-timeout", "id-t", []byte{1}))
		if status != 0 || !strings.Contains(body, "deadline exceeded") {
			t.Errorf("got %d %q, want the client to give up", status, body)
		}
	})
	t.Run("portal-timeout released by Close", func(t *testing.T) {
		arrived := make(chan struct{}, 1)
		s2 := mustStart(t, Config{
			Faults:    func(string) Fault { return Fault{PortalTimeout: true} },
			OnRequest: func(string) { arrived <- struct{}{} },
		})
		done := make(chan string)
		go func() {
			status, body := call(t, "PUT", s2.PortalURL()+"/security/clients/", securityBody("x", "x", []byte{1}))
			done <- fmt.Sprint(status, " ", body)
		}()
		<-arrived
		if err := s2.Close(); err != nil {
			t.Fatal(err)
		}
		if got := <-done; strings.HasPrefix(got, "200") || strings.Contains(got, "deadline") {
			t.Errorf("got %q after Close, want the connection dropped at once", got)
		}
	})
	t.Run("bootstrap-reject", func(t *testing.T) {
		key := []byte("bootstrap-key-16")
		provision(t, s, key, []byte("dm-key"))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := lwm2m.Bootstrap(ctx, s.BootstrapURI(), ep, &lwm2m.PSK{Identity: ep, Key: key})
		wantCode(t, err, codes.BadRequest)
	})
	mu.Lock()
	defer mu.Unlock()
	want := []string{"ep-500", "ep-500", "ep-500", "ep-500", "ep-500", "ep-slow", "ep-timeout", ep, ep, ep}
	if !reflect.DeepEqual(requests, want) {
		t.Errorf("OnRequest calls %q, want %q", requests, want)
	}
}
