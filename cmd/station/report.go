package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"runtime/debug"
	"strings"
	"time"

	"nrfline/records"
)

const reportUsage = `Usage:
  station report summary --db FILE [--since T] [--until T] [--format table|json]
  station report runs    --db FILE [--since T] [--until T] [--outcome O] [--imei I] [--format csv|json] [--bom]
  station report unit IMEI --db FILE [--format table|json] [--transcripts]

Times (--since, --until) are RFC 3339 or YYYY-MM-DD (local time; --until
includes that whole day). --since is inclusive, --until exclusive.
Each subcommand has --help.`

// runReport answers the supervisor's questions from the records database.
// Exit codes: 0 done, 1 the unit has no runs, 2 bad usage or a file that is
// not a station database, 3 the database could not be read.
func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, reportUsage)
		return exitUsage
	}
	switch args[0] {
	case "summary":
		return reportSummary(ctx, args[1:], stdout, stderr)
	case "runs":
		return reportRuns(ctx, args[1:], stdout, stderr)
	case "unit":
		return reportUnit(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, reportUsage)
		return exitOK
	}
	fmt.Fprintf(stderr, "station report: unknown report %q\n%s\n", args[0], reportUsage)
	return exitUsage
}

// reportFlags are the flags the reports share.
type reportFlags struct {
	fs           *flag.FlagSet
	db           *string
	since, until *string
	format       *string
}

func newReportFlags(name, usage, about, formats string, stderr io.Writer) *reportFlags {
	fs := newFlags("report "+name, usage, about, stderr)
	f := &reportFlags{fs: fs, db: fs.String("db", "", "the records database (required)"), format: fs.String("format", strings.Split(formats, "|")[0], formats)}
	if name != "unit" {
		f.since = fs.String("since", "", "runs started at or after T (RFC 3339 or YYYY-MM-DD)")
		f.until = fs.String("until", "", "runs started before T (RFC 3339, or YYYY-MM-DD: through that day)")
	}
	return f
}

// parse parses args; positional arguments are returned, not rejected.
func (f *reportFlags) parse(args []string) ([]string, int, bool) {
	var pos []string
	for {
		err := f.fs.Parse(args)
		switch {
		case errors.Is(err, flag.ErrHelp):
			return nil, exitOK, false
		case err != nil:
			return nil, exitUsage, false
		}
		if f.fs.NArg() == 0 {
			break
		}
		pos = append(pos, f.fs.Arg(0))
		args = f.fs.Args()[1:]
	}
	if *f.db == "" {
		fmt.Fprintf(f.fs.Output(), "station %s: --db FILE is required\n", f.fs.Name())
		return nil, exitUsage, false
	}
	return pos, exitOK, true
}

func (f *reportFlags) filter() (records.Filter, error) {
	var out records.Filter
	var err error
	if f.since != nil && *f.since != "" {
		if out.Since, err = records.ParseTime(*f.since, time.Local, false); err != nil {
			return out, fmt.Errorf("--since: %w", err)
		}
	}
	if f.until != nil && *f.until != "" {
		if out.Until, err = records.ParseTime(*f.until, time.Local, true); err != nil {
			return out, fmt.Errorf("--until: %w", err)
		}
	}
	if !out.Since.IsZero() && !out.Until.IsZero() && !out.Since.Before(out.Until) {
		return out, errors.New("--since must be before --until")
	}
	return out, nil
}

// open opens the database read-only; a missing file or a file that is not a
// station database is the caller's mistake (exit 2).
func (f *reportFlags) open(stderr io.Writer) (*records.Reader, int) {
	r, err := records.OpenReader(*f.db)
	switch {
	case err == nil:
		return r, exitOK
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, records.ErrSchema):
		fmt.Fprintf(stderr, "station %s: %v\n", f.fs.Name(), err)
		return nil, exitUsage
	}
	fmt.Fprintf(stderr, "station %s: %v\n", f.fs.Name(), err)
	return nil, exitInternal
}

func (f *reportFlags) usageError(msg string) int {
	fmt.Fprintf(f.fs.Output(), "station %s: %s\n", f.fs.Name(), msg)
	return exitUsage
}

func (f *reportFlags) failed(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "station %s: %v\n", f.fs.Name(), err)
	return exitInternal
}

