package lwm2m

import (
	"bytes"
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	piondtls "github.com/pion/dtls/v3"
	coapnet "github.com/plgd-dev/go-coap/v3/net"
	udpclient "github.com/plgd-dev/go-coap/v3/udp/client"
)

// dtlsListener is a DTLS server socket that demultiplexes datagrams by the
// peer's address into one pion association each, like pion's own listener,
// and adds what pion's listener lacks (pion/dtls issues 253, 479):
//
//   - RFC 6347 §4.2.8: an epoch-0 ClientHello from the address of an
//     established association starts a fresh handshake beside it; the old
//     association is dropped once the new one completes (its server
//     Finished goes out). A unit that restarts behind the same address and
//     port, as every reset unit and every NATed modem does, gets in again
//     at once instead of being answered with the old association's flight.
//   - RFC 4279 §2: an unknown PSK identity is refused with the
//     unknown_psk_identity alert (115); pion sends internal_error (80).
//   - A wrong key is refused with decrypt_error (51) once the client has
//     sent its Finished a third time without an answer (pion drops the
//     undecryptable Finished silently, so the client retransmitted until
//     its own timeout, 30 s for wakaama).
type dtlsListener struct {
	pc      net.PacketConn
	options func(onUnknown func()) []piondtls.ServerOption
	accept  chan net.Conn
	done    chan struct{}
	once    sync.Once

	mu    sync.Mutex
	peers map[string]*association   // current association by peer address
	live  map[*association]struct{} // every open association
	// restarted are the CoAP connections over restart associations. go-coap
	// keeps its connections by peer address, so when the replaced
	// connection ends it may drop the new one from its table, and with it
	// the new one's retransmissions and idle checks: checkRestarted runs
	// them for these (a second check in one tick is harmless).
	restarted map[*udpclient.Conn]struct{}
}

// newDTLSListener serves DTLS on pc; options builds the pion options of
// one association, given the function its PSK lookup calls for an unknown
// identity.
func newDTLSListener(pc net.PacketConn, options func(onUnknown func()) []piondtls.ServerOption) *dtlsListener {
	l := &dtlsListener{pc: pc, options: options, accept: make(chan net.Conn), done: make(chan struct{}),
		peers: map[string]*association{}, live: map[*association]struct{}{}, restarted: map[*udpclient.Conn]struct{}{}}
	go l.readLoop()
	return l
}

// DTLS record fields used for routing (RFC 6347 §4.1 and §4.2.2).
const (
	recordHeaderLen     = 13
	contentAlert        = 21
	contentHandshake    = 22
	handshakeClientHelo = 1
	handshakeServerHelo = 2
	alertFatal          = 2
	alertDecryptError   = 51
	alertInternalError  = 80
	alertUnknownPSKID   = 115
)

func recordEpoch(b []byte) uint16 { return uint16(b[3])<<8 | uint16(b[4]) }

// isClientHello reports whether the datagram starts with an epoch-0
// ClientHello record.
func isClientHello(b []byte) bool {
	return len(b) > recordHeaderLen && b[0] == contentHandshake && recordEpoch(b) == 0 && b[recordHeaderLen] == handshakeClientHelo
}

// helloRandom returns the ClientHello's random (after the record header,
// the 12-byte handshake header and the 2-byte client version), which
// tells a retransmission or the cookie round of a handshake from a new
// handshake of a restarted client.
func helloRandom(b []byte) []byte {
	const off = recordHeaderLen + 12 + 2
	if len(b) < off+32 {
		return nil
	}
	return b[off : off+32]
}

// maxEpoch returns the highest epoch among the datagram's records (a
// flight may pack ChangeCipherSpec at epoch 0 and Finished at epoch 1).
func maxEpoch(b []byte) uint16 {
	var e uint16
	for len(b) >= recordHeaderLen {
		e = max(e, recordEpoch(b))
		n := recordHeaderLen + (int(b[11])<<8 | int(b[12]))
		if n > len(b) {
			break
		}
		b = b[n:]
	}
	return e
}

