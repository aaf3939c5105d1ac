package server

import (
	"testing"

	"nrfline/internal/deptest"
)

// TestImports: of our packages the virtual servers use only lwm2m (they
// play the far side of the wire and must not reuse station code).
func TestImports(t *testing.T) {
	deptest.Check(t, ".", deptest.Rules{Ours: []string{"nrfline/lwm2m"},
		ThirdParty: []string{"github.com/plgd-dev/go-coap/v3", "github.com/pion/dtls/v3", "github.com/google/uuid"}})
}