func reportSummary(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f := newReportFlags("summary", "report summary --db FILE [--since T] [--until T] [--format table|json]",
		"Runs, units, outcome counts, yield and first-pass yield, retests, the failure Pareto by code,\n"+
			"cycle-time percentiles per step and per unit, and a breakdown per slot and per operator.", "table|json", stderr)
	pos, code, ok := f.parse(args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return f.usageError(fmt.Sprintf("unexpected argument %q", pos[0]))
	}
	if *f.format != "table" && *f.format != "json" {
		return f.usageError(fmt.Sprintf("--format %q: want table or json", *f.format))
	}
	filter, err := f.filter()
	if err != nil {
		return f.usageError(err.Error())
	}
	r, code := f.open(stderr)
	if r == nil {
		return code
	}
	defer r.Close()
	s, err := r.Summary(ctx, filter)
	if err != nil {
		return f.failed(stderr, err)
	}
	if *f.format == "json" {
		err = writeJSON(stdout, s)
	} else {
		err = records.WriteSummary(stdout, s)
	}
	if err != nil {
		return f.failed(stderr, err)
	}
	return exitOK
}

func reportRuns(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f := newReportFlags("runs", "report runs --db FILE [--since T] [--until T] [--outcome O] [--imei I] [--format csv|json] [--bom]",
		"One row per run, oldest first. CSV is RFC 4180 (header row, UTF-8, CRLF, quoted where needed);\n"+
			"--bom prefixes a UTF-8 byte order mark for Excel.", "csv|json", stderr)
	outcome := f.fs.String("outcome", "", "only runs with this outcome: PASS, FAIL, ERROR, ABORTED or RUNNING")
	imei := f.fs.String("imei", "", "only runs of this unit")
	bom := f.fs.Bool("bom", false, "start CSV output with a UTF-8 byte order mark (Excel)")
	pos, code, ok := f.parse(args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return f.usageError(fmt.Sprintf("unexpected argument %q", pos[0]))
	}
	format := records.Format(*f.format)
	if format != records.CSV && format != records.JSON {
		return f.usageError(fmt.Sprintf("--format %q: want csv or json", *f.format))
	}
	filter, err := f.filter()
	if err != nil {
		return f.usageError(err.Error())
	}
	if *outcome != "" {
		if filter.Outcome, err = records.ParseOutcome(*outcome); err != nil {
			return f.usageError("--outcome: " + err.Error())
		}
	}
	filter.IMEI = strings.TrimSpace(*imei)
	// An export allocates a string per field and keeps almost nothing:
	// collect garbage less often (halves the GC share of a large export).
	debug.SetGCPercent(400)
	r, code := f.open(stderr)
	if r == nil {
		return code
	}
	defer r.Close()
	if _, err := r.ExportRuns(ctx, stdout, filter, format, records.ExportOptions{BOM: *bom}); err != nil {
		return f.failed(stderr, err)
	}
	return exitOK
}

func reportUnit(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f := newReportFlags("unit", "report unit IMEI --db FILE [--format table|json] [--transcripts]",
		"Every run of one unit, oldest first, with its steps; --transcripts adds each run's\n"+
			"transcript (AT traffic, device log, tool output; secrets redacted).", "table|json", stderr)
	withTranscripts := f.fs.Bool("transcripts", false, "include each run's transcript")
	pos, code, ok := f.parse(args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return f.usageError("want exactly one IMEI")
	}
	imei := strings.TrimSpace(pos[0])
	if *f.format != "table" && *f.format != "json" {
		return f.usageError(fmt.Sprintf("--format %q: want table or json", *f.format))
	}
	r, code := f.open(stderr)
	if r == nil {
		return code
	}
	defer r.Close()
	runs, err := r.Unit(ctx, imei)
	if err != nil {
		return f.failed(stderr, err)
	}
	if len(runs) == 0 {
		fmt.Fprintf(stderr, "station report unit: no runs of IMEI %s in %s\n", imei, *f.db)
		return exitUnitFail
	}
	transcripts := map[string]string{}
	if *withTranscripts {
		for _, run := range runs {
			t, err := r.Transcript(ctx, run.ID)
			if errors.Is(err, records.ErrNoTranscript) {
				continue
			}
			if err != nil {
				return f.failed(stderr, err)
			}
			transcripts[run.ID] = t
		}
	}
	if *f.format == "json" {
		err = writeJSON(stdout, unitJSON(imei, runs, transcripts))
	} else {
		err = records.WriteUnit(stdout, imei, runs, transcripts)
	}
	if err != nil {
		return f.failed(stderr, err)
	}
	return exitOK
}

type unitRunJSON struct {
	records.UnitRun
	Transcript string `json:"transcript,omitempty"`
}

func unitJSON(imei string, runs []records.UnitRun, transcripts map[string]string) any {
	out := struct {
		IMEI string        `json:"imei"`
		Runs []unitRunJSON `json:"runs"`
	}{IMEI: imei}
	for _, r := range runs {
		out.Runs = append(out.Runs, unitRunJSON{UnitRun: r, Transcript: transcripts[r.ID]})
	}
	return out
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
