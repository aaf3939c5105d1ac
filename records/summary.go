package records

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"nrfline/station"
)

// Summary is the supervisor's view of a time window (runs by start time).
//
// Definitions. Units: distinct IMEIs with a finished run in the window.
// First tested: units whose first run ever started in the window; first-pass
// yield is the share of those whose first run passed, yield the share that
// has passed by now (after retests). Retests: runs that were not a unit's
// first. Unidentified: runs that ended before the IMEI was read; they count
// as runs (and in the Pareto) but not as units. Cycle times are of passing
// runs (per unit) and passing steps, read from histograms to within 1 %.
type Summary struct {
	Since            time.Time   `json:"since,omitzero"`
	Until            time.Time   `json:"until,omitzero"`
	Runs             int         `json:"runs"` // finished runs
	Running          int         `json:"running"`
	Pass             int         `json:"pass"`
	Fail             int         `json:"fail"`
	Error            int         `json:"error"`
	Aborted          int         `json:"aborted"`
	Units            int         `json:"units"`
	FirstTested      int         `json:"first_tested"`
	FirstPass        int         `json:"first_pass"`
	EventuallyPassed int         `json:"eventually_passed"`
	FirstPassYield   float64     `json:"first_pass_yield"`
	Yield            float64     `json:"yield"`
	Retests          int         `json:"retests"`
	Unidentified     int         `json:"unidentified"`
	Pareto           []ParetoRow `json:"pareto"`
	Cycle            []CycleRow  `json:"cycle_seconds"`
	Slots            []GroupRow  `json:"slots"`
	Operators        []GroupRow  `json:"operators"`
}

// ParetoRow is one failure code: how often, its share of all runs that did
// not pass, the running total of shares, and the step it happened at most.
type ParetoRow struct {
	Code       station.Code     `json:"code"`
	Outcome    station.Outcome  `json:"outcome"`
	Step       station.StepName `json:"step"`
	Count      int              `json:"count"`
	Share      float64          `json:"share"`
	Cumulative float64          `json:"cumulative"`
}