func (l *dtlsListener) readLoop() {
	defer l.Close()
	buf := make([]byte, 64*1024)
	for {
		n, addr, err := l.pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // e.g. an ICMP error surfaced on the socket
		}
		if n < recordHeaderLen {
			continue
		}
		l.route(append([]byte(nil), buf[:n]...), addr)
	}
}

// route hands a datagram to the association(s) of its sender. A
// ClientHello with a new random from a known peer starts a new
// association beside the current one (the peer restarted); while that
// handshake runs, epoch-0 records go to it and later epochs to both:
// each silently drops the records it cannot decrypt, so neither a spoofed
// ClientHello nor a late record of the old session breaks the other.
func (l *dtlsListener) route(b []byte, addr net.Addr) {
	key := addr.String()
	l.mu.Lock()
	cur := l.peers[key]
	var (
		targets []*association
		fresh   *association
		stale   *association // a restart handshake replaced by a newer one
	)
	switch {
	case cur == nil:
		if !isClientHello(b) {
			l.mu.Unlock()
			return // no association and no handshake start: drop, as pion does
		}
		fresh = l.newAssociation(addr, b)
		l.peers[key] = fresh
		targets = []*association{fresh}
	case isClientHello(b) && !cur.pending().startedBy(b):
		if stale = cur.next; stale != nil {
			stale.prev, cur.next = nil, nil
			stale.superseded.Store(true)
		}
		fresh = l.newAssociation(addr, b)
		fresh.prev, fresh.restart = cur, true
		cur.next = fresh
		targets = []*association{fresh}
	case cur.next != nil && recordEpoch(b) == 0:
		targets = []*association{cur.next}
	case cur.next != nil:
		targets = []*association{cur, cur.next}
	default:
		targets = []*association{cur}
	}
	l.mu.Unlock()
	if stale != nil {
		_ = stale.Close()
	}
	for _, a := range targets {
		a.deliver(b)
	}
	if fresh != nil {
		go l.handshake(fresh)
	}
}

// newAssociation creates and tracks an association started by the
// ClientHello hello. Caller holds l.mu.
func (l *dtlsListener) newAssociation(addr net.Addr, hello []byte) *association {
	a := &association{l: l, addr: addr, random: slices.Clone(helloRandom(hello)),
		in: make(chan []byte, 64), closed: make(chan struct{}), readDeadline: newDeadline()}
	l.live[a] = struct{}{}
	return a
}

// handshake creates the pion server for a and offers it to Accept; go-coap
// runs the handshake itself.
func (l *dtlsListener) handshake(a *association) {
	dc, err := piondtls.ServerWithOptions(a, a.addr, l.options(func() { a.unknownIdentity.Store(true) })...)
	if err != nil {
		_ = a.Close()
		return
	}
	a.dc.Store(dc)
	select {
	case l.accept <- dc:
	case <-l.done:
		_ = dc.Close()
	}
}

// completed promotes a restart association once its handshake is done and
// drops the one it replaces without a word: the peer has forgotten it.
func (l *dtlsListener) completed(a *association) {
	l.mu.Lock()
	old := a.prev
	if old == nil || old.next != a {
		l.mu.Unlock()
		return
	}
	a.prev, old.next = nil, nil
	old.superseded.Store(true)
	if l.peers[a.addr.String()] == old {
		l.peers[a.addr.String()] = a
	}
	l.mu.Unlock()
	_ = old.Close()
}

// adopt is go-coap's OnNewConn: a connection over a restart association
// is checked by checkRestarted until it closes.
func (l *dtlsListener) adopt(cc *udpclient.Conn) {
	dc, ok := cc.NetConn().(*piondtls.Conn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for a := range l.live {
		if a.restart && a.dc.Load() == dc {
			l.restarted[cc] = struct{}{}
			cc.AddOnClose(func() {
				l.mu.Lock()
				delete(l.restarted, cc)
				l.mu.Unlock()
			})
			return
		}
	}
}

// checkRestarted runs the periodic checks of the restarted connections;
// it runs on the server's periodic runner until the listener closes.
func (l *dtlsListener) checkRestarted(now time.Time) bool {
	l.mu.Lock()
	ccs := make([]*udpclient.Conn, 0, len(l.restarted))
	for cc := range l.restarted {
		ccs = append(ccs, cc)
	}
	l.mu.Unlock()
	for _, cc := range ccs {
		cc.CheckExpirations(now)
	}
	select {
	case <-l.done:
		return false
	default:
		return true
	}
}

// forget removes a closed association from the routing table.
func (l *dtlsListener) forget(a *association) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.live, a)
	key := a.addr.String()
	if l.peers[key] == a {
		delete(l.peers, key)
		if a.next != nil { // the old one ended first: the restart takes its place
			l.peers[key], a.next.prev = a.next, nil
		}
	}
	if a.prev != nil && a.prev.next == a { // a restart that failed: keep the old one
		a.prev.next = nil
	}
}

