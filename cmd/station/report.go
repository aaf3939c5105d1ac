package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"nrfline/records"
	"nrfline/station"
)

const timeHelp = `Times (--since, --until) are RFC 3339 ("2026-12-06T08:00:00+01:00") or YYYY-MM-DD, a
day in this machine's time zone: --since 2026-12-06 starts at local midnight, --until
2026-12-06 includes that whole day. --since is inclusive, --until exclusive.`

func newReportCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report summary|runs|unit ...",
		Short: "Reports from the records database",
		Long: `Reports from the records database (read-only; safe while a station writes it), or with
--db postgres://… from the line-wide store ([central]): every station's runs, --station to
choose stations, and a breakdown per station in the summary.

` + timeHelp,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageErr("name a report: summary, runs or unit")
		},
	}
	cmd.AddCommand(newReportSummaryCmd(), newReportRunsCmd(), newReportUnitCmd(), newReportSyncCmd())
	return cmd
}

// reportFlags are the flags the reports share.
type reportFlags struct {
	db           string
	since, until string
	format       string
	json         bool
	formats      []string
	stations     []string // --db postgres://… only
}

func (f *reportFlags) register(fs *pflag.FlagSet, formats []string, withTimes bool) {
	f.formats = formats
	fs.StringVar(&f.db, "db", "", "the records database (required), or the line's PostgreSQL (postgres://…)")
	fs.StringSliceVar(&f.stations, "station", nil, "with --db postgres://…: only these stations (station_id, comma-separated)")
	fs.StringVar(&f.format, "format", formats[0], "output format: "+strings.Join(formats, " or "))
	fs.BoolVar(&f.json, "json", false, "JSON output (the same as --format json)")
	if withTimes {
		fs.StringVar(&f.since, "since", "", "runs started at or after T (RFC 3339, or YYYY-MM-DD: from local midnight)")
		fs.StringVar(&f.until, "until", "", "runs started before T (RFC 3339, or YYYY-MM-DD: through that local day)")
	}
}

// check validates the shared flags and settles the format.
func (f *reportFlags) check(fs *pflag.FlagSet) error {
	if f.db == "" {
		return usageErr("--db FILE is required")
	}
	if f.json {
		if fs.Changed("format") && f.format != "json" {
			return usageErr("--json and --format %s disagree", f.format)
		}
		f.format = "json"
	}
	for _, ok := range f.formats {
		if f.format == ok {
			return nil
		}
	}
	return usageErr("--format %q: want %s", f.format, strings.Join(f.formats, " or "))
}

func (f *reportFlags) filter() (records.Filter, error) {
	var out records.Filter
	var err error
	if f.since != "" {
		if out.Since, err = records.ParseTime(f.since, time.Local, false); err != nil {
			return out, usageErr("--since: %w", err)
		}
	}
	if f.until != "" {
		if out.Until, err = records.ParseTime(f.until, time.Local, true); err != nil {
			return out, usageErr("--until: %w", err)
		}
	}
	if !out.Since.IsZero() && !out.Until.IsZero() && !out.Since.Before(out.Until) {
		return out, usageErr("--since must be before --until")
	}
	return out, nil
}

// open opens the database read-only. A path that is missing, a folder, or
// not a station database is the caller's mistake (exit 2); a database that
// cannot be read is the infrastructure's (exit 3).
func (f *reportFlags) open() (*records.Reader, error) {
	if fi, err := os.Stat(f.db); err == nil && fi.IsDir() {
		return nil, usageErr("--db %s is a folder; want the station's database file (station.toml's database)", f.db)
	}
	r, err := records.OpenReader(f.db)
	switch {
	case err == nil:
		return r, nil
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, records.ErrSchema):
		return nil, usageErr("%w", err)
	}
	return nil, infraErr(err)
}

func newReportSummaryCmd() *cobra.Command {
	var f reportFlags
	cmd := &cobra.Command{
		Use:   "summary --db FILE [--since T] [--until T] [--format table|json]",
		Short: "Yield, first-pass yield, failure Pareto, cycle-time percentiles",
		Long: `Runs, units, outcome counts, yield and first-pass yield, retests, the failure Pareto by code,
cycle-time percentiles per step and per unit, and a breakdown per slot and per operator.

` + timeHelp,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(cmd.Flags()); err != nil {
				return err
			}
			if isCentralURL(f.db) {
				return lineSummary(cmd, &f)
			}
			filter, err := f.filter()
			if err != nil {
				return err
			}
			r, err := f.open()
			if err != nil {
				return err
			}
			defer r.Close()
			s, err := r.Summary(cmd.Context(), filter)
			if err != nil {
				return infraErr(err)
			}
			if f.format == "json" {
				return writeJSON(cmd.OutOrStdout(), s)
			}
			if err := records.WriteSummary(cmd.OutOrStdout(), s); err != nil {
				return infraErr(err)
			}
			return nil
		},
	}
	f.register(cmd.Flags(), []string{"table", "json"}, true)
	return cmd
}

