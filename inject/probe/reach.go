package probe

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"syscall"

	"nrfline/lwm2m"
)

// Reach checks that a DTLS bootstrap server answers at serverURI
// (`station check --online`), without credentials: it starts a handshake
// with a throwaway PSK identity, which a real server refuses. A refusal
// (an alert, or a 4.xx to the Bootstrap-Request) proves the server is
// there and speaks DTLS; nothing listening, or no answer within ctx, is
// the error. It returns what the server did.
func Reach(ctx context.Context, serverURI string) (string, error) {
	if !strings.HasPrefix(serverURI, "coaps://") {
		return "", fmt.Errorf("bootstrap server URI %q is not coaps://", serverURI)
	}
	key := make([]byte, 16)
	rand.Read(key)
	id := fmt.Sprintf("station-check-%x", key[:4])
	_, err := lwm2m.Bootstrap(ctx, serverURI, id, &lwm2m.PSK{Identity: id, Key: key})
	var re *lwm2m.ResponseError
	switch {
	case err == nil:
		return "the server accepted a throwaway identity (it checks no credentials)", nil
	case errors.As(err, &re):
		return fmt.Sprintf("DTLS handshake done; the server answered %s to a throwaway endpoint, as expected", lwm2m.CodeText(re.Code)), nil
	case errors.Is(err, syscall.ECONNREFUSED):
		return "", fmt.Errorf("nothing listens at %s (connection refused)", serverURI)
	case ctx.Err() != nil:
		return "", fmt.Errorf("no answer from %s: %w", serverURI, ctx.Err())
	case errors.Is(err, lwm2m.ErrHandshake):
		return "the server answered the DTLS handshake and refused a throwaway identity, as expected", nil
	}
	return "", err
}
