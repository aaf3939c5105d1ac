package records

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"nrfline/station"
)

// ending is everything needed to end a run and keep the rollups in step.
type ending struct {
	id, imei       string
	slot, operator string
	started, ended time.Time
	outcome        station.Outcome
	code           station.Code
	step           station.StepName
	detail         string
	pskID, pskSHA  string
	steps          []stepTime // for the cycle-time histograms
}

// stepTime is how long a step took and how it ended.
type stepTime struct {
	name    string
	seconds float64
	outcome station.Outcome
}

func endingOf(r runRow, v station.Verdict, steps []station.StepResult) ending {
	e := ending{id: r.id, imei: r.identity.IMEI, slot: r.start.Slot.Name, operator: r.start.Operator,
		started: r.start.Started, ended: v.Ended, outcome: v.Outcome, code: v.Code, step: v.Step,
		detail: v.Detail, pskID: v.PSKIdentity, pskSHA: v.PSKSHA256}
	if e.imei == "" {
		e.imei = v.IMEI
	}
	for _, s := range steps {
		e.steps = append(e.steps, stepTime{string(s.Step), seconds(s.Duration()), s.Outcome})
		if e.ended.IsZero() || v.Ended.IsZero() && s.Ended.After(e.ended) {
			e.ended = s.Ended // a verdict without an end time ends with its last step
		}
	}
	if e.ended.IsZero() {
		e.ended = e.started
	}
	return e
}

// errFinished means a verdict arrived for a run that already has one.
var errFinished = errors.New("run already has a verdict")

// finishRun ends a RUNNING run: its attempt number for the IMEI, the unit's
// history, the daily rollup and the cycle-time histograms, all in tx.
func finishRun(ctx context.Context, tx *sql.Tx, e ending, cyc cycleAdds) error {
	if !validOutcome(e.outcome) || e.outcome == station.Running {
		return fmt.Errorf("verdict outcome %q is not a final outcome", e.outcome)
	}
	u, err := bumpUnit(ctx, tx, e)
	if err != nil {
		return err
	}
	var attempt any
	if e.imei != "" {
		attempt = u.attempt
	}
	res, err := tx.ExecContext(ctx, `UPDATE runs SET ended = ?, seconds = ?, outcome = ?, code = ?, step = ?,
		detail = ?, attempt = ?, psk_identity = ?, psk_sha256 = ?, imei = CASE WHEN imei = '' THEN ? ELSE imei END,
		updated = max(updated, ?) WHERE id = ? AND outcome = 'RUNNING'`,
		ts(e.ended), seconds(e.ended.Sub(e.started)), string(e.outcome), string(e.code), string(e.step),
		e.detail, attempt, e.pskID, e.pskSHA, e.imei, ts(e.ended), e.id)
	if err != nil {
		return fmt.Errorf("update run: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("run %s: %w", e.id, errFinished)
	}
	if err := addDaily(ctx, tx, e, u); err != nil {
		return err
	}
	if u.passedLate {
		if err := creditFirstRun(ctx, tx, u.firstRun); err != nil {
			return err
		}
	}
	cyc.addRun(e)
	return nil
}

func validOutcome(o station.Outcome) bool {
	switch o {
	case station.Pass, station.Fail, station.Errored, station.Aborted, station.Running:
		return true
	}
	return false
}

// unitChange is what a run did to its unit's history.
type unitChange struct {
	attempt    int    // this run's number among the unit's finished runs
	firstRun   string // the unit's first run
	passedLate bool   // this run is the unit's first PASS, and not its first run
}

func bumpUnit(ctx context.Context, tx *sql.Tx, e ending) (unitChange, error) {
	if e.imei == "" {
		return unitChange{}, nil
	}
	var runs, passed int
	var first string
	err := tx.QueryRowContext(ctx, `SELECT runs, first_run, passed FROM units WHERE imei = ?`, e.imei).Scan(&runs, &first, &passed)
	pass := 0
	if e.outcome == station.Pass {
		pass = 1
	}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = tx.ExecContext(ctx, `INSERT INTO units (imei, runs, first_run, first_started, passed, last_run, last_outcome)
			VALUES (?, 1, ?, ?, ?, ?, ?)`, e.imei, e.id, ts(e.started), pass, e.id, string(e.outcome))
		if err != nil {
			return unitChange{}, fmt.Errorf("insert unit %s: %w", e.imei, err)
		}
		return unitChange{attempt: 1, firstRun: e.id}, nil
	case err != nil:
		return unitChange{}, fmt.Errorf("read unit %s: %w", e.imei, err)
	}
	_, err = tx.ExecContext(ctx, `UPDATE units SET runs = runs + 1, passed = max(passed, ?), last_run = ?, last_outcome = ?
		WHERE imei = ?`, pass, e.id, string(e.outcome), e.imei)
	if err != nil {
		return unitChange{}, fmt.Errorf("update unit %s: %w", e.imei, err)
	}
	return unitChange{attempt: runs + 1, firstRun: first, passedLate: pass == 1 && passed == 0}, nil
}

