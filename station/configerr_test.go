package station

import (
	"errors"
	"strings"
	"testing"
)

// Every wrong value names file, line and key and the form wanted, in TOML
// terms: never a Go type or struct field.
func TestConfigValueErrorsSayTheFormWanted(t *testing.T) {
	head := "station_id = \"x\"\n[firmware]\nhex = \"a.hex\"\n"
	slot := "\n[[slot]]\nname = \"A1\"\nprobe = \"1\"\n"
	cases := []struct {
		name, body, key string
		line            int
		want            []string
	}{
		{"integer duration", "[flash]\ntimeout = 45", "flash.timeout", 5, []string{`"45s"`, "got 45"}},
		{"duration without unit", "[flash]\ntimeout = \"45\"", "flash.timeout", 5, []string{`"45s"`, `got "45"`}},
		{"negative duration", "[bootstrap]\ntimeout = \"-5s\"", "bootstrap.timeout", 5, []string{`"45s"`, `got "-5s"`}},
		{"integer duration in another table", "[modem]\nbaud = 9600\nready_timeout = 30", "modem.ready_timeout", 6, []string{`"45s"`, "got 30"}},
		{"string for int", "[modem]\nbaud = \"fast\"", "modem.baud", 5, []string{"whole number", "115200", `got "fast"`}},
		{"string for bool", "[flash]\nverify = \"yes\"", "flash.verify", 5, []string{"true or false", `got "yes"`}},
		{"negative sec_tag", "[credentials]\nbootstrap_tag = -1", "credentials.bootstrap_tag", 5, []string{"≥ 0", "got -1"}},
		{"int for string", "[flash]\ntool = 3", "flash.tool", 5, []string{"text in quotes", `"nrfjprog"`, "got 3"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig("st.toml", []byte(head+tc.body+slot))
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a ConfigError", err)
			}
			if ce.File != "st.toml" || ce.Line != tc.line || ce.Key != tc.key {
				t.Errorf("%v: want st.toml:%d %s", err, tc.line, tc.key)
			}
			for _, w := range tc.want {
				if !strings.Contains(ce.Msg, w) {
					t.Errorf("%q lacks %q", ce.Msg, w)
				}
			}
			for _, goism := range []string{"station.", "struct", "of type", "cannot decode"} {
				if strings.Contains(err.Error(), goism) {
					t.Errorf("%q shows Go internals (%q)", err, goism)
				}
			}
		})
	}
}