// AcceptWithContext returns the next association; go-coap handshakes it.
func (l *dtlsListener) AcceptWithContext(ctx context.Context) (net.Conn, error) {
	select {
	case c := <-l.accept:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-l.done:
		return nil, coapnet.ErrListenerIsClosed
	}
}

// Close stops accepting, ends every association and closes the socket.
// go-coap cannot close them all itself: it keeps its connections by peer
// address, so an association replaced by a restart hides the new one.
func (l *dtlsListener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		err = l.pc.Close()
		l.mu.Lock()
		live := make([]*association, 0, len(l.live))
		for a := range l.live {
			live = append(live, a)
		}
		l.mu.Unlock()
		for _, a := range live {
			_ = a.Close()
		}
	})
	return err
}

// Addr is the bound address.
func (l *dtlsListener) Addr() net.Addr { return l.pc.LocalAddr() }

// association is one peer's DTLS association as pion sees it: a
// net.PacketConn fed by the listener's read loop.
type association struct {
	l    *dtlsListener
	addr net.Addr
	in   chan []byte

	prev, next *association // restart in progress (guarded by l.mu)
	restart    bool         // replaces an association of the same peer
	random     []byte       // the random of the ClientHello that started it
	dc         atomic.Pointer[piondtls.Conn]

	established     atomic.Bool   // the server Finished went out
	superseded      atomic.Bool   // replaced by a restart: stay silent
	unknownIdentity atomic.Bool   // the PSK lookup did not know the identity
	serverHello     atomic.Bool   // the ServerHello went out: the client proved its address
	earlyEncrypted  atomic.Int32  // datagrams of epoch 1+ after ServerHello, before the handshake ended
	nextSeq         atomic.Uint64 // next epoch-0 record sequence number

	readDeadline *deadline
	closed       chan struct{}
	closeOnce    sync.Once
}

var _ net.PacketConn = (*association)(nil)

// finishedTries is how many copies of the client's Finished an
// association takes without completing before it answers decrypt_error.
const finishedTries = 3

// pending is the association whose handshake a ClientHello from the peer
// belongs to: the restart in progress, else a itself. Caller holds l.mu.
func (a *association) pending() *association {
	if a.next != nil {
		return a.next
	}
	return a
}

// startedBy reports whether the ClientHello b belongs to a's handshake
// (same random: a retransmission or the round with the cookie). A late
// copy reaching an established association is dropped by pion.
func (a *association) startedBy(b []byte) bool {
	return bytes.Equal(a.random, helloRandom(b))
}

// deliver queues a datagram for pion. Encrypted datagrams that arrive
// after the ServerHello (the client answered the cookie, so it is at
// this address) but before the handshake ended are the client's
// Finished, which pion could not decrypt: at the third copy the key is
// wrong.
func (a *association) deliver(b []byte) {
	if a.serverHello.Load() && !a.established.Load() && maxEpoch(b) > 0 && a.earlyEncrypted.Add(1) == finishedTries {
		go a.refuse(alertDecryptError)
		return
	}
	select {
	case a.in <- b:
	case <-a.closed:
	default: // a peer flooding faster than pion reads: drop, as UDP would
	}
}

// ReadFrom returns the next datagram routed to a.
func (a *association) ReadFrom(p []byte) (int, net.Addr, error) {
	select {
	case b := <-a.in:
		return copy(p, b), a.addr, nil
	case <-a.closed:
		return 0, nil, net.ErrClosed
	case <-a.readDeadline.done():
		return 0, nil, errTimeout
	}
}

