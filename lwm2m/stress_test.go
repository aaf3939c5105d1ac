package lwm2m

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"testing"
	"time"
)

// doneLog collects BootstrapServer.Done results by endpoint.
type doneLog struct {
	mu   sync.Mutex
	ends map[string]chan error
}

func (d *doneLog) ch(endpoint string) chan error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ends == nil {
		d.ends = map[string]chan error{}
	}
	c, ok := d.ends[endpoint]
	if !ok {
		c = make(chan error, 1)
		d.ends[endpoint] = c
	}
	return c
}

func (d *doneLog) done(_, endpoint string, err error) { d.ch(endpoint) <- err }

// TestBootstrapRepeated drives many complete bootstraps over CoAPs and
// plain CoAP on loopback, a few at a time. Every one must succeed on both
// sides: no "connection closed before Bootstrap-Finish" when the server
// closes at once after the 2.04 to Finish, and no "POST /bs: connection
// was closed" when the server's pushes, Finish and close all follow its
// 2.04 to POST /bs before the client's goroutine runs again. More Ps than
// CPUs let the OS preempt threads anywhere, which opens those windows
// often enough on a 2-core machine.
func TestBootstrapRepeated(t *testing.T) {
	checkGoroutines(t)
	const (
		rounds   = 600
		parallel = 4
		procs    = 8
	)
	prev := runtime.GOMAXPROCS(procs)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	keys := testKeys{}
	for i := range rounds {
		keys[stressEndpoint(i)] = []byte(fmt.Sprintf("stress-key-%05d", i))
	}
	ends := &doneLog{}
	bs := &BootstrapServer{
		Done:           ends.done,
		RequestTimeout: 5 * time.Second,
		Lookup: func(_ context.Context, identity, endpoint string) (BootstrapConfig, error) {
			if identity != "" && identity != endpoint {
				return BootstrapConfig{}, fmt.Errorf("identity %q is not %q", identity, endpoint)
			}
			return testConfig(), nil
		},
	}
	secure := mustListenWith(t, ListenConfig{}, bs, keys)
	plain := mustListenWith(t, ListenConfig{}, bs, nil)
	t.Cleanup(bs.Wait)
	want := &Delivered{Security: []SecurityInstance{fullSecurity()}, Servers: []ServerInstance{refServer()}, Deleted: []string{"/0", "/1"}, Format: FormatTLV}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, rounds)
	jobs := make(chan int)
	for range parallel {
		wg.Go(func() {
			for i := range jobs {
				errs <- stressBootstrap(ctx, i, secure, plain, keys, ends, want)
			}
		})
	}
	for i := range rounds {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			failed++
			if failed <= 10 {
				t.Error(err)
			}
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d bootstraps failed", failed, rounds)
	}
}

func stressEndpoint(i int) string { return fmt.Sprintf("urn:imei:35265610%07d", i) }

// stressBootstrap runs bootstrap i (even: CoAPs, odd: CoAP) and checks
// both the client's result and the server's session outcome.
func stressBootstrap(ctx context.Context, i int, secure, plain *Listener, keys testKeys, ends *doneLog, want *Delivered) error {
	ep := stressEndpoint(i)
	uri, psk, linger := secure.URI(), &PSK{Identity: ep, Key: keys[ep]}, DefaultFinishLinger
	if i%2 == 1 {
		// The server's close is not seen over plain UDP: don't linger.
		uri, psk, linger = plain.URI(), nil, 0
	}
	what := fmt.Sprintf("bootstrap %d over %s", i, uri)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d, err := Bootstrap(ctx, uri, ep, psk, WithFinishLinger(linger))
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if !reflect.DeepEqual(d, want) {
		return fmt.Errorf("%s: delivered %+v", what, d)
	}
	select {
	case err := <-ends.ch(ep):
		if err != nil {
			return fmt.Errorf("%s: server session: %w", what, err)
		}
	case <-ctx.Done():
		return fmt.Errorf("%s: server session did not end", what)
	}
	return nil
}
