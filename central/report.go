package central

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"nrfline/station"
)

// Reports answers the supervisor's questions over the whole line. It only
// reads; the schema must exist (station central migrate, or any station
// that shipped a run).
type Reports struct {
	pool *pgxpool.Pool
}

// ErrNoSchema is returned by OpenReports for a database without the
// central schema.
var ErrNoSchema = errors.New("no central schema in this database (run: station central migrate --db URL)")

// OpenReports connects to the central store at url.
func OpenReports(ctx context.Context, url string) (*Reports, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("central url: %w", err)
	}
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("central store: %w", err)
	}
	var v int
	err = pool.QueryRow(ctx, `SELECT coalesce((SELECT max(version) FROM schema_version), 0)`).Scan(&v)
	var pe interface{ SQLState() string }
	switch {
	case errors.As(err, &pe) && pe.SQLState() == "42P01": // undefined_table
		pool.Close()
		return nil, ErrNoSchema
	case err != nil:
		pool.Close()
		return nil, fmt.Errorf("central store: %w", err)
	case v == 0:
		pool.Close()
		return nil, ErrNoSchema
	case v > SchemaVersion():
		pool.Close()
		return nil, fmt.Errorf("%w (%d > %d): use a newer station", errNewerSchema, v, SchemaVersion())
	}
	return &Reports{pool: pool}, nil
}

// Close closes the connections.
func (r *Reports) Close() { r.pool.Close() }

// Filter selects runs: by start time (Since inclusive, Until exclusive,
// zero is open), outcome, IMEI and stations (empty means any).
type Filter struct {
	Since, Until time.Time
	Outcome      station.Outcome
	IMEI         string
	Stations     []string
}

// where renders the filter on runs (alias r) as SQL and its arguments.
func (f Filter) where(args []any) (string, []any) {
	var conds []string
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if !f.Since.IsZero() {
		add("r.started >= ?", f.Since)
	}
	if !f.Until.IsZero() {
		add("r.started < ?", f.Until)
	}
	if f.Outcome != "" {
		add("r.outcome = ?", string(f.Outcome))
	}
	if f.IMEI != "" {
		add("r.imei = ?", f.IMEI)
	}
	if len(f.Stations) > 0 {
		add("r.station_id = ANY(?)", f.Stations)
	}
	if len(conds) == 0 {
		return "", args
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

func and(where, cond string) string {
	if where == "" {
		return " WHERE " + cond
	}
	return where + " AND " + cond
}

// Tally and CycleCount are the counts every store of runs gives the
// reports (station's types, so the line-wide and local reports share them).
type (
	Tally      = station.Tally
	CycleCount = station.CycleCount
)

// SummaryData is what a line-wide summary is made of.
type SummaryData struct {
	Tallies []Tally
	Cycles  []CycleCount
	// RetestedUnits counts units first tested before the window and
	// retested in it (they are units of the window but not first tested).
	RetestedUnits int
}

// Summary reads the tallies and cycle histograms of the runs f selects
// (f.Outcome and f.IMEI are ignored).
func (r *Reports) Summary(ctx context.Context, f Filter) (*SummaryData, error) {
	f.Outcome, f.IMEI = "", ""
	var out SummaryData
	tx, err := r.pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead})
	if err != nil {
		return nil, fmt.Errorf("read the central store: %w", err)
	}
	defer tx.Rollback(ctx)
	// A summary scans every run once: JIT-compiling its dozen expressions
	// costs more than it saves (seconds on a busy server, for 1M runs).
	if _, err := tx.Exec(ctx, "SET LOCAL jit = off"); err != nil {
		return nil, fmt.Errorf("read the central store: %w", err)
	}
	if out.Tallies, err = tallies(ctx, tx, f); err != nil {
		return nil, err
	}
	if out.Cycles, err = cycles(ctx, tx, f); err != nil {
		return nil, err
	}
	if !f.Since.IsZero() {
		where, args := f.where(nil)
		args = append(args, f.Since)
		err := tx.QueryRow(ctx, `SELECT count(DISTINCT r.imei) FROM runs r JOIN units u ON u.imei = r.imei`+
			and(where, fmt.Sprintf("r.imei <> '' AND NOT r.first_run AND u.first_started < $%d", len(args))), args...).Scan(&out.RetestedUnits)
		if err != nil {
			return nil, fmt.Errorf("count retested units: %w", err)
		}
	}
	return &out, nil
}

