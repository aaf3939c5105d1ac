package central_test

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"nrfline/central"
	"nrfline/records"
)

// otherUnits moves a station's runs to IMEIs of its own (the seed draws
// every station's units from one range).
func otherUnits(runs []records.Run, prefix string) {
	for i := range runs {
		r := &runs[i]
		if r.Identity.IMEI != "" {
			r.Identity.IMEI = prefix + r.Identity.IMEI[len(prefix):]
			r.Verdict.IMEI = r.Identity.IMEI
			if r.Verdict.PSKIdentity != "" {
				r.Verdict.PSKIdentity = "urn:imei:" + r.Identity.IMEI
			}
		}
	}
}

// The line-wide reports over two stations equal the local reports of one
// database holding both stations' runs: run for run, and every figure of
// the summary, for the whole time and for a window with partial days.
func TestLineReportsEqualTheStationsTogether(t *testing.T) {
	url := mustDB(t)
	ctx := context.Background()
	start := time.Date(2026, 11, 2, 6, 0, 0, 0, time.UTC)
	a := stationRuns("st1", 3000, 6, start)
	b := stationRuns("st2", 2000, 7, start.Add(17*time.Minute))
	otherUnits(b, "35265620")
	both := mustStore(t, tempPath(t, "both.db"))
	for _, st := range []struct {
		id   string
		runs []records.Run
	}{{"st1", a}, {"st2", b}} {
		s := mustStore(t, tempPath(t, st.id+".db"))
		if err := s.Import(ctx, st.runs); err != nil {
			t.Fatal(err)
		}
		rep, err := central.NewReplicator(s.Reader(), url, st.id, central.WithBatch(700))
		if err != nil {
			t.Fatal(err)
		}
		if err := rep.Drain(ctx); err != nil {
			t.Fatal(err)
		}
	}
	all := append(slices.Clone(a), b...)
	slices.SortFunc(all, func(x, y records.Run) int { return x.Verdict.Ended.Compare(y.Verdict.Ended) })
	if err := both.Import(ctx, all); err != nil {
		t.Fatal(err)
	}
	reports, err := central.OpenReports(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer reports.Close()

	for _, format := range []records.Format{records.CSV, records.JSON} {
		var local, line bytes.Buffer
		if _, err := both.Reader().ExportRuns(ctx, &local, records.Filter{}, format, records.ExportOptions{}); err != nil {
			t.Fatal(err)
		}
		n, err := records.WriteRuns(ctx, &line, reports.Runs(ctx, central.Filter{}), format, records.ExportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if n != 5000 || line.String() != withoutAttempts(t, local.String(), line.String()) {
			t.Errorf("%s: the line's runs report (%d runs) differs from the stations' together", format, n)
		}
	}

	windows := []records.Filter{{}, {Since: start.Add(10 * time.Hour), Until: start.Add(47*time.Hour + 17*time.Minute)}}
	for _, w := range windows {
		want, err := both.Reader().Summary(ctx, w)
		if err != nil {
			t.Fatal(err)
		}
		d, err := reports.Summary(ctx, central.Filter{Since: w.Since, Until: w.Until})
		if err != nil {
			t.Fatal(err)
		}
		got := lineSummary(w, d)
		if g, l := jsonOf(t, got.Summary), jsonOf(t, *want); g != l {
			t.Errorf("window %v–%v: line summary\n%s\nwant\n%s", w.Since, w.Until, g, l)
		}
		if len(got.Stations) != 2 || got.Stations[0].Runs+got.Stations[1].Runs != want.Runs {
			t.Errorf("per-station breakdown %+v does not add up to %d runs", got.Stations, want.Runs)
		}
	}
	// --station st2: the runs of st2 only.
	d, err := reports.Summary(ctx, central.Filter{Stations: []string{"st2"}})
	if err != nil {
		t.Fatal(err)
	}
	if s := lineSummary(records.Filter{}, d); s.Runs != 2000 || len(s.Stations) != 1 || s.Stations[0].Name != "st2" {
		t.Errorf("--station st2: %d runs, stations %+v", s.Runs, s.Stations)
	}
	var text bytes.Buffer
	if err := records.WriteLineSummary(&text, lineSummary(records.Filter{}, d)); err != nil || !strings.Contains(text.String(), "By station") {
		t.Errorf("text summary lacks the station breakdown (%v):\n%s", err, text.String())
	}

	// One unit, wherever it ran.
	imei := b[len(b)-1].Identity.IMEI
	runs, err := reports.Unit(ctx, imei, central.Filter{}, false)
	if err != nil || len(runs) == 0 || runs[0].Run.IMEI != imei || len(runs[0].Steps) == 0 {
		t.Fatalf("unit %s: %d runs, %v", imei, len(runs), err)
	}
	local, err := both.Reader().Unit(ctx, imei)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := jsonOf(t, records.UnitRunOf(runs[0]).Steps), jsonOf(t, local[0].Steps); g != w {
		t.Errorf("unit report steps differ:\n%s\nwant\n%s", g, w)
	}
}

func lineSummary(w records.Filter, d *central.SummaryData) *records.LineSummary {
	return records.NewLineSummary(w.Since, w.Until, d.Tallies, d.Cycles, d.RetestedUnits)
}

func jsonOf(t testing.TB, v any) string {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// withoutAttempts returns local unchanged: the attempt column is each
// station's own count, and the two stations share no unit, so it must
// match as it is. (Kept as a seam to explain a difference if it fails.)
func withoutAttempts(t testing.TB, local, line string) string {
	t.Helper()
	if local != line {
		ll, gl := strings.Split(local, "\n"), strings.Split(line, "\n")
		for i := range min(len(ll), len(gl)) {
			if ll[i] != gl[i] {
				t.Logf("first difference at line %d:\nlocal %q\nline  %q", i, ll[i], gl[i])
				break
			}
		}
	}
	return local
}

// With transcripts on, a unit's transcript reads the same from the line as
// from its station.
func TestTranscriptsShippedWhenAsked(t *testing.T) {
	url := mustDB(t)
	ctx := context.Background()
	s := mustStore(t, tempPath(t, "st1.db"))
	runs := stationRuns("st1", 200, 8, time.Date(2026, 11, 2, 6, 0, 0, 0, time.UTC))
	record(t, s, runs)
	var with *records.Run
	for i := range runs {
		if runs[i].Identity.IMEI != "" && len(runs[i].Transcript) > 0 {
			with = &runs[i]
		}
	}
	if with == nil {
		t.Fatal("no seeded run with a transcript and an IMEI")
	}
	rep, err := central.NewReplicator(s.Reader(), url, "st1", central.WithTranscripts(true))
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	reports, err := central.OpenReports(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer reports.Close()
	found, err := reports.Unit(ctx, with.Identity.IMEI, central.Filter{}, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, fr := range found {
		if fr.Run.ID != with.ID {
			continue
		}
		got, err := records.TranscriptText(fr.Transcript)
		if err != nil {
			t.Fatal(err)
		}
		want, err := s.Reader().Transcript(ctx, with.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got != want || got == "" {
			t.Errorf("transcript from the line:\n%s\nfrom the station:\n%s", got, want)
		}
		return
	}
	t.Fatalf("run %s not in the line's history of %s", with.ID, with.Identity.IMEI)
}
