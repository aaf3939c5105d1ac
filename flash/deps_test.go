package flash

import (
	"testing"

	"nrfline/internal/deptest"
)

// TestImports keeps flash on its side of the house: of ours it imports
// only station (never inject, records, sim, ui, lwm2m or cmd), and nothing
// outside the standard library.
func TestImports(t *testing.T) {
	deptest.Check(t, ".", deptest.Rules{Ours: []string{"nrfline/station"}})
}
