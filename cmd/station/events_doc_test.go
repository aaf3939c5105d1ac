package main

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"nrfline/station"
)

// docs/events.md is the integrators' schema of `batch --json`: every kind
// and every field of the types it describes must be there, and nothing
// that the types do not have.
func TestEventDocsMatchTypes(t *testing.T) {
	src, err := os.ReadFile("../../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(src)
	for _, k := range station.EventKinds() {
		if !strings.Contains(doc, "| `"+string(k)+"` |") {
			t.Errorf("docs/events.md lacks the kind %q", k)
		}
	}
	types := map[string]reflect.Type{
		"Event": reflect.TypeFor[station.Event](), "RunStart": reflect.TypeFor[station.RunStart](),
		"Slot": reflect.TypeFor[station.Slot](), "Firmware": reflect.TypeFor[station.Firmware](),
		"Identity": reflect.TypeFor[station.Identity](), "StepResult": reflect.TypeFor[station.StepResult](),
		"Verdict": reflect.TypeFor[station.Verdict](), "SlotStatus": reflect.TypeFor[station.SlotStatus](),
		"Device": reflect.TypeFor[station.Device](), "Summary": reflect.TypeFor[summaryEvent](),
	}
	row := regexp.MustCompile("(?m)^\\| `([a-z_0-9]+)` \\|")
	for name, typ := range types {
		section := docSection(doc, name)
		if section == "" {
			t.Errorf("docs/events.md has no section ### %s", name)
			continue
		}
		documented := map[string]bool{}
		for _, m := range row.FindAllStringSubmatch(section, -1) {
			documented[m[1]] = true
		}
		for i := range typ.NumField() {
			field := strings.Split(typ.Field(i).Tag.Get("json"), ",")[0]
			if field == "" || field == "-" {
				continue
			}
			if !documented[field] {
				t.Errorf("docs/events.md ### %s lacks the field %q", name, field)
			}
			delete(documented, field)
		}
		for field := range documented {
			t.Errorf("docs/events.md ### %s documents %q, which %s does not have", name, field, typ)
		}
	}
}

// docSection is the text under "### name" up to the next heading.
func docSection(doc, name string) string {
	_, rest, ok := strings.Cut(doc, "\n### "+name+"\n")
	if !ok {
		return ""
	}
	if i := strings.Index(rest, "\n#"); i >= 0 {
		rest = rest[:i]
	}
	return rest
}
