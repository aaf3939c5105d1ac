package records

import (
	"regexp"
	"strings"
	"testing"

	"nrfline/station"
)

// report unit prints no empty field ("operator " with nothing after it),
// times in local time with the zone, and hex in lower case.
func TestWriteUnitShowsOnlyFilledFieldsLocalTimesLowerHex(t *testing.T) {
	ended := "2026-12-06T08:01:30.000Z"
	runs := []UnitRun{{RunRow: RunRow{
		ID: "r1", Slot: "A1", IMEI: "352656100000001", Started: "2026-12-06T08:00:00.000Z", Ended: &ended,
		Outcome: station.Fail, Code: station.FlashJLink, Step: "flash",
		FirmwareName: "app.hex", FirmwareSHA256: "ABCDEF0123456789", PSKSHA256: "D65DF89F702EEC58",
	}}}
	var b strings.Builder
	if err := WriteUnit(&b, "352656100000001", runs, nil); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, bad := range []string{"operator", "attempt", "psk identity", "modem ", "D65D", "ABCDEF"} {
		if strings.Contains(out, bad) {
			t.Errorf("output has %q:\n%s", bad, out)
		}
	}
	for _, want := range []string{"run r1  slot A1", "psk sha256 d65df89f702eec58", "firmware app.hex (abcdef012345…)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [A-Za-z0-9+-]+ → \d{4}-\d\d-\d\d \d\d:\d\d:\d\d [A-Za-z0-9+-]+  FAIL`).MatchString(out) {
		t.Errorf("times are not local with a zone:\n%s", out)
	}
}
