package unit

import (
	"testing"

	"nrfline/internal/deptest"
	"nrfline/sim/flashctl"
)

// The virtual J-Link drives a Unit.
var _ flashctl.Unit = (*Unit)(nil)

// TestImports guards the package's independence: the unit is written from
// the device's side and must share no code with the station (its AT
// session, its version parsing), so a misreading on one side cannot hide
// behind the same misreading on the other.
func TestImports(t *testing.T) {
	deptest.Check(t, ".", deptest.Rules{Ours: []string{"nrfline/lwm2m", "nrfline/internal/rawtty"},
		ThirdParty: []string{"github.com/creack/pty", "github.com/plgd-dev/go-coap/v3", "golang.org/x/sys"}})
}
