package station

import (
	"fmt"
	"reflect"
	"strings"
)

// Config errors name the file, line and key and say what form the value
// must take, in TOML's words: never a Go type. The expected form comes from
// the Config struct itself, so a new key needs no entry here.

// durationError is a value that is not a Go duration. go-toml reports it
// with the key when the value was a string, and without it when it was not
// (timeout = 45): decodeError then finds the key in the source.
type durationError struct{ raw string }

func (e *durationError) Error() string {
	return fmt.Sprintf("want %s; got %s", durationForm, e.raw)
}

const durationForm = `a duration in quotes, a number with its unit, e.g. "45s" (units: ms, s, m, h)`

var durationType = reflect.TypeFor[Duration]()

// fieldFor returns the Go type and default value of a dotted TOML key.
func fieldFor(key []string) (reflect.Type, reflect.Value, bool) {
	v := reflect.ValueOf(Defaults())
	for _, name := range key {
		for v.Kind() == reflect.Slice || v.Kind() == reflect.Map {
			v = reflect.Zero(v.Type().Elem())
		}
		if v.Kind() != reflect.Struct {
			return nil, reflect.Value{}, false
		}
		found := false
		for i := 0; i < v.NumField(); i++ {
			tag, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("toml"), ",")
			if tag == name {
				v, found = v.Field(i), true
				break
			}
		}
		if !found {
			return nil, reflect.Value{}, false
		}
	}
	return v.Type(), v, true
}

// expectedForm says in TOML terms what a key's value must look like, with
// an example from the defaults where there is one.
func expectedForm(key []string) string {
	t, def, ok := fieldFor(key)
	if !ok {
		return "a different kind of value"
	}
	if t == durationType {
		return durationForm
	}
	switch t.Kind() {
	case reflect.String:
		if s := def.String(); s != "" {
			return fmt.Sprintf("text in quotes, e.g. %q", s)
		}
		return `text in quotes, e.g. "…"`
	case reflect.Bool:
		return "true or false (no quotes)"
	case reflect.Int, reflect.Int64:
		if n := def.Int(); n != 0 {
			return fmt.Sprintf("a whole number without quotes, e.g. %d", n)
		}
		return "a whole number without quotes"
	case reflect.Uint32, reflect.Uint, reflect.Uint64:
		if n := def.Uint(); n != 0 {
			return fmt.Sprintf("a whole number ≥ 0 without quotes, e.g. %d", n)
		}
		return "a whole number ≥ 0 without quotes"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Struct {
			return fmt.Sprintf("a table array [[%s]]", strings.Join(key, "."))
		}
		if t.Elem().Kind() == reflect.String {
			return `a list of texts, e.g. ["…", "…"]`
		}
		return "a list of whole numbers, e.g. [200, 201]"
	case reflect.Struct, reflect.Map:
		return fmt.Sprintf("a table [%s]", strings.Join(key, "."))
	}
	return "a different kind of value"
}

// rawValue is the value text of key as written in src ("" if not found).
func rawValue(src []byte, key string) string {
	n := keyLine(src, key)
	lines := strings.Split(string(src), "\n")
	if n <= 0 || n > len(lines) {
		return ""
	}
	_, v, ok := strings.Cut(lines[n-1], "=")
	if !ok {
		return ""
	}
	if i := strings.Index(v, " #"); i >= 0 && !strings.HasPrefix(strings.TrimSpace(v), `"`) {
		v = v[:i]
	}
	return strings.TrimSpace(v)
}

// durationKeys lists the dotted keys of every Duration in Config.
func durationKeys(t reflect.Type, prefix string) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		switch {
		case f.Type == durationType:
			out = append(out, prefix+tag)
		case f.Type.Kind() == reflect.Struct:
			out = append(out, durationKeys(f.Type, prefix+tag+".")...)
		}
	}
	return out
}

// findDuration finds the key whose value in src is raw, for a duration
// error go-toml reported without its key.
func findDuration(src []byte, raw string) (string, int) {
	for _, key := range durationKeys(reflect.TypeFor[Config](), "") {
		if rawValue(src, key) == raw {
			return key, keyLine(src, key)
		}
	}
	return "", 0
}
