package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"nrfline/central"
	"nrfline/records"
	"nrfline/station"
)

// The line-wide records ([central]): the replicator and the line rules'
// history next to the engine, `station central migrate`, `station report
// sync`, and the reports with --db postgres://….

// centralHistoryTimeout bounds the line rules' question to the central
// store; past it the station answers from its own records (and notes it).
const centralHistoryTimeout = 2 * time.Second

// lineHistory is the history the line rules consult: the whole line's when
// [central] is configured, else this station's records.
func lineHistory(cfg *station.Config, store *records.Store) (station.History, func(), error) {
	if cfg.Central.URL == "" {
		return store, func() {}, nil
	}
	h, err := central.NewHistory(cfg.Central.URL, cfg.StationID, store, centralHistoryTimeout)
	if err != nil {
		return nil, nil, configErr(fmt.Errorf("central.url: %w", err))
	}
	return h, h.Close, nil
}

// startCentral starts shipping the station's finished runs when [central]
// is configured. stop ends it, after a last bounded attempt (3 s) to hand
// over what is left; a central store that is down is not waited for.
func startCentral(cfg *station.Config, store *records.Store, logger *slog.Logger) (rep *central.Replicator, stop func(), err error) {
	if cfg.Central.URL == "" {
		return nil, func() {}, nil
	}
	rep, err = central.NewReplicator(store.Reader(), cfg.Central.URL, cfg.StationID,
		central.WithCursorFile(cfg.Database+".central"), central.WithLogger(logger.With("part", "central")),
		central.WithTranscripts(cfg.Central.Transcripts))
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := rep.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			logger.Error("central store: shipping stopped", "err", err)
		}
	}()
	return rep, func() {
		cancel()
		<-done
		dctx, dcancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer dcancel()
		if err := rep.Drain(dctx); err != nil {
			logger.Warn("central store: runs left to ship at the next start", "backlog", rep.Backlog(), "err", err)
		}
	}, nil
}

func isCentralURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

func newCentralCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "central migrate --db postgres://USER@HOST/DB",
		Short: "The line-wide PostgreSQL store ([central])",
		Long: `The line-wide records in PostgreSQL ([central] url). Stations ship every finished run there;
'station report … --db postgres://…' reads it. The password comes from PGPASSWORD or a libpq
password or service file, never from the URL.`,
		Args: noArgs,
	}
	var db string
	migrate := &cobra.Command{
		Use:   "migrate --db postgres://USER@HOST/DB",
		Short: "Create or upgrade the line-wide schema",
		Long: `Create or upgrade the line-wide schema, one transaction per migration, under an advisory
lock (stations also do it on their first connect; two never race).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !isCentralURL(db) {
				return usageErr("--db postgres://… is required")
			}
			conn, err := pgx.Connect(cmd.Context(), db)
			if err != nil {
				return infraErr(err)
			}
			defer conn.Close(context.WithoutCancel(cmd.Context()))
			from, to, err := central.Migrate(cmd.Context(), conn)
			if err != nil {
				return infraErr(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "central schema: version %d (was %d)\n", to, from)
			return nil
		},
	}
	migrate.Flags().StringVar(&db, "db", "", "the central PostgreSQL (postgres://USER@HOST/DB, no password)")
	cmd.AddCommand(migrate)
	return cmd
}

// openLine opens the central store for a report.
func (f *reportFlags) openLine(ctx context.Context) (*central.Reports, error) {
	rep, err := central.OpenReports(ctx, f.db)
	if errors.Is(err, central.ErrNoSchema) {
		return nil, usageErr("%w", err)
	}
	if err != nil {
		return nil, infraErr(err)
	}
	return rep, nil
}

func (f *reportFlags) lineFilter() (central.Filter, error) {
	rf, err := f.filter()
	if err != nil {
		return central.Filter{}, err
	}
	out := central.Filter{Since: rf.Since, Until: rf.Until}
	for _, s := range f.stations {
		if s = strings.TrimSpace(s); s != "" {
			out.Stations = append(out.Stations, s)
		}
	}
	return out, nil
}

// lineSummary is `report summary --db postgres://…`: the summary of the
// whole line with a breakdown per station.
func lineSummary(cmd *cobra.Command, f *reportFlags) error {
	filter, err := f.lineFilter()
	if err != nil {
		return err
	}
	rep, err := f.openLine(cmd.Context())
	if err != nil {
		return err
	}
	defer rep.Close()
	d, err := rep.Summary(cmd.Context(), filter)
	if err != nil {
		return infraErr(err)
	}
	s := records.NewLineSummary(filter.Since, filter.Until, d.Tallies, d.Cycles, d.RetestedUnits)
	if f.format == "json" {
		return writeJSON(cmd.OutOrStdout(), s)
	}
	if err := records.WriteLineSummary(cmd.OutOrStdout(), s); err != nil {
		return infraErr(err)
	}
	return nil
}

// lineRuns is `report runs --db postgres://…`.
func lineRuns(cmd *cobra.Command, f *reportFlags, outcome station.Outcome, imei string, bom bool) error {
	filter, err := f.lineFilter()
	if err != nil {
		return err
	}
	filter.Outcome, filter.IMEI = outcome, imei
	rep, err := f.openLine(cmd.Context())
	if err != nil {
		return err
	}
	defer rep.Close()
	if _, err := records.WriteRuns(cmd.Context(), cmd.OutOrStdout(), rep.Runs(cmd.Context(), filter), records.Format(f.format), records.ExportOptions{BOM: bom}); err != nil {
		return infraErr(err)
	}
	return nil
}

// lineUnit is `report unit IMEI --db postgres://…`: the unit's runs at
// every station.
func lineUnit(cmd *cobra.Command, f *reportFlags, imei string, withTranscripts bool) error {
	filter, err := f.lineFilter()
	if err != nil {
		return err
	}
	rep, err := f.openLine(cmd.Context())
	if err != nil {
		return err
	}
	defer rep.Close()
	found, err := rep.Unit(cmd.Context(), imei, filter, withTranscripts)
	if err != nil {
		return infraErr(err)
	}
	if len(found) == 0 {
		return &exitError{exitUnitFail, "not_found", fmt.Errorf("no runs of IMEI %s on the line", imei)}
	}
	runs := make([]records.UnitRun, len(found))
	transcripts := map[string]string{}
	for i, fr := range found {
		runs[i] = records.UnitRunOf(fr)
		if fr.Transcript != nil {
			t, err := records.TranscriptText(fr.Transcript)
			if err != nil {
				return infraErr(fmt.Errorf("transcript of run %s: %w", fr.Run.ID, err))
			}
			transcripts[fr.Run.ID] = t
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

func newReportSyncCmd() *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "sync --config FILE",
		Short: "This station's runs not yet in the central store, and every station's shipments",
		Long: `How far this station's finished runs have reached the line-wide store ([central]): the
runs not yet there (exit 1 while there are any, or when the store cannot be asked), then
what the store holds from every station.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cfgPath == "" {
				return usageErr("--config is required")
			}
			cfg, err := station.LoadConfig(cfgPath)
			if err != nil {
				return configErr(err)
			}
			if cfg.Central.URL == "" {
				return usageErr("%s has no [central] url", cfgPath)
			}
			return reportSync(cmd, cfg)
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "station config file (required)")
	return cmd
}

func reportSync(cmd *cobra.Command, cfg *station.Config) error {
	r, err := records.OpenReader(cfg.Database)
	if err != nil {
		return usageErr("%w", err)
	}
	defer r.Close()
	rep, err := central.NewReplicator(r, cfg.Central.URL, cfg.StationID, central.WithCursorFile(cfg.Database+".central"))
	if err != nil {
		return infraErr(err)
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
	defer cancel()
	out := cmd.OutOrStdout()
	backlog, err := rep.Unshipped(ctx)
	switch {
	case err != nil && backlog >= 0:
		fmt.Fprintf(out, "station %s: at most %d finished run(s) not yet in the central store (it did not answer)\n", cfg.StationID, backlog)
		return failed(err)
	case err != nil:
		return infraErr(err)
	}
	fmt.Fprintf(out, "station %s: %d finished run(s) not yet in the central store\n", cfg.StationID, backlog)
	reports, err := central.OpenReports(ctx, cfg.Central.URL)
	if err != nil {
		return infraErr(err)
	}
	defer reports.Close()
	sts, err := reports.Stations(ctx)
	if err != nil {
		return infraErr(err)
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nstation\truns in the central store\tlast shipment")
	for _, s := range sts {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", s.Station, s.Runs, s.LastShip.Local().Format(time.RFC3339))
	}
	tw.Flush()
	if backlog > 0 {
		return failed(nil)
	}
	return nil
}
