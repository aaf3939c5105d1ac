package records_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"testing"
	"time"

	"nrfline/records"
	"nrfline/records/seed"
	"nrfline/station"
)

// A unit (or an operator) that puts a spreadsheet formula into a text field
// cannot make the supervisor's Excel evaluate it: every CSV text cell that
// starts with = + - @ tab or CR gets a leading ' (OWASP's advice), the JSON
// export keeps the text as it was, and a real number (a negative cycle time
// after the clock stepped back) stays a number.
func TestCSVNeutralisesFormulas(t *testing.T) {
	path := dbPath(t)
	s := mustOpen(t, path)
	hostile := map[string]string{
		"model":    `=HYPERLINK("http://evil.example/x","nRF9151")`,
		"operator": "@SUM(1+1)*cmd|' /C calc'!A0",
		"slot":     "+A1",
		"detail":   "-2+3+cmd|' /C calc'!A0",
		"modem_fw": "\t=1+1",
		"hw_ver":   "\r=1+1",
	}
	f := fixture{id: runID(1), slot: hostile["slot"], operator: hostile["operator"], imei: "352656100367872", started: t0}
	run := f.run()
	run.Identity.Model, run.Identity.ModemFW, run.Identity.HWVersion = hostile["model"], hostile["modem_fw"], hostile["hw_ver"]
	run.Verdict.Outcome, run.Verdict.Code, run.Verdict.Step, run.Verdict.Detail = station.Fail, station.CredVerify, station.StepInject, hostile["detail"]
	run.Verdict.Ended = run.Start.Started.Add(-1500 * time.Millisecond) // the clock stepped back
	recordAll(t, s, seed.Events(run))
	r := mustReader(t, path)

	for _, opt := range []records.ExportOptions{{}, {BOM: true}} {
		var buf bytes.Buffer
		if _, err := r.ExportRuns(context.Background(), &buf, records.Filter{}, records.CSV, opt); err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(buf.Bytes(), []byte("\xef\xbb\xbf")))).ReadAll()
		if err != nil || len(rows) != 2 {
			t.Fatalf("csv: %d rows, %v", len(rows), err)
		}
		got := map[string]string{}
		for i, h := range rows[0] {
			got[h] = rows[1][i]
		}
		for col, key := range map[string]string{"model": "model", "operator": "operator", "slot": "slot",
			"detail": "detail", "modem_fw": "modem_fw"} {
			if want := "'" + hostile[key]; got[col] != want {
				t.Errorf("BOM %v: csv %s = %q, want %q", opt.BOM, col, got[col], want)
			}
		}
		// the CSV writer (CRLF mode) drops a lone CR: the cell must not
		// become a bare formula on the way
		if got["hw_version"] != "'=1+1" {
			t.Errorf("BOM %v: hw_version starting with CR: %q, want %q", opt.BOM, got["hw_version"], "'=1+1")
		}
		if got["seconds"] != "-1.5" || got["imei"] != "352656100367872" || got["outcome"] != "FAIL" {
			t.Errorf("BOM %v: plain cells changed: seconds %q imei %q outcome %q", opt.BOM, got["seconds"], got["imei"], got["outcome"])
		}
	}

	var buf bytes.Buffer
	if _, err := r.ExportRuns(context.Background(), &buf, records.Filter{}, records.JSON, records.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	var rows []records.RunRow
	if err := json.Unmarshal(buf.Bytes(), &rows); err != nil || len(rows) != 1 {
		t.Fatalf("json: %v", err)
	}
	if j := rows[0]; j.Model != hostile["model"] || j.Operator != hostile["operator"] || j.Detail != hostile["detail"] || j.Slot != hostile["slot"] {
		t.Errorf("json export changed the text: %+v", j)
	}
}
