package central

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"nrfline/station"
)

// timeLayout is records' time format: what the local reports print.
const timeLayout = "2006-01-02T15:04:05.000Z"

// ship upserts one batch of finished runs in one transaction and returns
// how many were new. A run already in the store is left alone (a finished
// run never changes), so shipping again after a lost reply is harmless.
func ship(ctx context.Context, conn *pgx.Conn, stationID string, runs []station.FinishedRun) (int, error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	fresh, err := insertRuns(ctx, tx, runs)
	if err != nil {
		return 0, err
	}
	var newRuns []station.FinishedRun
	for _, fr := range runs {
		if fresh[fr.Run.ID] {
			newRuns = append(newRuns, fr)
		}
	}
	if err := insertSteps(ctx, tx, newRuns); err != nil {
		return 0, err
	}
	if err := insertTranscripts(ctx, tx, newRuns); err != nil {
		return 0, err
	}
	if err := lineFacts(ctx, tx, newRuns); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO stations (station_id, runs, last_ship) VALUES ($1, $2, now())
		ON CONFLICT (station_id) DO UPDATE SET runs = stations.runs + excluded.runs, last_ship = excluded.last_ship`,
		stationID, len(newRuns)); err != nil {
		return 0, fmt.Errorf("record the station's shipment: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	return len(newRuns), nil
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

func insertRuns(ctx context.Context, tx pgx.Tx, runs []station.FinishedRun) (map[string]bool, error) {
	n := len(runs)
	text := make([][]string, 21)
	for i := range text {
		text[i] = make([]string, n)
	}
	started := make([]time.Time, n)
	ended := make([]*time.Time, n)
	seconds := make([]*float64, n)
	attempt := make([]*int64, n)
	for i, fr := range runs {
		r := fr.Run
		for j, v := range []string{r.ID, r.StationID, r.StationVersion, r.Slot, r.Probe, r.Operator, r.IMEI, r.ICCID,
			r.IMSI, r.ModemFW, r.Model, r.HWVersion, r.ModemUUID, r.FirmwareName, r.FirmwareSHA256, r.FlashTool,
			r.FlashVersion, string(r.Outcome), string(r.Code), r.Step, r.Detail} {
			text[j][i] = v
		}
		var err error
		if started[i], err = parseTS(r.Started); err != nil {
			return nil, fmt.Errorf("run %s: %w", r.ID, err)
		}
		if r.Ended != nil {
			e, err := parseTS(*r.Ended)
			if err != nil {
				return nil, fmt.Errorf("run %s: %w", r.ID, err)
			}
			ended[i] = &e
		}
		seconds[i], attempt[i] = r.Seconds, r.Attempt
	}
	pskID, pskSHA := make([]string, n), make([]string, n)
	for i, fr := range runs {
		pskID[i], pskSHA[i] = fr.Run.PSKIdentity, fr.Run.PSKSHA256
	}
	rows, err := tx.Query(ctx, `INSERT INTO runs (id, station_id, station_version, slot, probe, operator, imei, iccid,
		imsi, modem_fw, model, hw_version, modem_uuid, fw_name, fw_sha256, flash_tool, flash_version, outcome, code,
		step, detail, started, ended, seconds, attempt, psk_identity, psk_sha256)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
			$8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[],
			$16::text[], $17::text[], $18::text[], $19::text[], $20::text[], $21::text[], $22::timestamptz[],
			$23::timestamptz[], $24::float8[], $25::int[], $26::text[], $27::text[])
		ON CONFLICT (id) DO NOTHING RETURNING id`,
		text[0], text[1], text[2], text[3], text[4], text[5], text[6], text[7], text[8], text[9], text[10], text[11],
		text[12], text[13], text[14], text[15], text[16], text[17], text[18], text[19], text[20],
		started, ended, seconds, attempt, pskID, pskSHA)
	if err != nil {
		return nil, fmt.Errorf("insert runs: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("insert runs: %w", err)
	}
	fresh := make(map[string]bool, len(ids))
	for _, id := range ids {
		fresh[id] = true
	}
	return fresh, nil
}

func insertSteps(ctx context.Context, tx pgx.Tx, runs []station.FinishedRun) error {
	var (
		runID, name, outcome, code, detail, meas []string
		seq                                      []int32
		started, ended                           []time.Time
		seconds                                  []float64
	)
	for _, fr := range runs {
		for _, s := range fr.Steps {
			st, err := parseTS(s.Started)
			if err != nil {
				return fmt.Errorf("run %s step %s: %w", fr.Run.ID, s.Name, err)
			}
			en, err := parseTS(s.Ended)
			if err != nil {
				return fmt.Errorf("run %s step %s: %w", fr.Run.ID, s.Name, err)
			}
			m := []byte("{}")
			if len(s.Measurements) > 0 {
				if m, err = json.Marshal(s.Measurements); err != nil {
					return fmt.Errorf("run %s step %s: measurements: %w", fr.Run.ID, s.Name, err)
				}
			}
			runID, name, outcome = append(runID, fr.Run.ID), append(name, s.Name), append(outcome, string(s.Outcome))
			code, detail, meas = append(code, string(s.Code)), append(detail, s.Detail), append(meas, string(m))
			seq, started, ended, seconds = append(seq, int32(s.Seq)), append(started, st), append(ended, en), append(seconds, s.Seconds)
		}
	}
	if len(runID) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO steps (run_id, seq, name, started, ended, seconds, outcome, code, detail, measurements)
		SELECT r, s, n, st, en, sec, o, c, d, m::jsonb FROM unnest($1::text[], $2::int[], $3::text[], $4::timestamptz[],
			$5::timestamptz[], $6::float8[], $7::text[], $8::text[], $9::text[], $10::text[]) AS x(r, s, n, st, en, sec, o, c, d, m)`,
		runID, seq, name, started, ended, seconds, outcome, code, detail, meas)
	if err != nil {
		return fmt.Errorf("insert steps: %w", err)
	}
	return nil
}

