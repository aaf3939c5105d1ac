package lwm2m

import (
	"context"
	"errors"
	"net"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/udp/coder"
)

// rawPeer is a scripted CoAP-over-UDP peer that reads and writes single
// datagrams, for wire orders go-coap's own server never produces.
type rawPeer struct {
	tb   testing.TB
	pc   net.PacketConn
	peer net.Addr
}

func mustRawPeer(tb testing.TB) *rawPeer {
	tb.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = pc.Close() })
	return &rawPeer{tb: tb, pc: pc}
}

func (p *rawPeer) uri() string { return "coap://" + p.pc.LocalAddr().String() }

func (p *rawPeer) send(m message.Message) {
	p.tb.Helper()
	buf := make([]byte, 1500)
	n, err := coder.DefaultCoder.Encode(m, buf)
	if err != nil {
		p.tb.Fatal(err)
	}
	if _, err := p.pc.WriteTo(buf[:n], p.peer); err != nil {
		p.tb.Fatal(err)
	}
}

// read returns the next datagram; wait bounds a read that may get nothing
// (ok false), otherwise a missing datagram fails the test.
func (p *rawPeer) read(wait time.Duration) (message.Message, bool) {
	p.tb.Helper()
	if err := p.pc.SetReadDeadline(time.Now().Add(wait)); err != nil {
		p.tb.Fatal(err)
	}
	buf := make([]byte, 1500)
	n, from, err := p.pc.ReadFrom(buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return message.Message{}, false
	}
	if err != nil {
		p.tb.Fatal(err)
	}
	p.peer = from
	m := message.Message{Options: make(message.Options, 0, 16)}
	if _, err := coder.DefaultCoder.Decode(buf[:n], &m); err != nil {
		p.tb.Fatalf("decode % x: %v", buf[:n], err)
	}
	return m, true
}

// expect reads until a datagram with message ID mid and fails on any
// other datagram in between.
func (p *rawPeer) expect(mid int32) message.Message {
	p.tb.Helper()
	for {
		m, ok := p.read(10 * time.Second)
		if !ok {
			p.tb.Fatalf("no datagram with message ID %d", mid)
		}
		if m.MessageID == mid {
			return m
		}
		p.tb.Errorf("unexpected datagram %s %s mid %d token %v", m.Type, CodeText(m.Code), m.MessageID, m.Token)
	}
}

func request(typ message.Type, code codes.Code, mid int32, token []byte, path ...string) message.Message {
	m := message.Message{Type: typ, Code: code, MessageID: mid, Token: token}
	for _, seg := range path {
		m.Options = append(m.Options, message.Option{ID: message.URIPath, Value: []byte(seg)})
	}
	return m
}

// TestBootstrapReplyAfterPushes: a bootstrap server whose first push
// overtakes its 2.04 to POST /bs, which then arrives three times (the
// piggybacked ACK, a duplicate of it, and a separate CON response with the
// same token). The client must take the first as its reply, answer none
// of them as a request (no 4.05), acknowledge the CON one with an empty
// ACK, and complete the bootstrap.
func TestBootstrapReplyAfterPushes(t *testing.T) {
	checkGoroutines(t)
	p := mustRawPeer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	type result struct {
		d   *Delivered
		err error
	}
	res := make(chan result, 1)
	go func() {
		d, err := Bootstrap(ctx, p.uri(), testEndpoint, nil, WithFinishLinger(0), WithLogger(testLogger(t)))
		res <- result{d, err}
	}()

	bs, ok := p.read(10 * time.Second)
	if path, _ := bs.Options.Path(); !ok || bs.Type != message.Confirmable || bs.Code != codes.POST || path != "/bs" {
		t.Fatalf("want CON POST /bs, got %+v", bs)
	}
	p.send(request(message.Confirmable, codes.DELETE, 100, []byte{1}, "0"))
	if ack := p.expect(100); ack.Type != message.Acknowledgement || ack.Code != codes.Deleted {
		t.Errorf("DELETE /0 answered %s %s", ack.Type, CodeText(ack.Code))
	}
	reply := message.Message{Type: message.Acknowledgement, Code: codes.Changed, MessageID: bs.MessageID, Token: bs.Token}
	p.send(reply)
	p.send(reply)
	p.send(message.Message{Type: message.Confirmable, Code: codes.Changed, MessageID: 101, Token: bs.Token})
	if ack := p.expect(101); ack.Type != message.Acknowledgement || ack.Code != codes.Empty {
		t.Errorf("separate 2.04 answered %s %s, want an empty ACK", ack.Type, CodeText(ack.Code))
	}
	p.send(request(message.Confirmable, codes.POST, 102, []byte{2}, "bs"))
	if ack := p.expect(102); ack.Type != message.Acknowledgement || ack.Code != codes.Changed {
		t.Errorf("Finish answered %s %s", ack.Type, CodeText(ack.Code))
	}

	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.d == nil || len(r.d.Security) != 0 || len(r.d.Servers) != 0 || !reflect.DeepEqual(r.d.Deleted, []string{"/0"}) {
		t.Errorf("delivered %+v", r.d)
	}
	if m, ok := p.read(200 * time.Millisecond); ok {
		t.Errorf("unexpected datagram after Finish: %s %s mid %d", m.Type, CodeText(m.Code), m.MessageID)
	}
}