func newReportRunsCmd() *cobra.Command {
	var f reportFlags
	var outcome, imei string
	var bom bool
	cmd := &cobra.Command{
		Use:   "runs --db FILE [--since T] [--until T] [--outcome O] [--imei I] [--format csv|json] [--bom]",
		Short: "One row per run (CSV or JSON)",
		Long: `One row per run, oldest first. CSV is RFC 4180 (header row, UTF-8, CRLF, quoted where
needed); --bom prefixes a UTF-8 byte order mark for Excel. Times in CSV and JSON are
RFC 3339 with the offset.

` + timeHelp,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(cmd.Flags()); err != nil {
				return err
			}
			filter, err := f.filter()
			if err != nil {
				return err
			}
			if outcome != "" {
				if filter.Outcome, err = records.ParseOutcome(outcome); err != nil {
					return usageErr("--outcome: %w", err)
				}
			}
			if filter.IMEI = strings.TrimSpace(imei); filter.IMEI != "" {
				if err := station.CheckIMEI(filter.IMEI); err != nil {
					return usageErr("--imei: %w", err)
				}
			}
			// An export allocates a string per field and keeps almost
			// nothing: collect garbage less often (halves the GC share of a
			// large export).
			debug.SetGCPercent(400)
			if isCentralURL(f.db) {
				return lineRuns(cmd, &f, filter.Outcome, filter.IMEI, bom)
			}
			r, err := f.open()
			if err != nil {
				return err
			}
			defer r.Close()
			if _, err := r.ExportRuns(cmd.Context(), cmd.OutOrStdout(), filter, records.Format(f.format), records.ExportOptions{BOM: bom}); err != nil {
				return infraErr(err)
			}
			return nil
		},
	}
	f.register(cmd.Flags(), []string{"csv", "json"}, true)
	cmd.Flags().StringVar(&outcome, "outcome", "", "only runs with this outcome: PASS, FAIL, ERROR, ABORTED or RUNNING")
	cmd.Flags().StringVar(&imei, "imei", "", "only runs of this unit")
	cmd.Flags().BoolVar(&bom, "bom", false, "start CSV output with a UTF-8 byte order mark (Excel)")
	return cmd
}

func newReportUnitCmd() *cobra.Command {
	var f reportFlags
	var withTranscripts bool
	cmd := &cobra.Command{
		Use:   "unit IMEI --db FILE [--format table|json] [--transcripts]",
		Short: "The history of one unit",
		Long: `Every run of one unit, oldest first, with its steps; --transcripts adds each run's
transcript (AT traffic, device log, tool output; secrets redacted).

Exit 1 when the database holds no run of that IMEI; exit 2 when IMEI is not one
(15 digits, the last one the Luhn check digit).`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErr("want exactly one IMEI, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			imei := strings.TrimSpace(args[0])
			if err := station.CheckIMEI(imei); err != nil {
				return usageErr("%q is not an IMEI: %w", imei, err)
			}
			if err := f.check(cmd.Flags()); err != nil {
				return err
			}
			if isCentralURL(f.db) {
				return lineUnit(cmd, &f, imei, withTranscripts)
			}
			r, err := f.open()
			if err != nil {
				return err
			}
			defer r.Close()
			return reportUnit(cmd, r, imei, f, withTranscripts)
		},
	}
	f.register(cmd.Flags(), []string{"table", "json"}, false)
	cmd.Flags().BoolVar(&withTranscripts, "transcripts", false, "include each run's transcript")
	return cmd
}

func reportUnit(cmd *cobra.Command, r *records.Reader, imei string, f reportFlags, withTranscripts bool) error {
	ctx := cmd.Context()
	runs, err := r.Unit(ctx, imei)
	if err != nil {
		return infraErr(err)
	}
	if len(runs) == 0 {
		return &exitError{exitUnitFail, "not_found", fmt.Errorf("no runs of IMEI %s in %s", imei, f.db)}
	}
	transcripts := map[string]string{}
	if withTranscripts {
		for _, run := range runs {
			t, err := r.Transcript(ctx, run.ID)
			if errors.Is(err, records.ErrNoTranscript) {
				continue
			}
			if err != nil {
				return infraErr(err)
			}
			transcripts[run.ID] = t
		}
	}
	if f.format == "json" {
		return writeJSON(cmd.OutOrStdout(), unitJSON(imei, runs, transcripts))
	}
	if err := records.WriteUnit(cmd.OutOrStdout(), imei, runs, transcripts); err != nil {
		return infraErr(err)
	}
	return nil
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