// CycleRow is the cycle time of one step, or of the whole unit (Name "unit").
type CycleRow struct {
	Name string  `json:"name"`
	N    int64   `json:"n"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
}

// GroupRow is the breakdown for one slot or operator.
type GroupRow struct {
	Name             string  `json:"name"`
	Runs             int     `json:"runs"`
	Pass             int     `json:"pass"`
	Fail             int     `json:"fail"`
	Error            int     `json:"error"`
	Aborted          int     `json:"aborted"`
	FirstTested      int     `json:"first_tested"`
	FirstPass        int     `json:"first_pass"`
	EventuallyPassed int     `json:"eventually_passed"`
	FirstPassYield   float64 `json:"first_pass_yield"`
	Yield            float64 `json:"yield"`
}

// tallyRow is one group of finished runs: a daily rollup row, or one raw run.
type tallyRow struct {
	slot, operator           string
	outcome                  station.Outcome
	code                     station.Code
	step                     station.StepName
	runs, firstTested        int
	firstPass, eventually    int
	retests, unidentifiedRun int
}

// summer accumulates tally rows and histograms into a Summary.
type summer struct {
	s      Summary
	slots  map[string]*GroupRow
	ops    map[string]*GroupRow
	codes  map[station.Code]*paretoAcc
	cycles hists
}

type paretoAcc struct {
	outcome station.Outcome
	count   int
	steps   map[station.StepName]int
}

func newSummer() *summer {
	return &summer{slots: map[string]*GroupRow{}, ops: map[string]*GroupRow{},
		codes: map[station.Code]*paretoAcc{}, cycles: hists{}}
}

func (m *summer) add(r tallyRow) {
	s := &m.s
	s.Runs += r.runs
	s.FirstTested += r.firstTested
	s.FirstPass += r.firstPass
	s.EventuallyPassed += r.eventually
	s.Retests += r.retests
	s.Unidentified += r.unidentifiedRun
	countOutcome(r.outcome, r.runs, &s.Pass, &s.Fail, &s.Error, &s.Aborted)
	m.group(m.slots, r.slot, r)
	m.group(m.ops, r.operator, r)
	if r.outcome != station.Pass {
		p := m.codes[r.code]
		if p == nil {
			p = &paretoAcc{outcome: r.outcome, steps: map[station.StepName]int{}}
			m.codes[r.code] = p
		}
		p.count += r.runs
		p.steps[r.step] += r.runs
	}
}

func countOutcome(o station.Outcome, n int, pass, fail, errored, aborted *int) {
	switch o {
	case station.Pass:
		*pass += n
	case station.Fail:
		*fail += n
	case station.Errored:
		*errored += n
	case station.Aborted:
		*aborted += n
	}
}

func (m *summer) group(g map[string]*GroupRow, name string, r tallyRow) {
	row := g[name]
	if row == nil {
		row = &GroupRow{Name: name}
		g[name] = row
	}
	row.Runs += r.runs
	row.FirstTested += r.firstTested
	row.FirstPass += r.firstPass
	row.EventuallyPassed += r.eventually
	countOutcome(r.outcome, r.runs, &row.Pass, &row.Fail, &row.Error, &row.Aborted)
}

func (m *summer) cycle(name string) *hist { return m.cycles.get(name) }

// Summary computes the summary of runs started in [f.Since, f.Until). Whole
// UTC days come from the daily rollups; the partial days at the window's
// edges are read from the runs themselves, so any window is exact.
func (r *Reader) Summary(ctx context.Context, f Filter) (*Summary, error) {
	m := newSummer()
	w := splitWindow(f.Since, f.Until)
	if w.days {
		if err := r.addRollups(ctx, m, w.d0, w.d1); err != nil {
			return nil, err
		}
	}
	for _, iv := range w.raw {
		if err := r.addRaw(ctx, m, iv[0], iv[1]); err != nil {
			return nil, err
		}
	}
	if err := r.addUnits(ctx, m, f.Since, f.Until); err != nil {
		return nil, err
	}
	s := m.finish()
	s.Since, s.Until = f.Since, f.Until
	return s, nil
}

// window is a time window split into whole UTC days [d0, d1) and up to two
// raw intervals at its edges (zero times are open ends).
type window struct {
	days   bool
	d0, d1 int64
	raw    [][2]time.Time
}

const (
	minDay = math.MinInt32
	maxDay = math.MaxInt32
)

func dayStart(d int64) time.Time { return time.Unix(d*86400, 0).UTC() }

func splitWindow(since, until time.Time) window {
	w := window{d0: minDay, d1: maxDay}
	if !since.IsZero() {
		w.d0 = station.RollupDay(since)
		if !dayStart(w.d0).Equal(since) {
			w.d0++
		}
	}
	if !until.IsZero() {
		w.d1 = station.RollupDay(until)
	}
	if w.d0 >= w.d1 {
		return window{raw: [][2]time.Time{{since, until}}}
	}
	w.days = true
	if !since.IsZero() && since.Before(dayStart(w.d0)) {
		w.raw = append(w.raw, [2]time.Time{since, dayStart(w.d0)})
	}
	if !until.IsZero() && until.After(dayStart(w.d1)) {
		w.raw = append(w.raw, [2]time.Time{dayStart(w.d1), until})
	}
	return w
}

func (r *Reader) addRollups(ctx context.Context, m *summer, d0, d1 int64) error {
	rows, err := r.db.QueryContext(ctx, `SELECT slot, operator, outcome, code, step, sum(runs), sum(first_tested),
		sum(first_pass), sum(eventually_passed), sum(retests), sum(unidentified)
		FROM daily WHERE day >= ? AND day < ? GROUP BY slot, operator, outcome, code, step`, d0, d1)
	if err != nil {
		return fmt.Errorf("read daily rollups: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var t tallyRow
		var o, c, s string
		if err := rows.Scan(&t.slot, &t.operator, &o, &c, &s, &t.runs, &t.firstTested, &t.firstPass,
			&t.eventually, &t.retests, &t.unidentifiedRun); err != nil {
			return fmt.Errorf("read daily rollups: %w", err)
		}
		t.outcome, t.code, t.step = station.Outcome(o), station.Code(c), station.StepName(s)
		m.add(t)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read daily rollups: %w", err)
	}
	return r.addCycleRollups(ctx, m, d0, d1)
}

func (r *Reader) addCycleRollups(ctx context.Context, m *summer, d0, d1 int64) error {
	rows, err := r.db.QueryContext(ctx, `SELECT day, hists FROM cycle WHERE day >= ? AND day < ?`, d0, d1)
	if err != nil {
		return fmt.Errorf("read cycle histograms: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var day int64
		var blob sql.RawBytes
		if err := rows.Scan(&day, &blob); err != nil {
			return fmt.Errorf("read cycle histograms: %w", err)
		}
		if err := m.cycles.decodeAdd(blob); err != nil {
			return fmt.Errorf("cycle histograms of day %d: %w", day, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read cycle histograms: %w", err)
	}
	return nil
}

// timeRange renders [since, until) as SQL on r.started.
func timeRange(since, until time.Time) (string, []any) {
	return Filter{Since: since, Until: until}.where()
}

// addRaw tallies the finished runs started in [since, until) one by one,
// exactly as finishRun would have counted them in the rollups.
func (r *Reader) addRaw(ctx context.Context, m *summer, since, until time.Time) error {
	where, args := timeRange(since, until)
	where = andWhere(where, "r.outcome <> 'RUNNING'")
	rows, err := r.db.QueryContext(ctx, `SELECT r.slot, r.operator, r.outcome, r.code, r.step, r.imei,
		coalesce(r.attempt, 0), coalesce(u.passed, 0), coalesce(r.seconds, 0)
		FROM runs r LEFT JOIN units u ON u.imei = r.imei AND r.imei <> ''`+where, args...)
	if err != nil {
		return fmt.Errorf("read runs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var t tallyRow
		var o, c, s, imei string
		var attempt, passed int
		var sec float64
		if err := rows.Scan(&t.slot, &t.operator, &o, &c, &s, &imei, &attempt, &passed, &sec); err != nil {
			return fmt.Errorf("read runs: %w", err)
		}
		t.outcome, t.code, t.step, t.runs = station.Outcome(o), station.Code(c), station.StepName(s), 1
		switch {
		case imei == "":
			t.unidentifiedRun = 1
		case attempt == 1:
			t.firstTested = 1
			t.eventually = passed
			if t.outcome == station.Pass {
				t.firstPass = 1
			}
		default:
			t.retests = 1
		}
		m.add(t)
		if t.outcome == station.Pass {
			m.cycle(runCycle).add(sec)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read runs: %w", err)
	}
	return r.addRawSteps(ctx, m, since, until)
}

func andWhere(where, cond string) string {
	if where == "" {
		return " WHERE " + cond
	}
	return where + " AND " + cond
}

func (r *Reader) addRawSteps(ctx context.Context, m *summer, since, until time.Time) error {
	where, args := timeRange(since, until)
	where = andWhere(where, "r.outcome = 'PASS' AND s.outcome = 'PASS'")
	rows, err := r.db.QueryContext(ctx, `SELECT s.name, s.seconds FROM runs r JOIN steps s ON s.run_id = r.id`+where, args...)
	if err != nil {
		return fmt.Errorf("read steps: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var sec float64
		if err := rows.Scan(&name, &sec); err != nil {
			return fmt.Errorf("read steps: %w", err)
		}
		m.cycle(name).add(sec)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read steps: %w", err)
	}
	return nil
}

// addUnits completes the unit count (units first tested in the window are
// counted already; add those first tested before it and retested in it)
// and counts the runs still RUNNING.
func (r *Reader) addUnits(ctx context.Context, m *summer, since, until time.Time) error {
	m.s.Units = m.s.FirstTested
	where, args := timeRange(since, until)
	if !since.IsZero() {
		var n int
		q := `SELECT count(DISTINCT r.imei) FROM runs r JOIN units u ON u.imei = r.imei` +
			andWhere(where, "r.attempt > 1 AND u.first_started < ?")
		if err := r.db.QueryRowContext(ctx, q, append(args, ts(since))...).Scan(&n); err != nil {
			return fmt.Errorf("count retested units: %w", err)
		}
		m.s.Units += n
	}
	q := `SELECT count(*) FROM runs r` + andWhere(where, "r.outcome = 'RUNNING'")
	if err := r.db.QueryRowContext(ctx, q, args...).Scan(&m.s.Running); err != nil {
		return fmt.Errorf("count running runs: %w", err)
	}
	return nil
}

func share(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

func (m *summer) finish() *Summary {
	s := m.s
	s.FirstPassYield = share(s.FirstPass, s.FirstTested)
	s.Yield = share(s.EventuallyPassed, s.FirstTested)
	s.Pareto = m.pareto(s.Runs - s.Pass)
	s.Cycle = m.cycleRows()
	s.Slots, s.Operators = groupRows(m.slots), groupRows(m.ops)
	return &s
}

func (m *summer) pareto(failed int) []ParetoRow {
	out := make([]ParetoRow, 0, len(m.codes))
	for code, p := range m.codes {
		if p.count == 0 {
			continue
		}
		row := ParetoRow{Code: code, Outcome: p.outcome, Count: p.count, Share: share(p.count, failed)}
		best := -1
		for st, n := range p.steps {
			if n > best || n == best && st < row.Step {
				row.Step, best = st, n
			}
		}
		out = append(out, row)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Code < out[j].Code
	})
	cum := 0
	for i := range out {
		cum += out[i].Count
		out[i].Cumulative = share(cum, failed)
	}
	return out
}

// cycleRows lists the unit first, then the steps in pipeline order.
func (m *summer) cycleRows() []CycleRow {
	names := make([]string, 0, len(m.cycles))
	for n := range m.cycles {
		names = append(names, n)
	}
	order := func(n string) int {
		if n == runCycle {
			return -1
		}
		if i := slices.Index(station.Steps, station.StepName(n)); i >= 0 {
			return i
		}
		return len(station.Steps)
	}
	sort.Slice(names, func(i, j int) bool {
		oi, oj := order(names[i]), order(names[j])
		if oi != oj {
			return oi < oj
		}
		return names[i] < names[j]
	})
	out := make([]CycleRow, 0, len(names))
	for _, n := range names {
		h := m.cycles[n]
		if h.n == 0 {
			continue
		}
		name := n
		if n == runCycle {
			name = "unit"
		}
		out = append(out, CycleRow{Name: name, N: h.n, P50: round3(h.quantile(0.50)),
			P90: round3(h.quantile(0.90)), P99: round3(h.quantile(0.99))})
	}
	return out
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

func groupRows(g map[string]*GroupRow) []GroupRow {
	out := make([]GroupRow, 0, len(g))
	for _, r := range g {
		r.FirstPassYield = share(r.FirstPass, r.FirstTested)
		r.Yield = share(r.EventuallyPassed, r.FirstTested)
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