// WriteTo sends to the peer. It notes the end of the handshake (the
// first record of epoch 1 or later that the server sends is its Finished),
// turns pion's internal_error for an unknown PSK identity into
// unknown_psk_identity, and keeps a superseded association silent (its
// close_notify would reach the restarted peer).
func (a *association) WriteTo(p []byte, _ net.Addr) (int, error) {
	select {
	case <-a.closed:
		return 0, net.ErrClosed
	default:
	}
	if a.superseded.Load() {
		return len(p), nil
	}
	if !a.established.Load() && maxEpoch(p) > 0 && !a.established.Swap(true) {
		a.l.completed(a)
	}
	a.noteSequence(p)
	if len(p) > recordHeaderLen && p[0] == contentHandshake && recordEpoch(p) == 0 && p[recordHeaderLen] == handshakeServerHelo {
		a.serverHello.Store(true)
	}
	if a.unknownIdentity.Load() && len(p) == recordHeaderLen+2 && p[0] == contentAlert && recordEpoch(p) == 0 &&
		p[recordHeaderLen] == alertFatal && p[recordHeaderLen+1] == alertInternalError {
		p = append([]byte(nil), p...)
		p[recordHeaderLen+1] = alertUnknownPSKID
	}
	return a.l.pc.WriteTo(p, a.addr)
}

// refuse sends a fatal alert in clear (epoch 0: the client has not
// received the server's ChangeCipherSpec) and ends the association.
func (a *association) refuse(desc byte) {
	seq := a.nextSeq.Load()
	rec := []byte{contentAlert, 0xfe, 0xfd, 0, 0, byte(seq >> 40), byte(seq >> 32), byte(seq >> 24), byte(seq >> 16), byte(seq >> 8), byte(seq), 0, 2, alertFatal, desc}
	_, _ = a.WriteTo(rec, a.addr)
	_ = a.Close()
}

// noteSequence keeps nextSeq above every epoch-0 record in p.
func (a *association) noteSequence(p []byte) {
	for len(p) >= recordHeaderLen {
		if recordEpoch(p) == 0 {
			var seq uint64
			for _, c := range p[5:11] {
				seq = seq<<8 | uint64(c)
			}
			for {
				cur := a.nextSeq.Load()
				if seq < cur || a.nextSeq.CompareAndSwap(cur, seq+1) {
					break
				}
			}
		}
		n := recordHeaderLen + (int(p[11])<<8 | int(p[12]))
		if n > len(p) {
			return
		}
		p = p[n:]
	}
}

// Close ends the association (not the socket).
func (a *association) Close() error {
	a.closeOnce.Do(func() {
		close(a.closed)
		a.l.forget(a)
	})
	return nil
}

func (a *association) LocalAddr() net.Addr { return a.l.pc.LocalAddr() }

func (a *association) SetDeadline(t time.Time) error { return a.SetReadDeadline(t) }

func (a *association) SetReadDeadline(t time.Time) error {
	a.readDeadline.set(t)
	return nil
}

// SetWriteDeadline: writes to a UDP socket do not block.
func (a *association) SetWriteDeadline(time.Time) error { return nil }

// errTimeout is a read deadline's error, a net.Error with Timeout true.
var errTimeout net.Error = timeoutError{}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// deadline is a read deadline as a channel that closes when it passes
// (the scheme of pion/transport's deadline package).
type deadline struct {
	mu    sync.Mutex
	timer *time.Timer
	ch    chan struct{}
	fired bool
}

func newDeadline() *deadline { return &deadline{ch: make(chan struct{})} }

// set moves the deadline; the zero time removes it.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if d.fired { // readers already returned: start afresh
		d.ch, d.fired = make(chan struct{}), false
	}
	switch {
	case t.IsZero():
	case !t.After(time.Now()):
		d.fire()
	default:
		ch := d.ch
		d.timer = time.AfterFunc(time.Until(t), func() {
			d.mu.Lock()
			defer d.mu.Unlock()
			if d.ch == ch && !d.fired { // not a timer stopped too late
				d.fire()
			}
		})
	}
}

// fire closes the channel. Caller holds d.mu.
func (d *deadline) fire() {
	close(d.ch)
	d.fired = true
}

func (d *deadline) done() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ch
}
