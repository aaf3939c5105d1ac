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
	for _, key := range tomlKeys(reflect.TypeFor[Config](), "") {
		leaf := key[strings.LastIndex(key, ".")+1:]
		if !regexp.MustCompile(`(?m)^#?\s*` + regexp.QuoteMeta(leaf) + `\s*=`).Match(src) {
			t.Errorf("docs/station.example.toml lacks %s", key)
		}
	}
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
