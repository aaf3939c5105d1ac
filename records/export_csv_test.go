package records_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"nrfline/records"
	"nrfline/station"
)

// Details with commas, quotes and line breaks, and names outside ASCII,
// survive the CSV export (RFC 4180) byte for byte.
func TestCSVQuotesWhatNeedsQuoting(t *testing.T) {
	path := dbPath(t)
	s := mustOpen(t, path)
	detail := "FLASH_VERIFY: nrfjprog said \"ERROR: verify failed\", at 0x1000\r\nsecond line\nthird, \"quoted\" line"
	tricky := fixture{id: runID(1), slot: "A,1", operator: "Ünal \"Öz\", night shift", started: t0,
		code: station.FlashVerify, step: station.StepFlash, detail: detail}
	plain := fixture{id: runID(2), slot: "A2", operator: "Ben", imei: "352656100367872", started: t0.Add(time.Minute)}
	recordAll(t, s, tricky.events())
	recordAll(t, s, plain.events())
	r := mustReader(t, path)

	for _, tc := range []struct {
		name string
		opt  records.ExportOptions
	}{{"plain", records.ExportOptions{}}, {"with BOM", records.ExportOptions{BOM: true}}} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			n, err := r.ExportRuns(context.Background(), &buf, records.Filter{}, records.CSV, tc.opt)
			if err != nil || n != 2 {
				t.Fatalf("export: %d runs, %v", n, err)
			}
			out := buf.Bytes()
			if bom := bytes.HasPrefix(out, []byte("\xef\xbb\xbf")); bom != tc.opt.BOM {
				t.Errorf("BOM present %v, want %v", bom, tc.opt.BOM)
			}
			out = bytes.TrimPrefix(out, []byte("\xef\xbb\xbf"))
			if !bytes.HasPrefix(out, []byte("id,station_id,station_version,slot,probe,operator,imei,")) || !bytes.Contains(out, []byte("\r\n")) {
				t.Errorf("no header row or no CRLF:\n%q", out[:min(200, len(out))])
			}
			// line breaks inside a field are written as CRLF, like the record ends
			wantField := `"FLASH_VERIFY: nrfjprog said ""ERROR: verify failed"", at 0x1000` + "\r\nsecond line\r\nthird, \"\"quoted\"\" line\""
			if !bytes.Contains(out, []byte(wantField)) {
				t.Errorf("detail not quoted as RFC 4180 says; want %q in\n%q", wantField, out)
			}
			if !bytes.Contains(out, []byte(`"Ünal ""Öz"", night shift"`)) || !bytes.Contains(out, []byte(`,"A,1",`)) {
				t.Errorf("operator or slot not quoted: %q", out)
			}
			rows, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
			if err != nil {
				t.Fatalf("a CSV reader cannot read the export: %v", err)
			}
			if len(rows) != 3 {
				t.Fatalf("%d rows, want header + 2", len(rows))
			}
			col := map[string]int{}
			for i, h := range rows[0] {
				col[h] = i
			}
			got := rows[1]
			// encoding/csv turns \r\n inside a quoted field into \n, as RFC 4180 readers may
			if got[col["detail"]] != strings.ReplaceAll(detail, "\r\n", "\n") || got[col["operator"]] != tricky.operator ||
				got[col["slot"]] != "A,1" || got[col["outcome"]] != "FAIL" || got[col["attempt"]] != "" || got[col["imei"]] != "" {
				t.Errorf("row read back: %q", got)
			}
			if p := rows[2]; p[col["imei"]] != plain.imei || p[col["attempt"]] != "1" || p[col["seconds"]] != "66" || p[col["outcome"]] != "PASS" {
				t.Errorf("plain row read back: %q", p)
			}
		})
	}
}

func TestRunsFilters(t *testing.T) {
	path := dbPath(t)
	s := mustOpen(t, path)
	for _, f := range lineFixture() {
		recordAll(t, s, f.events())
	}
	r := mustReader(t, path)
	for _, tc := range []struct {
		name string
		f    records.Filter
		want []string
	}{
		{"all", records.Filter{}, []string{runID(1), runID(2), runID(3), runID(4), runID(5), runID(6), runID(7), runID(8), runID(9), runID(10), runID(11)}},
		{"day 2", records.Filter{Since: day(2, 0, 0), Until: day(3, 0, 0)}, []string{runID(5), runID(6), runID(7)}},
		{"failures", records.Filter{Outcome: station.Fail}, []string{runID(2), runID(3), runID(4), runID(6), runID(8)}},
		{"one unit", records.Filter{IMEI: "352656100000004"}, []string{runID(6), runID(8)}},
		{"unit and outcome", records.Filter{IMEI: "352656100000002", Outcome: station.Pass}, []string{runID(5)}},
		{"nothing", records.Filter{Since: day(9, 0, 0)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, row := range exportRuns(t, r, tc.f) {
				got = append(got, row.ID)
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("runs %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	loc := time.FixedZone("CET", 3600)
	for _, tc := range []struct {
		in       string
		endOfDay bool
		want     time.Time
		bad      bool
	}{
		{"2025-03-01T08:00:00Z", false, time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC), false},
		{"2025-03-01T08:00:00+02:00", true, time.Date(2025, 3, 1, 6, 0, 0, 0, time.UTC), false},
		{"2025-03-01", false, time.Date(2025, 3, 1, 0, 0, 0, 0, loc), false},
		{"2025-03-31", true, time.Date(2025, 4, 1, 0, 0, 0, 0, loc), false},
		{"yesterday", false, time.Time{}, true},
		{"2025-13-01", false, time.Time{}, true},
	} {
		got, err := records.ParseTime(tc.in, loc, tc.endOfDay)
		if (err != nil) != tc.bad || !tc.bad && !got.Equal(tc.want) {
			t.Errorf("ParseTime(%q, %v) = %v, %v; want %v (error %v)", tc.in, tc.endOfDay, got, err, tc.want, tc.bad)
		}
	}
	for _, in := range []string{"pass", "FAIL", " Aborted ", "running"} {
		if _, err := records.ParseOutcome(in); err != nil {
			t.Errorf("ParseOutcome(%q): %v", in, err)
		}
	}
	if _, err := records.ParseOutcome("OK"); err == nil {
		t.Error("ParseOutcome(OK) accepted")
	}
}
