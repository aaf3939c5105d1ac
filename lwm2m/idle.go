package lwm2m

import (
	"sync"
	"time"

	dtlsserver "github.com/plgd-dev/go-coap/v3/dtls/server"
	"github.com/plgd-dev/go-coap/v3/mux"
	udpclient "github.com/plgd-dev/go-coap/v3/udp/client"
)

// idleOption gives every DTLS session of a server an idleMonitor.
type idleOption struct{ timeout, margin time.Duration }

func (o idleOption) DTLSServerApply(cfg *dtlsserver.Config) {
	cfg.CreateInactivityMonitor = func() udpclient.InactivityMonitor {
		return &idleMonitor{timeout: o.timeout, margin: o.margin, last: time.Now()}
	}
}

// idleMonitor closes a session that has been silent for longer than its
// timeout. The timeout starts at the listener's IdleTimeout and follows
// the registration made over the session (lifetime plus margin), so a
// registered client keeps its session for as long as its registration
// lives.
type idleMonitor struct {
	margin time.Duration

	mu      sync.Mutex
	timeout time.Duration
	last    time.Time
}

// Notify records traffic (go-coap calls it for every message read).
func (m *idleMonitor) Notify() {
	m.mu.Lock()
	m.last = time.Now()
	m.mu.Unlock()
}

// CheckInactivity runs on go-coap's periodic runner.
func (m *idleMonitor) CheckInactivity(now time.Time, cc *udpclient.Conn) {
	m.mu.Lock()
	idle := now.Sub(m.last) > m.timeout
	m.mu.Unlock()
	if idle {
		_ = cc.Close()
	}
}

// follow keeps the session for at least lifetime plus the margin.
func (m *idleMonitor) follow(lifetime time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.timeout = max(m.timeout, lifetime+m.margin)
}

// keepSession makes conn's session live as long as a registration of
// lifetime does. Plain CoAP has no session: nothing to do.
func keepSession(conn mux.Conn, lifetime time.Duration) {
	cc, ok := conn.(*udpclient.Conn)
	if !ok {
		return
	}
	if m, ok := cc.InactivityMonitor().(*idleMonitor); ok {
		m.follow(lifetime)
	}
}
