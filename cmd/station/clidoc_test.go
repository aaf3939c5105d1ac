package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/cobra/doc"
)

var update = flag.Bool("update", false, "rewrite docs/cli from the commands")

// docs/cli is generated from the commands themselves; a flag or help text
// changed without `make docs` fails here.
func TestCLIReferenceUpToDate(t *testing.T) {
	root := newRootCmd(io.Discard, io.Discard)
	root.DisableAutoGenTag = true // no date: the files must be reproducible
	gen := t.TempDir()
	if err := doc.GenMarkdownTree(root, gen); err != nil {
		t.Fatal(err)
	}
	want := filepath.Join("..", "..", "docs", "cli")
	if *update {
		os.RemoveAll(want)
		if err := os.CopyFS(want, os.DirFS(gen)); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, _ := filepath.Glob(filepath.Join(gen, "*.md"))
	have, _ := filepath.Glob(filepath.Join(want, "*.md"))
	if len(got) != len(have) {
		t.Errorf("docs/cli has %d files, the commands make %d: run make docs", len(have), len(got))
	}
	for _, g := range got {
		fresh, _ := os.ReadFile(g)
		old, err := os.ReadFile(filepath.Join(want, filepath.Base(g)))
		if err != nil || string(old) != string(fresh) {
			t.Errorf("docs/cli/%s differs from the commands: run make docs", filepath.Base(g))
		}
	}
}