func tallies(ctx context.Context, tx pgx.Tx, f Filter) ([]Tally, error) {
	where, args := f.where(nil)
	rows, err := tx.Query(ctx, `SELECT r.station_id, r.slot, r.operator, r.outcome, r.code, r.step, count(*),
		count(*) FILTER (WHERE r.first_run),
		count(*) FILTER (WHERE r.first_run AND r.outcome = 'PASS'),
		count(*) FILTER (WHERE r.first_run AND r.unit_passed),
		count(*) FILTER (WHERE r.identified AND NOT r.first_run),
		count(*) FILTER (WHERE NOT r.identified)
		FROM runs r`+where+` GROUP BY 1, 2, 3, 4, 5, 6`, args...)
	if err != nil {
		return nil, fmt.Errorf("read run tallies: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Tally, error) {
		var t Tally
		err := row.Scan(&t.Station, &t.Slot, &t.Operator, &t.Outcome, &t.Code, &t.Step, &t.Runs, &t.FirstTested,
			&t.FirstPass, &t.EventuallyPassed, &t.Retests, &t.Unidentified)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("read run tallies: %w", err)
	}
	return out, nil
}

// cycles adds up the daily histograms for the whole UTC days of the window
// and buckets the runs of the partial days at its edges one by one.
func cycles(ctx context.Context, tx pgx.Tx, f Filter) ([]CycleCount, error) {
	d0, d1 := int64(-1<<31), int64(1<<31-1)
	var edges [][2]time.Time
	if !f.Since.IsZero() {
		d0 = ceilDay(f.Since)
	}
	if !f.Until.IsZero() {
		d1 = station.RollupDay(f.Until)
	}
	if d0 >= d1 {
		d0, d1 = 0, 0
		edges = append(edges, [2]time.Time{f.Since, f.Until})
	} else {
		if !f.Since.IsZero() && f.Since.Before(dayStart(d0)) {
			edges = append(edges, [2]time.Time{f.Since, dayStart(d0)})
		}
		if !f.Until.IsZero() && f.Until.After(dayStart(d1)) {
			edges = append(edges, [2]time.Time{dayStart(d1), f.Until})
		}
	}
	q := `SELECT name, bucket, sum(n)::bigint FROM cycle WHERE day >= $1 AND day < $2`
	args := []any{d0, d1}
	if len(f.Stations) > 0 {
		q += " AND station_id = ANY($3)"
		args = append(args, f.Stations)
	}
	out, err := collectCycles(ctx, tx, q+" GROUP BY 1, 2", args)
	if err != nil {
		return nil, err
	}
	for _, e := range edges {
		g := Filter{Since: e[0], Until: e[1], Stations: f.Stations}
		where, args := g.where(nil)
		raw, err := collectCycles(ctx, tx, `SELECT name, bucket, count(*) FROM (
			SELECT '*' AS name, cycle_bucket(r.seconds) AS bucket FROM runs r`+and(where, "r.outcome = 'PASS'")+`
			UNION ALL
			SELECT s.name, cycle_bucket(s.seconds) FROM runs r JOIN steps s ON s.run_id = r.id`+
			and(where, "r.outcome = 'PASS' AND s.outcome = 'PASS'")+`) x GROUP BY 1, 2`, args)
		if err != nil {
			return nil, err
		}
		out = append(out, raw...)
	}
	return out, nil
}

func collectCycles(ctx context.Context, tx pgx.Tx, q string, args []any) ([]CycleCount, error) {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read cycle times: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (CycleCount, error) {
		var c CycleCount
		err := row.Scan(&c.Name, &c.Bucket, &c.N)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("read cycle times: %w", err)
	}
	return out, nil
}

func ceilDay(t time.Time) int64 {
	d := station.RollupDay(t)
	if !dayStart(d).Equal(t) {
		d++
	}
	return d
}

func dayStart(d int64) time.Time { return time.Unix(d*86400, 0).UTC() }

const runColumns = `r.id, r.station_id, r.station_version, r.slot, r.probe, r.operator, r.imei, r.iccid, r.imsi,
	r.modem_fw, r.model, r.hw_version, r.modem_uuid, r.fw_name, r.fw_sha256, r.flash_tool, r.flash_version,
	r.started, r.ended, r.seconds, r.outcome, r.code, r.step, r.detail, r.attempt, r.psk_identity, r.psk_sha256`

// Runs yields the runs f selects, oldest first (by start, then id: the
// order of the local runs report).
func (r *Reports) Runs(ctx context.Context, f Filter) iter.Seq2[station.RunRecord, error] {
	return func(yield func(station.RunRecord, error) bool) {
		where, args := f.where(nil)
		rows, err := r.pool.Query(ctx, "SELECT "+runColumns+" FROM runs r"+where+" ORDER BY r.started, r.id", args...)
		if err != nil {
			yield(station.RunRecord{}, fmt.Errorf("query runs: %w", err))
			return
		}
		defer rows.Close()
		for rows.Next() {
			rec, err := scanRun(rows)
			if !yield(rec, err) || err != nil {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(station.RunRecord{}, fmt.Errorf("read runs: %w", err))
		}
	}
}

func scanRun(row pgx.Row) (station.RunRecord, error) {
	var x station.RunRecord
	var started time.Time
	var ended *time.Time
	err := row.Scan(&x.ID, &x.StationID, &x.StationVersion, &x.Slot, &x.Probe, &x.Operator, &x.IMEI, &x.ICCID,
		&x.IMSI, &x.ModemFW, &x.Model, &x.HWVersion, &x.ModemUUID, &x.FirmwareName, &x.FirmwareSHA256, &x.FlashTool,
		&x.FlashVersion, &started, &ended, &x.Seconds, &x.Outcome, &x.Code, &x.Step, &x.Detail, &x.Attempt,
		&x.PSKIdentity, &x.PSKSHA256)
	if err != nil {
		return x, fmt.Errorf("read runs: %w", err)
	}
	x.Started = started.UTC().Format(timeLayout)
	if ended != nil {
		e := ended.UTC().Format(timeLayout)
		x.Ended = &e
	}
	return x, nil
}

// Unit returns every run of imei on the line (of f.Stations, if given),
// oldest first, with steps and, when asked, transcripts.
func (r *Reports) Unit(ctx context.Context, imei string, f Filter, transcripts bool) ([]station.FinishedRun, error) {
	f.IMEI = imei
	var out []station.FinishedRun
	for rec, err := range r.Runs(ctx, f) {
		if err != nil {
			return nil, err
		}
		out = append(out, station.FinishedRun{Run: rec})
	}
	for i := range out {
		steps, err := r.steps(ctx, out[i].Run.ID)
		if err != nil {
			return nil, err
		}
		out[i].Steps = steps
		if transcripts {
			err := r.pool.QueryRow(ctx, "SELECT gz FROM transcripts WHERE run_id = $1", out[i].Run.ID).Scan(&out[i].Transcript)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return nil, fmt.Errorf("read transcript of run %s: %w", out[i].Run.ID, err)
			}
		}
	}
	return out, nil
}

func (r *Reports) steps(ctx context.Context, run string) ([]station.JournalStep, error) {
	rows, err := r.pool.Query(ctx, `SELECT seq, name, started, ended, seconds, outcome, code, detail, measurements
		FROM steps WHERE run_id = $1 ORDER BY seq`, run)
	if err != nil {
		return nil, fmt.Errorf("read steps of run %s: %w", run, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (station.JournalStep, error) {
		var s station.JournalStep
		var st, en time.Time
		var m map[string]float64
		err := row.Scan(&s.Seq, &s.Name, &st, &en, &s.Seconds, &s.Outcome, &s.Code, &s.Detail, &m)
		s.Started, s.Ended = st.UTC().Format(timeLayout), en.UTC().Format(timeLayout)
		if len(m) > 0 {
			s.Measurements = m
		}
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("read steps of run %s: %w", run, err)
	}
	if out == nil {
		out = []station.JournalStep{}
	}
	return out, nil
}

// StationStatus is one station's shipments as the central store saw them.
type StationStatus struct {
	Station  string    `json:"station_id"`
	Runs     int64     `json:"runs"`
	LastShip time.Time `json:"last_ship"`
}

// Stations lists every station that shipped runs.
func (r *Reports) Stations(ctx context.Context) ([]StationStatus, error) {
	rows, err := r.pool.Query(ctx, `SELECT station_id, runs, last_ship FROM stations ORDER BY station_id`)
	if err != nil {
		return nil, fmt.Errorf("read stations: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[StationStatus])
	if err != nil {
		return nil, fmt.Errorf("read stations: %w", err)
	}
	return out, nil
}