// dayOf is the UTC day number of t.
func dayOf(t time.Time) int64 { return t.Unix() / 86400 }

func addDaily(ctx context.Context, tx *sql.Tx, e ending, u unitChange) error {
	var first, firstPass, retest, unidentified int
	switch {
	case e.imei == "":
		unidentified = 1
	case u.attempt == 1:
		first = 1
		if e.outcome == station.Pass {
			firstPass = 1
		}
	default:
		retest = 1
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO daily (day, slot, operator, outcome, code, step,
		runs, first_tested, first_pass, eventually_passed, retests, unidentified)
		VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?)
		ON CONFLICT (day, slot, operator, outcome, code, step) DO UPDATE SET
		runs = runs + 1, first_tested = first_tested + excluded.first_tested,
		first_pass = first_pass + excluded.first_pass, eventually_passed = eventually_passed + excluded.eventually_passed,
		retests = retests + excluded.retests, unidentified = unidentified + excluded.unidentified`,
		dayOf(e.started), e.slot, e.operator, string(e.outcome), string(e.code), string(e.step),
		first, firstPass, firstPass, retest, unidentified)
	if err != nil {
		return fmt.Errorf("update daily rollup: %w", err)
	}
	return nil
}

// creditFirstRun counts a unit that passed on a retest as eventually
// passed, in the rollup row of its first run.
func creditFirstRun(ctx context.Context, tx *sql.Tx, firstRun string) error {
	var started, slot, operator, outcome, code, step string
	err := tx.QueryRowContext(ctx, `SELECT started, slot, operator, outcome, code, step FROM runs WHERE id = ?`, firstRun).
		Scan(&started, &slot, &operator, &outcome, &code, &step)
	if err != nil {
		return fmt.Errorf("read first run %s: %w", firstRun, err)
	}
	_, err = tx.ExecContext(ctx, `UPDATE daily SET eventually_passed = eventually_passed + 1
		WHERE day = ? AND slot = ? AND operator = ? AND outcome = ? AND code = ? AND step = ?`,
		dayOf(parseTS(started)), slot, operator, outcome, code, step)
	if err != nil {
		return fmt.Errorf("credit first run %s: %w", firstRun, err)
	}
	return nil
}

// cycleAdds collects cycle-time samples by day inside one transaction, so
// each day's histograms are read and written once per transaction.
type cycleAdds map[int64]hists

// runCycle names the whole run's histogram.
const runCycle = "*"

// addRun adds a passing run's duration and its passing steps' durations.
func (c cycleAdds) addRun(e ending) {
	if e.outcome != station.Pass {
		return
	}
	day := dayOf(e.started)
	h := c[day]
	if h == nil {
		h = hists{}
		c[day] = h
	}
	h.get(runCycle).add(seconds(e.ended.Sub(e.started)))
	for _, s := range e.steps {
		if s.outcome == station.Pass {
			h.get(s.name).add(s.seconds)
		}
	}
}

// flush merges the collected samples into the stored histograms.
func (c cycleAdds) flush(ctx context.Context, tx *sql.Tx) error {
	for day, add := range c {
		var blob []byte
		err := tx.QueryRowContext(ctx, `SELECT hists FROM cycle WHERE day = ?`, day).Scan(&blob)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read cycle histograms: %w", err)
		}
		h := hists{}
		if err := h.decodeAdd(blob); err != nil {
			return fmt.Errorf("cycle histograms of day %d: %w", day, err)
		}
		h.merge(add)
		_, err = tx.ExecContext(ctx, `INSERT INTO cycle (day, hists) VALUES (?, ?)
			ON CONFLICT (day) DO UPDATE SET hists = excluded.hists`, day, h.encode())
		if err != nil {
			return fmt.Errorf("write cycle histograms: %w", err)
		}
	}
	clear(c)
	return nil
}

// recoverCrashed closes every RUNNING run as ABORTED with the step it was
// in, in one durable transaction. Open holds the lock file, so these runs
// belong to a station process that is gone.
func (s *Store) recoverCrashed(ctx context.Context) error {
	if _, err := s.conn.ExecContext(ctx, "PRAGMA synchronous = FULL"); err != nil {
		return fmt.Errorf("recover crashed runs: %w", err)
	}
	tx, err := s.conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("recover crashed runs: begin: %w", err)
	}
	defer tx.Rollback()
	open, err := crashedRuns(ctx, tx)
	if err != nil {
		return fmt.Errorf("recover crashed runs: %w", err)
	}
	now := s.opt.clock.Now()
	cyc := cycleAdds{}
	for _, e := range open {
		if e.steps, err = loadStepTimes(ctx, tx, e.id); err != nil {
			return fmt.Errorf("recover run %s: %w", e.id, err)
		}
		e.detail = fmt.Sprintf("the station stopped during step %s (crash, kill or power loss); closed as ABORTED when the records were opened at %s",
			stepOrStart(e.step), ts(now))
		if err := finishRun(ctx, tx, e, cyc); err != nil {
			return fmt.Errorf("recover run %s: %w", e.id, err)
		}
		s.log.Warn("closed a run left RUNNING by a crash as ABORTED", "run", e.id, "slot", e.slot, "step", e.step, "imei", e.imei)
	}
	if err := cyc.flush(ctx, tx); err != nil {
		return fmt.Errorf("recover crashed runs: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("recover crashed runs: commit: %w", err)
	}
	return nil
}

func stepOrStart(s station.StepName) string {
	if s == "" {
		return "(none yet)"
	}
	return string(s)
}

func crashedRuns(ctx context.Context, tx *sql.Tx) ([]ending, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, imei, slot, operator, started,
		max(updated, coalesce((SELECT max(ended) FROM steps WHERE run_id = runs.id), '')), current_step
		FROM runs WHERE outcome = 'RUNNING' ORDER BY started`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ending
	for rows.Next() {
		var e ending
		var started, updated, step string
		if err := rows.Scan(&e.id, &e.imei, &e.slot, &e.operator, &started, &updated, &step); err != nil {
			return nil, err
		}
		e.started, e.ended = parseTS(started), parseTS(updated)
		e.outcome, e.code, e.step = station.Aborted, station.Interrupted, station.StepName(step)
		out = append(out, e)
	}
	return out, rows.Err()
}

func loadStepTimes(ctx context.Context, tx *sql.Tx, run string) ([]stepTime, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name, seconds, outcome FROM steps WHERE run_id = ? ORDER BY seq`, run)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []stepTime
	for rows.Next() {
		var s stepTime
		var o string
		if err := rows.Scan(&s.name, &s.seconds, &o); err != nil {
			return nil, err
		}
		s.outcome = station.Outcome(o)
		out = append(out, s)
	}
	return out, rows.Err()
}

// parseTS reads a stored time; a malformed one reads as the zero time.
func parseTS(s string) time.Time {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		t, _ = time.Parse(time.RFC3339Nano, s)
	}
	return t
}
