package records

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"strconv"
	"time"

	"nrfline/station"
)

// The line-wide reports: the same summary, runs and unit reports over runs
// that another store (the central PostgreSQL) counted, rendered here so a
// supervisor reads one format whichever store answered.

// Tally and CycleCount are the counts every store of runs gives the
// reports (station's types, so the line-wide and local reports share them).
type (
	Tally      = station.Tally
	CycleCount = station.CycleCount
)

// LineSummary is a summary over several stations, with a breakdown per
// station.
type LineSummary struct {
	Summary
	Stations []GroupRow `json:"stations"`
}

// NewLineSummary adds up tallies and histograms into a summary of the
// window [since, until). retestedUnits counts units first tested before the
// window and retested in it.
func NewLineSummary(since, until time.Time, tallies []Tally, cycles []CycleCount, retestedUnits int) *LineSummary {
	m := newSummer()
	stations := map[string]*GroupRow{}
	for _, t := range tallies {
		row := tallyRow{slot: t.Slot, operator: t.Operator, outcome: t.Outcome, code: t.Code, step: t.Step,
			runs: t.Runs, firstTested: t.FirstTested, firstPass: t.FirstPass, eventually: t.EventuallyPassed,
			retests: t.Retests, unidentifiedRun: t.Unidentified}
		m.add(row)
		m.group(stations, t.Station, row)
	}
	for _, c := range cycles {
		if c.Bucket >= 0 && c.Bucket < histBuckets {
			m.cycle(c.Name).addCount(c.Bucket, c.N)
		}
	}
	s := m.finish()
	s.Units = s.FirstTested + retestedUnits
	s.Since, s.Until = since, until
	return &LineSummary{Summary: *s, Stations: groupRows(stations)}
}

// WriteLineSummary renders a line summary as text: the summary, then the
// breakdown per station.
func WriteLineSummary(w io.Writer, s *LineSummary) error {
	if err := WriteSummary(w, &s.Summary); err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	writeGroups(bw, "station", s.Stations)
	return bw.Flush()
}

// WriteRuns renders runs from another store exactly as ExportRuns renders
// the local ones, and returns how many it wrote.
func WriteRuns(ctx context.Context, w io.Writer, runs iter.Seq2[station.RunRecord, error], format Format, opt ExportOptions) (int, error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	n := 0
	var err error
	switch format {
	case CSV:
		n, err = writeRunsCSV(bw, runs, opt)
	case JSON:
		n, err = writeRunsJSON(bw, runs)
	default:
		return 0, fmt.Errorf("export format %q: want csv or json", format)
	}
	if err != nil {
		return n, err
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("write %s: %w", format, err)
	}
	return n, ctx.Err()
}

func writeRunsCSV(w *bufio.Writer, runs iter.Seq2[station.RunRecord, error], opt ExportOptions) (int, error) {
	if opt.BOM {
		w.WriteString("\ufeff")
	}
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(runColumns); err != nil {
		return 0, fmt.Errorf("write csv: %w", err)
	}
	n := 0
	rec := make([]string, len(runColumns))
	for r, err := range runs {
		if err != nil {
			return n, err
		}
		if err := cw.Write(runFields(r, rec)); err != nil {
			return n, fmt.Errorf("write csv: %w", err)
		}
		n++
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return n, fmt.Errorf("write csv: %w", err)
	}
	return n, nil
}

// runFields renders r in runColumns order, as textOf renders SQLite's values.
func runFields(r station.RunRecord, out []string) []string {
	opt := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	sec, att := "", ""
	if r.Seconds != nil {
		sec = strconv.FormatFloat(*r.Seconds, 'f', -1, 64)
	}
	if r.Attempt != nil {
		att = strconv.FormatInt(*r.Attempt, 10)
	}
	return append(out[:0], r.ID, r.StationID, r.StationVersion, r.Slot, r.Probe, r.Operator, r.IMEI, r.ICCID,
		r.IMSI, r.ModemFW, r.Model, r.HWVersion, r.ModemUUID, r.FirmwareName, r.FirmwareSHA256, r.FlashTool,
		r.FlashVersion, r.Started, opt(r.Ended), sec, string(r.Outcome), string(r.Code), r.Step, r.Detail, att,
		r.PSKIdentity, r.PSKSHA256)
}

func writeRunsJSON(w *bufio.Writer, runs iter.Seq2[station.RunRecord, error]) (int, error) {
	w.WriteString("[")
	sep := "\n"
	n := 0
	for r, err := range runs {
		if err != nil {
			return n, err
		}
		b, err := json.Marshal(RunRow(r))
		if err != nil {
			return n, fmt.Errorf("write json: %w", err)
		}
		w.WriteString(sep)
		sep = ",\n"
		w.Write(b)
		n++
	}
	w.WriteString("\n]\n")
	return n, nil
}

// UnitRunOf is a run from another store as the unit report shows it.
func UnitRunOf(fr station.FinishedRun) UnitRun {
	u := UnitRun{RunRow: RunRow(fr.Run), Steps: make([]StepRow, len(fr.Steps))}
	for i, s := range fr.Steps {
		u.Steps[i] = StepRow(s)
	}
	return u
}

// TranscriptText decompresses a transcript shipped from a station.
func TranscriptText(gz []byte) (string, error) { return gunzip(gz) }
