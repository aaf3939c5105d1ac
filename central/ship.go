package central

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"nrfline/station"
)

// timeLayout is records' time format: what the local reports print.
const timeLayout = "2006-01-02T15:04:05.000Z"

// ship stores one batch of finished runs in one transaction and returns how
// many were new. A run already in the store is left alone (a finished run
// never changes), so shipping a batch again after a lost reply is harmless.
// New rows go in with COPY; the units' line-wide history, each run's
// first_run/unit_passed flags and the cycle histograms are kept in step.
func ship(ctx context.Context, conn *pgx.Conn, stationID string, runs []station.FinishedRun) (int, error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	fresh, err := newRuns(ctx, tx, runs)
	if err != nil {
		return 0, err
	}
	if len(fresh) > 0 {
		if err := store(ctx, tx, fresh); err != nil {
			return 0, err
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO stations (station_id, runs, last_ship) VALUES ($1, $2, now())
		ON CONFLICT (station_id) DO UPDATE SET runs = stations.runs + excluded.runs, last_ship = excluded.last_ship`,
		stationID, len(fresh)); err != nil {
		return 0, fmt.Errorf("record the station's shipment: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	return len(fresh), nil
}

// newRuns leaves out the runs the store already holds.
func newRuns(ctx context.Context, tx pgx.Tx, runs []station.FinishedRun) ([]parsedRun, error) {
	ids := make([]string, len(runs))
	for i, fr := range runs {
		ids[i] = fr.Run.ID
	}
	rows, err := tx.Query(ctx, "SELECT id FROM runs WHERE id = ANY($1)", ids)
	if err != nil {
		return nil, fmt.Errorf("look up runs: %w", err)
	}
	have, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("look up runs: %w", err)
	}
	known := make(map[string]bool, len(have))
	for _, id := range have {
		known[id] = true
	}
	var out []parsedRun
	for _, fr := range runs {
		if known[fr.Run.ID] {
			continue
		}
		known[fr.Run.ID] = true // twice in one batch: once
		p, err := parse(fr)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// parsedRun is a run with its times read.
type parsedRun struct {
	station.FinishedRun
	started time.Time
	ended   *time.Time
	steps   []parsedStep
}

type parsedStep struct {
	started, ended time.Time
	meas           json.RawMessage
}

func parse(fr station.FinishedRun) (parsedRun, error) {
	p := parsedRun{FinishedRun: fr}
	var err error
	if p.started, err = parseTS(fr.Run.Started); err != nil {
		return p, fmt.Errorf("run %s: %w", fr.Run.ID, err)
	}
	if fr.Run.Ended != nil {
		e, err := parseTS(*fr.Run.Ended)
		if err != nil {
			return p, fmt.Errorf("run %s: %w", fr.Run.ID, err)
		}
		p.ended = &e
	}
	for _, s := range fr.Steps {
		var ps parsedStep
		if ps.started, err = parseTS(s.Started); err != nil {
			return p, fmt.Errorf("run %s step %s: %w", fr.Run.ID, s.Name, err)
		}
		if ps.ended, err = parseTS(s.Ended); err != nil {
			return p, fmt.Errorf("run %s step %s: %w", fr.Run.ID, s.Name, err)
		}
		ps.meas = json.RawMessage("{}")
		if len(s.Measurements) > 0 {
			if ps.meas, err = json.Marshal(s.Measurements); err != nil {
				return p, fmt.Errorf("run %s step %s: measurements: %w", fr.Run.ID, s.Name, err)
			}
		}
		p.steps = append(p.steps, ps)
	}
	return p, nil
}

// parseTS reads records' time text; a malformed time is an error, not a
// silently wrong row.
func parseTS(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: %w", s, err)
	}
	return t, nil
}

func store(ctx context.Context, tx pgx.Tx, runs []parsedRun) error {
	units, err := upsertUnits(ctx, tx, runs)
	if err != nil {
		return err
	}
	if err := copyRuns(ctx, tx, runs, units); err != nil {
		return err
	}
	if err := refreshFlags(ctx, tx, units); err != nil {
		return err
	}
	if err := copySteps(ctx, tx, runs); err != nil {
		return err
	}
	if err := copyTranscripts(ctx, tx, runs); err != nil {
		return err
	}
	return addCycles(ctx, tx, runs)
}

// unitFacts is a unit's line-wide history after the batch.
type unitFacts struct {
	firstRun string
	passed   bool
	older    bool // the unit has runs from earlier batches, whose flags may need refreshing
}

// upsertUnits adds the batch's runs to their units' histories, in IMEI
// order (two stations shipping the same units lock them in the same
// order), and returns the histories.
func upsertUnits(ctx context.Context, tx pgx.Tx, runs []parsedRun) (map[string]unitFacts, error) {
	type acc struct {
		n       int
		first   *parsedRun
		passed  bool
		started time.Time
	}
	by := map[string]*acc{}
	for i := range runs {
		r := &runs[i]
		if r.Run.IMEI == "" {
			continue
		}
		a := by[r.Run.IMEI]
		if a == nil {
			a = &acc{first: r}
			by[r.Run.IMEI] = a
		}
		a.n++
		a.passed = a.passed || r.Run.Outcome == station.Pass
		if earlier(r, a.first) {
			a.first = r
		}
	}
	if len(by) == 0 {
		return nil, nil
	}
	imeis := make([]string, 0, len(by))
	for imei := range by {
		imeis = append(imeis, imei)
	}
	slices.Sort(imeis)
	n, first, started, passed := make([]int32, len(imeis)), make([]string, len(imeis)), make([]time.Time, len(imeis)), make([]bool, len(imeis))
	for i, imei := range imeis {
		a := by[imei]
		n[i], first[i], started[i], passed[i] = int32(a.n), a.first.Run.ID, a.first.started, a.passed
	}
	rows, err := tx.Query(ctx, `INSERT INTO units (imei, runs, first_run, first_started, passed)
		SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::timestamptz[], $5::bool[])
		ON CONFLICT (imei) DO UPDATE SET runs = units.runs + excluded.runs, passed = units.passed OR excluded.passed,
			first_run = CASE WHEN (excluded.first_started, excluded.first_run) < (units.first_started, units.first_run)
				THEN excluded.first_run ELSE units.first_run END,
			first_started = least(units.first_started, excluded.first_started)
		RETURNING imei, first_run, passed, runs`, imeis, n, first, started, passed)
	if err != nil {
		return nil, fmt.Errorf("update units: %w", err)
	}
	out := make(map[string]unitFacts, len(imeis))
	var imei string
	var f unitFacts
	var total int32
	_, err = pgx.ForEachRow(rows, []any{&imei, &f.firstRun, &f.passed, &total}, func() error {
		f.older = total > int32(by[imei].n)
		out[imei] = f
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("update units: %w", err)
	}
	return out, nil
}

// earlier orders a unit's runs as the store does: by start, then id.
func earlier(a, b *parsedRun) bool {
	if c := a.started.Compare(b.started); c != 0 {
		return c < 0
	}
	return a.Run.ID < b.Run.ID
}

var runCopyColumns = []string{"id", "station_id", "station_version", "slot", "probe", "operator", "imei", "iccid",
	"imsi", "modem_fw", "model", "hw_version", "modem_uuid", "fw_name", "fw_sha256", "flash_tool", "flash_version",
	"started", "ended", "seconds", "outcome", "code", "step", "detail", "attempt", "psk_identity", "psk_sha256",
	"first_run", "unit_passed", "identified"}

func copyRuns(ctx context.Context, tx pgx.Tx, runs []parsedRun, units map[string]unitFacts) error {
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"runs"}, runCopyColumns, pgx.CopyFromSlice(len(runs), func(i int) ([]any, error) {
		p := &runs[i]
		r := &p.Run
		u := units[r.IMEI]
		var attempt *int32
		if r.Attempt != nil {
			a := int32(*r.Attempt)
			attempt = &a
		}
		return []any{r.ID, r.StationID, r.StationVersion, r.Slot, r.Probe, r.Operator, r.IMEI, r.ICCID, r.IMSI,
			r.ModemFW, r.Model, r.HWVersion, r.ModemUUID, r.FirmwareName, r.FirmwareSHA256, r.FlashTool,
			r.FlashVersion, p.started, p.ended, r.Seconds, string(r.Outcome), string(r.Code), r.Step, r.Detail,
			attempt, r.PSKIdentity, r.PSKSHA256, r.IMEI != "" && u.firstRun == r.ID, r.IMEI != "" && u.passed, r.IMEI != ""}, nil
	}))
	if err != nil {
		return fmt.Errorf("insert runs: %w", err)
	}
	return nil
}

// refreshFlags corrects the flags of the units' earlier runs where the batch
// changed them: a unit that passed now, or a run that turned out not to be
// its unit's first after all.
func refreshFlags(ctx context.Context, tx pgx.Tx, units map[string]unitFacts) error {
	if len(units) == 0 {
		return nil
	}
	var imeis []string
	for imei, u := range units {
		if u.older { // a unit new with this batch has only rows just written right
			imeis = append(imeis, imei)
		}
	}
	if len(imeis) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `UPDATE runs r SET first_run = (r.id = u.first_run), unit_passed = u.passed
		FROM units u WHERE r.imei = ANY($1) AND r.imei <> '' AND u.imei = r.imei
		AND (r.first_run <> (r.id = u.first_run) OR r.unit_passed <> u.passed)`, imeis); err != nil {
		return fmt.Errorf("update first runs: %w", err)
	}
	return nil
}

func copySteps(ctx context.Context, tx pgx.Tx, runs []parsedRun) error {
	type ref struct{ run, step int }
	var refs []ref
	for i := range runs {
		for j := range runs[i].Steps {
			refs = append(refs, ref{i, j})
		}
	}
	if len(refs) == 0 {
		return nil
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"steps"},
		[]string{"run_id", "seq", "name", "started", "ended", "seconds", "outcome", "code", "detail", "measurements"},
		pgx.CopyFromSlice(len(refs), func(i int) ([]any, error) {
			p := &runs[refs[i].run]
			s, ps := &p.Steps[refs[i].step], &p.steps[refs[i].step]
			return []any{p.Run.ID, int32(s.Seq), s.Name, ps.started, ps.ended, s.Seconds, string(s.Outcome),
				string(s.Code), s.Detail, ps.meas}, nil
		}))
	if err != nil {
		return fmt.Errorf("insert steps: %w", err)
	}
	return nil
}

func copyTranscripts(ctx context.Context, tx pgx.Tx, runs []parsedRun) error {
	var rows [][]any
	for _, p := range runs {
		if p.Transcript != nil {
			rows = append(rows, []any{p.Run.ID, p.Transcript})
		}
	}
	if len(rows) == 0 {
		return nil
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"transcripts"}, []string{"run_id", "gz"}, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("insert transcripts: %w", err)
	}
	return nil
}

// Cycle-time buckets: records/hist.go's, and the SQL function cycle_bucket
// (migration 1). The line-wide summary test compares them with records'.
const (
	histMin     = 0.001
	histGrowth  = 1.02
	histBuckets = 1100
)

func cycleBucket(sec float64) int {
	if !(sec >= histMin) {
		return 0
	}
	b := 1 + int(math.Floor(math.Log(sec/histMin)/math.Log(histGrowth)))
	return min(b, histBuckets-1)
}

// addCycles adds the passing runs and their passing steps to the daily
// histograms (runs by the UTC day they started).
func addCycles(ctx context.Context, tx pgx.Tx, runs []parsedRun) error {
	type key struct {
		day           int32
		station, name string
		bucket        int32
	}
	counts := map[key]int64{}
	for _, p := range runs {
		if p.Run.Outcome != station.Pass {
			continue
		}
		day := int32(station.RollupDay(p.started))
		if p.Run.Seconds != nil {
			counts[key{day, p.Run.StationID, "*", int32(cycleBucket(*p.Run.Seconds))}]++
		}
		for _, s := range p.Steps {
			if s.Outcome == station.Pass {
				counts[key{day, p.Run.StationID, s.Name, int32(cycleBucket(s.Seconds))}]++
			}
		}
	}
	if len(counts) == 0 {
		return nil
	}
	keys := make([]key, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int { // one lock order for every station
		if a.day != b.day {
			return int(a.day - b.day)
		}
		if c := strings.Compare(a.station, b.station); c != 0 {
			return c
		}
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		return int(a.bucket - b.bucket)
	})
	days, stations, names, buckets, ns := make([]int32, len(keys)), make([]string, len(keys)), make([]string, len(keys)), make([]int32, len(keys)), make([]int64, len(keys))
	for i, k := range keys {
		days[i], stations[i], names[i], buckets[i], ns[i] = k.day, k.station, k.name, k.bucket, counts[k]
	}
	if _, err := tx.Exec(ctx, `INSERT INTO cycle (day, station_id, name, bucket, n)
		SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::int[], $5::bigint[])
		ON CONFLICT (day, station_id, name, bucket) DO UPDATE SET n = cycle.n + excluded.n`,
		days, stations, names, buckets, ns); err != nil {
		return fmt.Errorf("update cycle histograms: %w", err)
	}
	return nil
}
