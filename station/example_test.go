package station

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// docs/station.example.toml is the reference for a real bench: it must
// load as it is, and explain every key the station knows (a key may be
// commented out, but it must be there with its explanation).
func TestExampleConfigLoadsAndExplainsEveryKey(t *testing.T) {
	src, err := os.ReadFile("../docs/station.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig("../docs/station.example.toml", src)
	if err != nil {
		t.Fatalf("the example does not load: %v", err)
	}
	if len(cfg.Slots) == 0 || cfg.Portal.Kind == "none" {
		t.Errorf("the example shows no real bench: %+v", cfg)
	}
	have := exampleKeys(string(src))
	for _, key := range tomlKeys(reflect.TypeFor[Config](), "") {
		if !have[key] {
			t.Errorf("docs/station.example.toml lacks %s", key)
		}
	}
}

var (
	tableLine  = regexp.MustCompile(`^#?\s*\[\[?([a-z_.]+)\]\]?`)
	exampleKey = regexp.MustCompile(`^#?\s*([a-z_0-9]+)\s*=`)
)

// exampleKeys lists the dotted keys the example sets or shows commented
// out, each under the table it appears in.
func exampleKeys(src string) map[string]bool {
	out := map[string]bool{}
	table := ""
	for _, line := range strings.Split(src, "\n") {
		if m := tableLine.FindStringSubmatch(line); m != nil {
			table = m[1] + "."
			continue
		}
		if m := exampleKey.FindStringSubmatch(line); m != nil {
			out[table+m[1]] = true
		}
	}
	return out
}

// tomlKeys lists the dotted keys of t's TOML fields, tables included.
func tomlKeys(t reflect.Type, prefix string) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != durationType {
			out = append(out, tomlKeys(ft, prefix+tag+".")...)
			continue
		}
		out = append(out, prefix+tag)
	}
	return out
}
