package lwm2m

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	piondtls "github.com/pion/dtls/v3"
	coapdtls "github.com/plgd-dev/go-coap/v3/dtls"
	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/mux"
	"github.com/plgd-dev/go-coap/v3/options"
	udpclient "github.com/plgd-dev/go-coap/v3/udp/client"
)

// fixedLocalAddr returns a loopback address for a client that rebinds
// the same port: a free port below the kernel's ephemeral range (32768+),
// so no other socket on this busy machine is handed it between restarts.
func fixedLocalAddr(tb testing.TB) string {
	tb.Helper()
	for range 100 {
		addr := "127.0.0.1:" + strconv.Itoa(20000+rand.IntN(12000))
		if pc, err := net.ListenPacket("udp", addr); err == nil {
			_ = pc.Close()
			return addr
		}
	}
	tb.Fatal("no free UDP port in 20000-32000")
	return ""
}

// fixedPortClient is a DTLS-PSK CoAP client on a socket of its own, so a
// test can bind it to a chosen local port and drop it as a unit that loses
// power does: the socket goes, no close_notify is sent.
type fixedPortClient struct {
	pc *net.UDPConn
	cc *udpclient.Conn
}

// dialFixed handshakes from local address laddr to server within ctx.
func dialFixed(ctx context.Context, tb testing.TB, laddr string, server *net.UDPAddr, psk PSK) (*fixedPortClient, error) {
	tb.Helper()
	la, err := net.ResolveUDPAddr("udp", laddr)
	if err != nil {
		tb.Fatal(err)
	}
	pc, err := net.ListenUDP("udp", la)
	if err != nil {
		return nil, err
	}
	opts, err := pionClientOptions(psk, CipherSuites())
	if err != nil {
		tb.Fatal(err)
	}
	dc, err := piondtls.ClientWithOptions(pc, server, opts...)
	if err != nil {
		_ = pc.Close()
		return nil, err
	}
	if err := dc.HandshakeContext(ctx); err != nil {
		_ = pc.Close()
		_ = dc.Close()
		return nil, err
	}
	runner, stop := newRunner()
	cc := coapdtls.Client(dc, options.WithMux(mux.HandlerFunc(notFound)), options.WithPeriodicRunner(runner))
	cc.AddOnClose(stop)
	c := &fixedPortClient{pc: pc, cc: cc}
	tb.Cleanup(c.drop)
	return c, nil
}

// drop closes the socket under the DTLS session (no close_notify can go
// out), then the session.
func (c *fixedPortClient) drop() {
	_ = c.pc.Close()
	_ = c.cc.Close()
	<-c.cc.Done()
}

// register does POST /rd and returns the location id.
func (c *fixedPortClient) register(ctx context.Context, endpoint string, lifetime int) (string, error) {
	resp, err := c.cc.Post(ctx, "/rd", message.AppLinkFormat, strings.NewReader(registerObjects),
		queryOpt("ep="+endpoint), queryOpt("lt="+strconv.Itoa(lifetime)), queryOpt("lwm2m=1.0"), queryOpt("b=U"))
	if err != nil {
		return "", err
	}
	defer c.cc.ReleaseMessage(resp)
	if resp.Code() != codes.Created {
		return "", &ResponseError{Op: "POST /rd", Code: resp.Code()}
	}
	loc, _ := resp.Options().LocationPath()
	return strings.TrimPrefix(loc, "/rd/"), nil
}

// update does POST /rd/<id> and returns the reply code.
func (c *fixedPortClient) update(ctx context.Context, id string) (codes.Code, error) {
	resp, err := c.cc.Post(ctx, "/rd/"+id, message.TextPlain, nil)
	if err != nil {
		return 0, err
	}
	defer c.cc.ReleaseMessage(resp)
	return resp.Code(), nil
}

// TestRestartFromSamePort: a unit handshakes from a fixed local port,
// registers, is dropped without close_notify (power loss, reset), and
// handshakes again from the same address and port within 2 s. RFC 6347
// §4.2.8: the server must accept the new handshake; pion's own listener
// answered it with the old association's last flight, so the unit never
// got in again.
func TestRestartFromSamePort(t *testing.T) {
	checkGoroutines(t)
	key := []byte("0123456789abcdef")
	rs := &RegistrationServer{Logger: testLogger(t)}
	l := mustListen(t, rs, testKeys{testEndpoint: key})
	psk := PSK{Identity: testEndpoint, Key: key}
	laddr := fixedLocalAddr(t)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	first, err := dialFixed(ctx, t, laddr, l.Addr(), psk)
	if err != nil {
		t.Fatal(err)
	}
	id1, err := first.register(ctx, testEndpoint, 60)
	if err != nil {
		t.Fatal(err)
	}
	first.drop()

	for round := 1; round <= 2; round++ { // a second restart must work as well
		ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
		again, err := dialFixed(ctx2, t, laddr, l.Addr(), psk)
		if err != nil {
			cancel2()
			t.Fatalf("restart %d: handshake from the same port: %v", round, err)
		}
		id2, err := again.register(ctx2, testEndpoint, 60)
		cancel2()
		if err != nil {
			t.Fatalf("restart %d: register: %v", round, err)
		}
		regs := rs.Registrations()
		if len(regs) != 1 || regs[0].ID != id2 || id2 == id1 || regs[0].Addr != laddr {
			t.Fatalf("restart %d: registrations %+v, want only the new one (%s) from %s", round, regs, id2, laddr)
		}
		id1 = id2
		again.drop()
	}
}

