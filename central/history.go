package central

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"nrfline/station"
)

// History answers the line rules from the whole line: this station's own
// runs from its local records (always complete), every other station's from
// the central store. When the central store does not answer in time it
// answers from the local records alone and says so in Source. Once it has
// failed, no unit waits for it again: a probe in the background finds out
// when it is back, so a line with PostgreSQL down or a stalled network
// provisions at full speed.
type History struct {
	pool      *pgxpool.Pool
	local     station.History
	stationID string
	timeout   time.Duration
	retry     time.Duration
	clock     station.Clock

	mu        sync.Mutex
	downUntil time.Time // when a probe may look again
	downErr   string    // why the store is taken as down; "" when up
	probing   bool
}

var _ station.History = (*History)(nil)

// NewHistory returns a History over the central store at url (connections
// are made lazily, so an unreachable store is no error here) and the local
// records. timeout bounds each central query.
func NewHistory(url, stationID string, local station.History, timeout time.Duration) (*History, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("central url: %w", err)
	}
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("central store: %w", err)
	}
	return &History{pool: pool, local: local, stationID: stationID, timeout: timeout,
		retry: time.Second, clock: station.SystemClock{}}, nil
}

// Close closes the connections to the central store.
func (h *History) Close() { h.pool.Close() }

// UnitHistory returns what the line knows of imei.
func (h *History) UnitHistory(ctx context.Context, imei string) (station.UnitHistory, error) {
	local, err := h.local.UnitHistory(ctx, imei)
	if err != nil {
		return local, err
	}
	if why := h.down(); why != "" {
		local.Source = "local: central store unreachable (" + why + ")"
		return local, nil
	}
	qctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	var others int
	var passed bool
	err = h.pool.QueryRow(qctx, `SELECT count(*), coalesce(bool_or(outcome = 'PASS'), false)
		FROM runs WHERE imei = $1 AND station_id <> $2`, imei, h.stationID).Scan(&others, &passed)
	if err != nil {
		if ctx.Err() != nil {
			return local, ctx.Err()
		}
		why := shortReason(err)
		h.markDown(why)
		local.Source = "local: central store unreachable (" + why + ")"
		return local, nil
	}
	return station.UnitHistory{Attempts: local.Attempts + others, Passed: local.Passed || passed, Source: "central"}, nil
}

// down says why the central store is taken as down ("" when it is up), and
// starts a probe when one is due.
func (h *History) down() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.downErr != "" && !h.probing && !h.clock.Now().Before(h.downUntil) {
		h.probing = true
		go h.probe()
	}
	return h.downErr
}

func (h *History) markDown(why string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.downUntil, h.downErr = h.clock.Now().Add(h.retry), why
}

// probe asks the central store a trivial question; an answer in time
// brings it back for the line rules.
func (h *History) probe() {
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
	defer cancel()
	_, err := h.pool.Exec(ctx, "SELECT 1")
	h.mu.Lock()
	defer h.mu.Unlock()
	h.probing = false
	if err != nil {
		h.downUntil, h.downErr = h.clock.Now().Add(h.retry), shortReason(err)
		return
	}
	h.downErr = ""
}

// shortReason is an operator-sized reason: a timeout or the driver's text.
func shortReason(err error) string {
	if pgxTimeout(err) {
		return "no answer in time"
	}
	s := err.Error()
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}
