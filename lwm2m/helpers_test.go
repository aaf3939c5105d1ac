package lwm2m

import (
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// testLogger writes to the test log at debug level.
func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Helper()
	w.tb.Log(string(p))
	return len(p), nil
}

// freeUDPPort returns a loopback UDP port p with p and p+1 free right now.
func freeUDPPort(tb testing.TB) int {
	tb.Helper()
	for range 50 {
		a, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		p := a.LocalAddr().(*net.UDPAddr).Port
		b, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(p+1))
		_ = a.Close()
		if err == nil {
			_ = b.Close()
			return p
		}
	}
	tb.Fatal("no free UDP port pair")
	return 0
}

// checkGoroutines fails the test if, once its other cleanups ran, more
// goroutines are left than when it started. Call it first.
func checkGoroutines(tb testing.TB) {
	tb.Helper()
	before := runtime.NumGoroutine()
	tb.Cleanup(func() {
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
