package station

import (
	"testing"

	"nrfline/internal/deptest"
)

// TestImports keeps station the centre of the house: it imports none of
// ours (the parts implement its interfaces, never the other way round), no
// serial, SQLite or external programs; of third parties only TOML and uuid.
func TestImports(t *testing.T) {
	deptest.Check(t, ".", deptest.Rules{
		ThirdParty: []string{"github.com/pelletier/go-toml/v2", "github.com/google/uuid"},
		Deny:       []string{"os/exec", "database/sql"},
	})
}
