package lwm2m

import (
	"context"
	"errors"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	piondtls "github.com/pion/dtls/v3"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/mux"
)

// needTool skips the test when a libcoap binary is not installed.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed", name)
	}
	return p
}

// TestInteropLibcoapClient: libcoap's client completes DTLS-PSK with our
// bootstrap server and gets 2.04 to POST /bs; our server then pushes its
// Delete/Write/Finish to libcoap (which answers 4.04 or not at all) and
// must neither hang nor crash.
func TestInteropLibcoapClient(t *testing.T) {
	bin := needTool(t, "coap-client-openssl")
	key := "libcoap-psk-0123"
	sessions := newSessionLog()
	bs := newTestBootstrapServer(t, sessions)
	bs.RequestTimeout = 2 * time.Second
	l := mustListen(t, bs, testKeys{testEndpoint: []byte(key)})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-m", "post", "-v", "7", "-B", "3",
		"-u", testEndpoint, "-k", key, l.URI()+"/bs?ep="+testEndpoint)
	out, err := cmd.CombinedOutput()
	t.Logf("coap-client output:\n%s", out)
	if err != nil {
		t.Fatalf("coap-client: %v", err)
	}
	if !regexp.MustCompile(`c:2\.04`).Match(out) {
		t.Fatal("no 2.04 in coap-client output")
	}
	select {
	case <-sessions.ch: // the session ended (failed: libcoap is not an LwM2M client)
	case <-ctx.Done():
		t.Fatal("bootstrap session did not end")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	bs.Wait()
}

// TestInteropLibcoapServer: our client's DTLS-PSK handshake completes with
// libcoap's server; any CoAP reply proves it.
func TestInteropLibcoapServer(t *testing.T) {
	bin := needTool(t, "coap-server-openssl")
	key := "libcoap-psk-0123"
	port := freeUDPPort(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-A", "127.0.0.1", "-p", strconv.Itoa(port), "-k", key, "-h", "lwm2m-hint", "-v", "6")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		t.Logf("coap-server output:\n%s", out.String())
	})
	// DTLS listens on port+1. Retry while the server starts up.
	uri := "coaps://127.0.0.1:" + strconv.Itoa(port+1)
	for _, tc := range []struct {
		name   string
		suites []CipherSuiteID
	}{
		{"CCM_8", []CipherSuiteID{SuiteCCM8}},
		{"GCM", []CipherSuiteID{SuiteGCM}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, suite, err := getWithRetry(t, uri, PSK{Identity: "station", Key: []byte(key)}, tc.suites)
			if err != nil {
				t.Fatal(err)
			}
			if suite != tc.suites[0] {
				t.Errorf("negotiated %v, want %v", suite, tc.suites[0])
			}
			t.Logf("GET / → %s over %v", CodeText(code), suite)
		})
	}
}

func getWithRetry(t *testing.T, uri string, psk PSK, suites []CipherSuiteID) (codes.Code, CipherSuiteID, error) {
	t.Helper()
	cfg := newClientConfig([]ClientOption{WithCipherSuites(suites...), WithLogger(testLogger(t))})
	var lastErr error
	for attempt := range 50 {
		if attempt > 0 {
			time.Sleep(100 * time.Millisecond) // coap-server may still be starting
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		cc, err := dial(ctx, uri, &psk, mux.HandlerFunc(notFound), cfg, nil)
		if err == nil {
			var suite CipherSuiteID
			if st, ok := cc.NetConn().(*piondtls.Conn).ConnectionState(); ok {
				suite = st.CipherSuiteID
			}
			resp, err := cc.Get(ctx, "/")
			cancel()
			_ = cc.Close()
			if err != nil {
				return 0, 0, err
			}
			return resp.Code(), suite, nil
		}
		cancel()
		lastErr = err
		if !errors.Is(err, ErrHandshake) {
			return 0, 0, err
		}
	}
	return 0, 0, lastErr
}

// TestInteropLibcoapRestart: libcoap's client (OpenSSL DTLS) bound to a
// fixed local port registers, is killed without a close_notify, and
// registers again from the same port within 2 s (RFC 6347 §4.2.8).
func TestInteropLibcoapRestart(t *testing.T) {
	bin := needTool(t, "coap-client-openssl")
	key := "libcoap-psk-0123"
	rs := &RegistrationServer{Logger: testLogger(t)}
	l := mustListen(t, rs, testKeys{testEndpoint: []byte(key)})
	laddr := fixedLocalAddr(t)
	host, port, _ := strings.Cut(laddr, ":")
	uri := l.URI() + "/rd?ep=" + testEndpoint + "&lt=60&lwm2m=1.0&b=U"
	client := func(ctx context.Context, extra ...string) *exec.Cmd {
		args := append([]string{"-m", "post", "-a", host, "-p", port, "-u", testEndpoint, "-k", key, "-B", "10"}, extra...)
		return exec.CommandContext(ctx, bin, append(args, uri)...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// First run: repeats its request every second until killed.
	first := client(ctx, "-G", "30")
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	reg := waitRegistration(t, rs, "")
	if err := first.Process.Kill(); err != nil { // SIGKILL: no close_notify
		t.Fatal(err)
	}
	_ = first.Wait()

	start := time.Now()
	second := client(ctx)
	out, err := second.CombinedOutput()
	if err != nil {
		t.Fatalf("second coap-client: %v\n%s", err, out)
	}
	again := waitRegistration(t, rs, reg.ID)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("re-registration from the same port took %v", d)
	}
	if again.Addr != laddr || len(rs.Registrations()) != 1 {
		t.Errorf("registrations %+v, want only the new one from %s", rs.Registrations(), laddr)
	}
}

// waitRegistration waits up to 5 s for testEndpoint's registration with an
// ID other than old.
func waitRegistration(t *testing.T, rs *RegistrationServer, old string) Registration {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if r, ok := rs.Registration(testEndpoint); ok && r.ID != old {
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no new registration (old %q)", old)
	return Registration{}
}

// TestInteropLibcoapAlerts: OpenSSL (through libcoap's client) reads
// unknown_psk_identity for an unknown identity at once, and decrypt_error
// for a wrong key within seconds, not a silent timeout.
func TestInteropLibcoapAlerts(t *testing.T) {
	bin := needTool(t, "coap-client-openssl")
	l := mustListen(t, &RegistrationServer{}, testKeys{testEndpoint: []byte("libcoap-psk-0123")})
	for _, tc := range []struct {
		name, identity, key, alert string
		within                     time.Duration
	}{
		{"unknown identity", "urn:imei:111111111111111", "libcoap-psk-0123", "unknown psk identity", 2 * time.Second},
		{"wrong key", testEndpoint, "wrong-key-012345", "decrypt error", 6 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			out, _ := exec.CommandContext(ctx, bin, "-m", "post", "-v", "6", "-B", "15", "-u", tc.identity, "-k", tc.key,
				l.URI()+"/rd?ep="+testEndpoint).CombinedOutput()
			d := time.Since(start)
			if !strings.Contains(strings.ToLower(string(out)), "alert "+tc.alert) {
				t.Errorf("no %q alert in coap-client output:\n%s", tc.alert, out)
			}
			if d > tc.within {
				t.Errorf("refused after %v, want within %v", d, tc.within)
			}
		})
	}
}
