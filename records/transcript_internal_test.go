package records

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"nrfline/station"
)

func TestScrubRemovesKeyMaterial(t *testing.T) {
	const key = "000102030405060708090a0b0c0d0e0f"
	for _, tc := range []struct{ in, want string }{
		{`AT%CMNG=0,100,3,"` + key + `"`, `AT%CMNG=0,100,3,"<redacted>"`},
		{`at AT%CMNG=0,100,3,` + key, `at AT%CMNG=0,100,3,"<redacted>"`},                               // shell, quotes dropped
		{`at 'AT%CMNG=0,100,3,"` + key + `"'`, `at 'AT%CMNG=0,100,3,"<redacted>"'`},                    // shell, single quotes
		{`AT%cmng=0, 4294967200 , 3 ,"` + key + `"`, `AT%cmng=0, 4294967200 , 3 ,"<redacted>"`},        // spacing, case
		{`AT%CMNG=0,100,2,"-----BEGIN EC PRIVATE KEY-----`, `AT%CMNG=0,100,2,"<redacted private key>`}, // private key write
		{`%CMNG: 100,3,"D65DF89F","` + key + `"`, `%CMNG: 100,3,"D65DF89F","<redacted>"`},              // a read that returned content
		{`AT%CMNG=0,100,3,"<redacted>"`, `AT%CMNG=0,100,3,"<redacted>"`},                               // already redacted
		// what must stay: the identity, digests, other opcodes
		{`AT%CMNG=0,100,4,"urn:imei:352656100367872"`, `AT%CMNG=0,100,4,"urn:imei:352656100367872"`},
		{`%CMNG: 100,3,"D65DF89F702EEC58CA3C7BF2001C9FFC7CD80553AE01D42A799BA26756142D96"`, `%CMNG: 100,3,"D65DF89F702EEC58CA3C7BF2001C9FFC7CD80553AE01D42A799BA26756142D96"`},
		{`AT%CMNG=3,100,3`, `AT%CMNG=3,100,3`},
		{`AT%CMNG=1,100`, `AT%CMNG=1,100`},
	} {
		if got := Scrub(tc.in); got != tc.want {
			t.Errorf("scrub(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestTranscriptDropsPEMPrivateKeys(t *testing.T) {
	tr := newTranscript(1<<20, 1<<20)
	at := time.Date(2025, 3, 3, 8, 0, 0, 0, time.UTC)
	tr.add(at, "rx", "before\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nsecretline2\n-----END PRIVATE KEY-----\"\nafter")
	text, _ := tr.text()
	s := string(text)
	for _, leak := range []string{"MIIEvQ", "secretline2"} {
		if strings.Contains(s, leak) {
			t.Errorf("transcript keeps key material %q:\n%s", leak, s)
		}
	}
	for _, keep := range []string{"before", "after", "<redacted private key>"} {
		if !strings.Contains(s, keep) {
			t.Errorf("transcript lost %q:\n%s", keep, s)
		}
	}
}

func TestTranscriptKeepsHeadAndTail(t *testing.T) {
	tr := newTranscript(200, 300)
	at := time.Date(2025, 3, 3, 8, 0, 0, 0, time.UTC)
	for i := range 100 {
		tr.add(at, "log", fmt.Sprintf("line %03d", i))
	}
	size := len("2025-03-03T08:00:00.000Z log line 000\n")
	text, st := tr.text()
	lines := strings.Split(strings.TrimSuffix(string(text), "\n"), "\n")
	if !strings.HasSuffix(lines[0], "line 000") || !strings.HasSuffix(lines[len(lines)-1], "line 099") {
		t.Errorf("first/last line %q / %q", lines[0], lines[len(lines)-1])
	}
	head, tail := 200/size, 300/size
	if st.lines != head+tail || st.cutLines != 100-head-tail {
		t.Errorf("kept %d lines, cut %d; want %d and %d", st.lines, st.cutLines, head+tail, 100-head-tail)
	}
	marker := fmt.Sprintf("… %d lines (%d bytes) cut …", 100-head-tail, size*(100-head-tail))
	if lines[head] != marker {
		t.Errorf("line %d is %q, want the cut marker %q", head, lines[head], marker)
	}
	if !strings.HasSuffix(lines[head-1], fmt.Sprintf("line %03d", head-1)) || !strings.HasSuffix(lines[head+1], fmt.Sprintf("line %03d", 100-tail)) {
		t.Errorf("around the cut: %q | %q", lines[head-1], lines[head+1])
	}
	if len(text) > 200+300+len(marker)+1 {
		t.Errorf("transcript is %d bytes, over its bound", len(text))
	}
}

func TestHistogramQuantilesWithinOnePercent(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		name string
		draw func() float64
	}{
		{"uniform 18..32 s", func() float64 { return 18 + 14*rng.Float64() }},
		{"lognormal around 60 s", func() float64 { return 60 * math.Exp(0.4*rng.NormFloat64()) }},
		{"sub-second", func() float64 { return 0.05 + 0.25*rng.Float64() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h hist
			var xs []float64
			for range 20000 {
				x := tc.draw()
				xs = append(xs, x)
				h.add(x)
			}
			// the encoded form merges back to the same histogram
			var back hist
			if err := back.decodeAdd(h.encode()); err != nil || back.n != h.n {
				t.Fatalf("round trip: n %d, %v", back.n, err)
			}
			slices.Sort(xs)
			for _, q := range []float64{0.5, 0.9, 0.99} {
				exact := xs[int(math.Ceil(q*float64(len(xs))))-1]
				if got := back.quantile(q); math.Abs(got-exact) > 0.0101*exact {
					t.Errorf("p%.0f = %.4f, exact %.4f", 100*q, got, exact)
				}
			}
		})
	}
	if err := (&hist{}).decodeAdd([]byte{0xff}); err == nil {
		t.Error("a malformed histogram decoded without error")
	}
}

func TestSplitWindow(t *testing.T) {
	d := func(s string) time.Time { t, _ := time.Parse(time.RFC3339, s); return t }
	day0 := station.RollupDay(d("2025-03-03T00:00:00Z"))
	for _, tc := range []struct {
		name         string
		since, until time.Time
		days         bool
		d0, d1       int64
		raw          int
	}{
		{"open", time.Time{}, time.Time{}, true, minDay, maxDay, 0},
		{"aligned days", d("2025-03-03T00:00:00Z"), d("2025-03-05T00:00:00Z"), true, day0, day0 + 2, 0},
		{"edges", d("2025-03-03T07:00:00Z"), d("2025-03-05T09:00:00Z"), true, day0 + 1, day0 + 2, 2},
		{"inside one day", d("2025-03-03T07:00:00Z"), d("2025-03-03T09:00:00Z"), false, 0, 0, 1},
		{"across midnight", d("2025-03-03T22:00:00Z"), d("2025-03-04T02:00:00Z"), false, 0, 0, 1},
		{"since only", d("2025-03-03T07:00:00+02:00"), time.Time{}, true, day0 + 1, maxDay, 1},
	} {
		w := splitWindow(tc.since, tc.until)
		if w.days != tc.days || tc.days && (w.d0 != tc.d0 || w.d1 != tc.d1) || len(w.raw) != tc.raw {
			t.Errorf("%s: %+v", tc.name, w)
		}
	}
}
