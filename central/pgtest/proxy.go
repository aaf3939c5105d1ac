package pgtest

import (
	"net"
	"sync"
)

// Proxy is a TCP proxy on 127.0.0.1 that can stall: while stalled it
// accepts connections and reads what clients send but forwards nothing in
// either direction, as a network that drops every packet would look to
// both ends.
type Proxy struct {
	Addr string
	to   string
	l    net.Listener

	mu      sync.Mutex
	stalled bool
	wake    chan struct{} // closed when the stall ends
	conns   map[net.Conn]struct{}
}

// NewProxy forwards a new local port to the address to.
func NewProxy(to string) (*Proxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{Addr: l.Addr().String(), to: to, l: l, wake: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	go p.accept()
	return p, nil
}

// Port is the proxy's port.
func (p *Proxy) Port() int { return p.l.Addr().(*net.TCPAddr).Port }

// Stall stops forwarding; Resume forwards again what was held.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.stalled {
		p.stalled, p.wake = true, make(chan struct{})
	}
}

// Resume ends a stall.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stalled {
		p.stalled = false
		close(p.wake)
	}
}

// gate blocks while the proxy is stalled.
func (p *Proxy) gate() {
	p.mu.Lock()
	stalled, wake := p.stalled, p.wake
	p.mu.Unlock()
	if stalled {
		<-wake
	}
}

// Close stops accepting and cuts every connection.
func (p *Proxy) Close() error {
	err := p.l.Close()
	p.Resume()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	return err
}

func (p *Proxy) track(c net.Conn, add bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
}

func (p *Proxy) accept() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		go p.serve(c)
	}
}

func (p *Proxy) serve(c net.Conn) {
	p.track(c, true)
	defer p.track(c, false)
	defer c.Close()
	p.gate()
	up, err := net.Dial("tcp", p.to)
	if err != nil {
		return
	}
	p.track(up, true)
	defer p.track(up, false)
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { p.pipe(up, c); done <- struct{}{} }()
	go func() { p.pipe(c, up); done <- struct{}{} }()
	<-done
}

// pipe copies src to dst, holding each chunk while the proxy is stalled.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.gate()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // io.EOF or a cut connection: done either way
		}
	}
}