// TestIdleSessionCarriesUpdate: a registered client that stays silent for
// three times the listener's idle timeout still sends its Update over the
// same DTLS session, because the session follows the registration
// lifetime; once lifetime plus margin pass in silence the server closes
// it. (Scaled down: idle timeout 300 ms for go-coap's 16 s default.)
func TestIdleSessionCarriesUpdate(t *testing.T) {
	checkGoroutines(t)
	key := []byte("0123456789abcdef")
	rs := &RegistrationServer{Logger: testLogger(t)}
	lc := ListenConfig{Logger: testLogger(t), IdleTimeout: 300 * time.Millisecond, IdleMargin: 300 * time.Millisecond}
	l := mustListenWith(t, lc, rs, testKeys{testEndpoint: key})
	laddr := fixedLocalAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dialFixed(ctx, t, laddr, l.Addr(), PSK{Identity: testEndpoint, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	id, err := c.register(ctx, testEndpoint, 1) // session kept ≥ 1.3 s
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(900 * time.Millisecond) // 3× the idle timeout
	code, err := c.update(ctx, id)
	if err != nil || code != codes.Changed {
		t.Fatalf("update after 3× idle timeout: %v %v", CodeText(code), err)
	}
	select { // silent beyond lifetime + margin: the server closes (close_notify)
	case <-c.cc.Done():
	case <-time.After(4 * time.Second):
		t.Fatal("session outlived registration lifetime + margin")
	}
}

// TestIdleWithoutRegistration: a session that registers nothing is closed
// after the idle timeout (the monitor works, so the test above can fail).
func TestIdleWithoutRegistration(t *testing.T) {
	checkGoroutines(t)
	key := []byte("0123456789abcdef")
	lc := ListenConfig{Logger: testLogger(t), IdleTimeout: 300 * time.Millisecond}
	l := mustListenWith(t, lc, &RegistrationServer{}, testKeys{testEndpoint: key})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := dialFixed(ctx, t, "127.0.0.1:0", l.Addr(), PSK{Identity: testEndpoint, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.cc.Done():
	case <-ctx.Done():
		t.Fatal("idle session never closed")
	}
}

// TestIdleDefaults: the default is no longer go-coap's 16 s.
func TestIdleDefaults(t *testing.T) {
	timeout, margin := ListenConfig{}.idle()
	if timeout != DefaultIdleTimeout || margin != DefaultIdleMargin || timeout <= 3*16*time.Second {
		t.Errorf("default idle %v + margin %v; want more than 48 s", timeout, margin)
	}
}

// TestUnknownIdentityAlert: an unknown PSK identity is refused promptly
// with unknown_psk_identity (115, RFC 4279 §2), not internal_error (80).
func TestUnknownIdentityAlert(t *testing.T) {
	checkGoroutines(t)
	l := mustListen(t, &RegistrationServer{}, testKeys{testEndpoint: []byte("0123456789abcdef")})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err := dialFixed(ctx, t, "127.0.0.1:0", l.Addr(), PSK{Identity: "urn:imei:111111111111111", Key: []byte("0123456789abcdef")})
	if got := alertOf(err); got != alertUnknownPSKID {
		t.Fatalf("handshake error %v: alert %d, want %d", err, got, alertUnknownPSKID)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("refusal took %v", d)
	}
}

// TestWrongKeyAlert: a wrong key is refused with decrypt_error within a
// few seconds; before, pion dropped the client's Finished silently and the
// client retransmitted until its own timeout.
func TestWrongKeyAlert(t *testing.T) {
	checkGoroutines(t)
	l := mustListen(t, &RegistrationServer{}, testKeys{testEndpoint: []byte("0123456789abcdef")})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	start := time.Now()
	_, err := dialFixed(ctx, t, "127.0.0.1:0", l.Addr(), PSK{Identity: testEndpoint, Key: []byte("fedcba9876543210")})
	if got := alertOf(err); got != alertDecryptError {
		t.Fatalf("handshake error %v: alert %d, want %d", err, got, alertDecryptError)
	}
	t.Logf("refused after %v", time.Since(start))
}

// alertOf returns the description of the DTLS alert err carries, or -1.
// pion's alert error is unexported; it embeds the alert, whose Marshal
// gives level and description.
func alertOf(err error) int {
	var ae interface {
		IsFatalOrCloseNotify() bool
		Marshal() ([]byte, error)
	}
	if !errors.As(err, &ae) {
		return -1
	}
	b, _ := ae.Marshal()
	if len(b) != 2 {
		return -1
	}
	return int(b[1])
}
