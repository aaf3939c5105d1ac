package probe

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// Reach tells a DTLS server that refuses a throwaway identity (there: ok)
// from a port where nothing listens and from a server that never answers.
func TestReach(t *testing.T) {
	bs := mustBootstrapServer(t, []byte("0123456789abcdef"))
	what, err := Reach(t.Context(), bs.secure.URI())
	if err != nil || !strings.Contains(what, "as expected") {
		t.Errorf("live server: %q, %v", what, err)
	}

	free, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := free.LocalAddr().String()
	free.Close()
	if _, err := Reach(t.Context(), "coaps://"+addr); err == nil || !strings.Contains(err.Error(), "nothing listens") {
		t.Errorf("closed port: %v", err)
	}

	mute, err := net.ListenPacket("udp", "127.0.0.1:0") // reads nothing, answers nothing
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	if _, err := Reach(ctx, "coaps://"+mute.LocalAddr().String()); err == nil || !strings.Contains(err.Error(), "no answer") {
		t.Errorf("mute server: %v", err)
	}
	if _, err := Reach(t.Context(), "coap://127.0.0.1:5683"); err == nil {
		t.Error("coap:// accepted; the check is about DTLS")
	}
}
