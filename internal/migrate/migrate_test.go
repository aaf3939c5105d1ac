package migrate

import (
	"testing"
	"testing/fstest"
)

// Migrations come in name order, whatever order the file system lists.
func TestLoadInNameOrder(t *testing.T) {
	fsys := fstest.MapFS{
		"m/002_b.sql": {Data: []byte("B")},
		"m/001_a.sql": {Data: []byte("A")},
		"m/notes.txt": {Data: []byte("x")},
	}
	got, err := Load(fsys, "m/*.sql")
	if err != nil || len(got) != 2 || got[0] != "A" || got[1] != "B" {
		t.Fatalf("Load = %q, %v", got, err)
	}
}