func insertTranscripts(ctx context.Context, tx pgx.Tx, runs []station.FinishedRun) error {
	var ids []string
	var gz [][]byte
	for _, fr := range runs {
		if fr.Transcript != nil {
			ids, gz = append(ids, fr.Run.ID), append(gz, fr.Transcript)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `INSERT INTO transcripts (run_id, gz) SELECT * FROM unnest($1::text[], $2::bytea[])`, ids, gz); err != nil {
		return fmt.Errorf("insert transcripts: %w", err)
	}
	return nil
}

// lineFacts updates what depends on the whole line for the new runs: the
// units' histories (in IMEI order, so two stations shipping the same units
// lock them in the same order), each run's first_run and unit_passed flags,
// and the cycle-time histograms.
func lineFacts(ctx context.Context, tx pgx.Tx, runs []station.FinishedRun) error {
	ids := make([]string, len(runs))
	for i, fr := range runs {
		ids[i] = fr.Run.ID
	}
	if len(ids) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `INSERT INTO units (imei, runs, first_run, first_started, passed)
		SELECT imei, count(*), (array_agg(id ORDER BY started, id))[1], min(started), bool_or(outcome = 'PASS')
		FROM runs WHERE id = ANY($1) AND imei <> '' GROUP BY imei ORDER BY imei
		ON CONFLICT (imei) DO UPDATE SET runs = units.runs + excluded.runs, passed = units.passed OR excluded.passed,
			first_run = CASE WHEN (excluded.first_started, excluded.first_run) < (units.first_started, units.first_run)
				THEN excluded.first_run ELSE units.first_run END,
			first_started = least(units.first_started, excluded.first_started)`, ids); err != nil {
		return fmt.Errorf("update units: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE runs r SET first_run = (r.id = u.first_run), unit_passed = u.passed
		FROM units u WHERE u.imei = r.imei
		AND r.imei IN (SELECT imei FROM runs WHERE id = ANY($1) AND imei <> '')
		AND (r.first_run <> (r.id = u.first_run) OR r.unit_passed <> u.passed)`, ids); err != nil {
		return fmt.Errorf("update first runs: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO cycle (day, station_id, name, bucket, n)
		SELECT day, station_id, name, bucket, count(*) FROM (
			SELECT floor(extract(epoch FROM r.started) / 86400)::integer AS day, r.station_id, '*' AS name,
				cycle_bucket(r.seconds) AS bucket
			FROM runs r WHERE r.id = ANY($1) AND r.outcome = 'PASS'
			UNION ALL
			SELECT floor(extract(epoch FROM r.started) / 86400)::integer, r.station_id, s.name, cycle_bucket(s.seconds)
			FROM runs r JOIN steps s ON s.run_id = r.id
			WHERE r.id = ANY($1) AND r.outcome = 'PASS' AND s.outcome = 'PASS'
		) x GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
		ON CONFLICT (day, station_id, name, bucket) DO UPDATE SET n = cycle.n + excluded.n`, ids); err != nil {
		return fmt.Errorf("update cycle histograms: %w", err)
	}
	return nil
}
