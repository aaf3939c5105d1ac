package central

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"nrfline/station"
)

// Replicator ships the station's finished runs from its journal to the
// central store: in journal order, in batches, each batch one idempotent
// transaction, with backoff while PostgreSQL cannot be reached. Nothing on
// a unit's path waits for it: it reads the journal the station already
// committed.
//
// Progress is a cursor persisted in a small file next to the journal: every
// run before it is shipped. Runs after it that finished while an earlier
// run was still RUNNING are shipped as they finish and remembered in memory;
// after a restart they are shipped again, which the store ignores.
type Replicator struct {
	journal   station.Journal
	url       string
	stationID string
	opt       replOptions

	low     int64              // every finished run before this position is shipped
	shipped map[int64]struct{} // positions ≥ low shipped since the start
	conn    *pgx.Conn
	ready   bool // the schema was migrated on this process's first connect

	// While a full page is shipped, the next one is read (catch-up reads
	// the journal and writes PostgreSQL at the same time).
	pre     chan pageResult
	preFrom int64

	look    atomic.Pointer[backlogLook] // the last count of the backlog; nil before the first
	pos     atomic.Int64                // low, for Status
	total   atomic.Int64                // runs this replicator saw stored for the first time
	mu      sync.Mutex
	lastErr error
	lastOK  time.Time
}

type replOptions struct {
	cursor      string // file; "" keeps the cursor in memory only
	batch       int
	poll        time.Duration
	timeout     time.Duration
	minBackoff  time.Duration
	maxBackoff  time.Duration
	transcripts bool
	log         *slog.Logger
	clock       station.Clock
}

// Option configures a Replicator.
type Option func(*replOptions)

// WithCursorFile persists the cursor in path (written atomically after each
// committed batch), so a restarted station resumes where it stopped.
func WithCursorFile(path string) Option { return func(o *replOptions) { o.cursor = path } }

// WithBatch sets how many runs go into one transaction (default 2000).
func WithBatch(n int) Option { return func(o *replOptions) { o.batch = max(1, n) } }

// WithPoll sets how often the journal is read for newly finished runs
// (default 200 ms): the replication lag while PostgreSQL is up.
func WithPoll(d time.Duration) Option { return func(o *replOptions) { o.poll = d } }

// WithTimeout bounds every exchange with PostgreSQL (default 15 s), so a
// network that stalls is noticed and retried, never waited on for ever.
func WithTimeout(d time.Duration) Option { return func(o *replOptions) { o.timeout = d } }

// WithBackoff sets the wait after a failure, doubling from min to max
// (default 250 ms to 5 s).
func WithBackoff(min, max time.Duration) Option {
	return func(o *replOptions) { o.minBackoff, o.maxBackoff = min, max }
}

// WithTranscripts ships each run's compressed transcript too.
func WithTranscripts(on bool) Option { return func(o *replOptions) { o.transcripts = on } }

// WithLogger sets the diagnostics logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *replOptions) { o.log = l } }

// WithClock sets the clock for waits (default: the system clock).
func WithClock(c station.Clock) Option { return func(o *replOptions) { o.clock = c } }

// NewReplicator returns a replicator of journal's runs to the PostgreSQL at
// url, for the station stationID. It reads the cursor file, if any; Run
// starts the shipping.
func NewReplicator(journal station.Journal, url, stationID string, opts ...Option) (*Replicator, error) {
	o := replOptions{batch: 2000, poll: 200 * time.Millisecond, timeout: 15 * time.Second,
		minBackoff: 250 * time.Millisecond, maxBackoff: 5 * time.Second,
		log: slog.New(slog.DiscardHandler), clock: station.SystemClock{}}
	for _, fn := range opts {
		fn(&o)
	}
	r := &Replicator{journal: journal, url: url, stationID: stationID, opt: o, shipped: map[int64]struct{}{}}
	low, err := readCursor(o.cursor, target(url))
	if err != nil {
		return nil, err
	}
	r.low = low
	r.pos.Store(low)
	return r, nil
}

// backlogLook is a count of the backlog and the journal's Finishes just
// before it was counted.
type backlogLook struct {
	n, finishes int64
}

// Backlog is the number of finished runs not yet shipped (-1 before the
// first look at the journal). It does not block: it is the last count plus
// the runs finished since, so a run that finished after the last pass is
// never reported as shipped. It may be high until the next pass, never low.
func (r *Replicator) Backlog() int {
	l := r.look.Load()
	if l == nil {
		return -1
	}
	return int(l.n + r.journal.Finishes() - l.finishes)
}

// Status is what the replicator can tell about itself.
type Status struct {
	Backlog  int       `json:"backlog"`
	Shipped  int64     `json:"shipped"`              // runs stored for the first time by this process
	LastOK   time.Time `json:"last_ok,omitzero"`     // last batch committed (or found nothing to do)
	LastErr  string    `json:"last_error,omitempty"` // why the last attempt failed, if it did
	Position int64     `json:"position"`
}

// Status returns the replicator's state now.
func (r *Replicator) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Status{Backlog: r.Backlog(), Shipped: r.total.Load(), LastOK: r.lastOK, Position: r.pos.Load()}
	if r.lastErr != nil {
		s.LastErr = r.lastErr.Error()
	}
	return s
}

// Run ships until ctx ends. Failures are retried with backoff and reported
// through Status and the log; Run returns only ctx's error, or an error
// that retrying cannot fix (a central schema newer than this station's).
func (r *Replicator) Run(ctx context.Context) error {
	defer r.disconnect()
	defer r.stopReadAhead()
	wait := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.opt.clock.After(wait):
		}
		caughtUp, err := r.Pass(ctx)
		switch {
		case err == nil && caughtUp:
			wait = r.opt.poll
		case err == nil:
			wait = 0
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, errNewerSchema):
			return err
		default:
			wait = min(max(2*wait, r.opt.minBackoff), r.opt.maxBackoff)
			r.opt.log.Warn("central store: shipping failed, retrying", "in", wait, "err", err)
		}
	}
}

type pageResult struct {
	page station.JournalPage
	err  error
}

// read returns the journal page at from: the one read ahead if it is that
// one (an older snapshot is as good: runs only ever finish, and new runs
// come after its end), else a fresh read.
func (r *Replicator) read(ctx context.Context, from int64) (station.JournalPage, error) {
	if r.pre != nil {
		ch, pf := r.pre, r.preFrom
		r.pre = nil
		if res := <-ch; pf == from && res.err == nil {
			return res.page, nil
		}
	}
	page, err := r.journal.Finished(ctx, from, r.opt.batch, r.opt.transcripts)
	if err != nil {
		return page, fmt.Errorf("read the journal: %w", err)
	}
	return page, nil
}

func (r *Replicator) readAhead(ctx context.Context, from int64) {
	ch := make(chan pageResult, 1)
	r.pre, r.preFrom = ch, from
	go func() {
		page, err := r.journal.Finished(ctx, from, r.opt.batch, r.opt.transcripts)
		ch <- pageResult{page, err}
	}()
}

// stopReadAhead waits for a read ahead in flight.
func (r *Replicator) stopReadAhead() {
	if r.pre != nil {
		<-r.pre
		r.pre = nil
	}
}

var errNewerSchema = errors.New("central schema is newer than this station's")

// Pass reads one page of the journal and ships what it has not shipped
// yet. caughtUp reports that the page held everything finished so far.
func (r *Replicator) Pass(ctx context.Context) (caughtUp bool, err error) {
	defer func() { r.note(err) }()
	page, err := r.read(ctx, r.low)
	if err != nil {
		return false, err
	}
	var fresh []station.FinishedRun
	for _, fr := range page.Runs {
		if _, done := r.shipped[fr.Pos]; !done {
			fresh = append(fresh, fr)
		}
	}
	full := len(page.Runs) == r.opt.batch
	if full && (page.Holdback == 0 || page.Holdback > page.Runs[len(page.Runs)-1].Pos) {
		r.readAhead(ctx, page.Runs[len(page.Runs)-1].Pos+1)
	}
	if len(fresh) > 0 {
		if err := r.shipBatch(ctx, fresh); err != nil {
			r.countBacklog(ctx)
			return false, err
		}
	}
	for _, fr := range fresh {
		r.shipped[fr.Pos] = struct{}{}
	}
	defer r.countBacklog(ctx)
	next := page.End
	if full {
		next = page.Runs[len(page.Runs)-1].Pos + 1
	}
	if page.Holdback != 0 && page.Holdback < next {
		next = page.Holdback
	}
	if next > r.low {
		r.advance(next)
	}
	// A page full of runs shipped earlier (finished behind a long run that
	// is still RUNNING) would be read again and again: look past it.
	if full && len(fresh) == 0 && page.Holdback != 0 {
		return r.passBeyond(ctx, page.Runs[len(page.Runs)-1].Pos+1)
	}
	return !full, nil
}

// passBeyond ships finished runs after position from without moving the
// cursor (a run before them is still RUNNING).
func (r *Replicator) passBeyond(ctx context.Context, from int64) (bool, error) {
	for {
		page, err := r.journal.Finished(ctx, from, r.opt.batch, r.opt.transcripts)
		if err != nil {
			return false, fmt.Errorf("read the journal: %w", err)
		}
		var fresh []station.FinishedRun
		for _, fr := range page.Runs {
			if _, done := r.shipped[fr.Pos]; !done {
				fresh = append(fresh, fr)
			}
		}
		if len(fresh) > 0 {
			if err := r.shipBatch(ctx, fresh); err != nil {
				return false, err
			}
			for _, fr := range fresh {
				r.shipped[fr.Pos] = struct{}{}
			}
		}
		if len(page.Runs) < r.opt.batch {
			return true, nil
		}
		from = page.Runs[len(page.Runs)-1].Pos + 1
	}
}

// countBacklog counts the finished runs not shipped yet: those after the
// cursor, less the ones shipped ahead of it. Finishes is read first: a run
// finishing during the count is counted twice until the next look, never
// missed.
func (r *Replicator) countBacklog(ctx context.Context) {
	f := r.journal.Finishes()
	n, err := r.journal.Pending(ctx, r.low)
	if err != nil {
		return
	}
	r.look.Store(&backlogLook{n: int64(n - len(r.shipped)), finishes: f})
}

func (r *Replicator) shipBatch(ctx context.Context, runs []station.FinishedRun) error {
	ctx, cancel := context.WithTimeout(ctx, r.opt.timeout)
	defer cancel()
	conn, err := r.connect(ctx)
	if err != nil {
		return err
	}
	n, err := ship(ctx, conn, r.stationID, runs)
	if err != nil {
		r.disconnect()
		return fmt.Errorf("ship %d runs: %w", len(runs), err)
	}
	r.total.Add(int64(n))
	return nil
}

func (r *Replicator) connect(ctx context.Context) (*pgx.Conn, error) {
	if r.conn != nil && !r.conn.IsClosed() {
		return r.conn, nil
	}
	conn, err := pgx.Connect(ctx, r.url)
	if err != nil {
		return nil, fmt.Errorf("connect to the central store: %w", err)
	}
	if !r.ready {
		if _, _, err := Migrate(ctx, conn); err != nil {
			conn.Close(context.WithoutCancel(ctx))
			return nil, err
		}
		r.ready = true
	}
	r.conn = conn
	return conn, nil
}

func (r *Replicator) disconnect() {
	if r.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		r.conn.Close(ctx)
		cancel()
		r.conn = nil
	}
}

func (r *Replicator) advance(next int64) {
	r.low = next
	r.pos.Store(next)
	for p := range r.shipped {
		if p < next {
			delete(r.shipped, p)
		}
	}
	if err := writeCursor(r.opt.cursor, target(r.url), next); err != nil {
		r.opt.log.Warn("central store: cannot save the cursor; a restart ships some runs again", "err", err)
	}
}

func (r *Replicator) note(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastErr = err
	if err == nil {
		r.lastOK = r.opt.clock.Now()
	}
}

// target names the central database without user or password, so a cursor
// is not reused for another database.
func target(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host + u.Path
}

type cursorFile struct {
	Central  string `json:"central"`
	Position int64  `json:"position"`
}

// readCursor returns the saved position for the central database, or 0 (ship
// everything, which the store ignores where it has it) when there is none.
func readCursor(path, central string) (int64, error) {
	if path == "" {
		return 0, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the central cursor: %w", err)
	}
	var c cursorFile
	if err := json.Unmarshal(b, &c); err != nil || c.Central != central {
		return 0, nil // unreadable or another database: start over, harmlessly
	}
	return c.Position, nil
}

func writeCursor(path, central string, pos int64) error {
	if path == "" {
		return nil
	}
	b, _ := json.Marshal(cursorFile{Central: central, Position: pos})
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Drain ships what the journal holds until it is caught up, the first
// failure, or ctx ends: a station that stops hands its last runs over if
// the central store answers, and does not wait if it does not.
func (r *Replicator) Drain(ctx context.Context) error {
	defer r.disconnect()
	defer r.stopReadAhead()
	for {
		caughtUp, err := r.Pass(ctx)
		if err != nil || caughtUp {
			return err
		}
	}
}

// Unshipped counts the journal's finished runs that the central store does
// not hold, asking it about every run after the cursor. When it cannot be
// asked, the count of runs after the cursor (an upper bound) comes back
// with the error; -1 when the journal cannot be read.
func (r *Replicator) Unshipped(ctx context.Context) (int, error) {
	var ids []string
	for from := r.low; ; {
		page, err := r.journal.Finished(ctx, from, 5000, false)
		if err != nil {
			return -1, fmt.Errorf("read the journal: %w", err)
		}
		for _, fr := range page.Runs {
			ids = append(ids, fr.Run.ID)
		}
		if len(page.Runs) < 5000 {
			break
		}
		from = page.Runs[len(page.Runs)-1].Pos + 1
	}
	if len(ids) == 0 {
		return 0, nil
	}
	conn, err := pgx.Connect(ctx, r.url)
	if err != nil {
		return len(ids), fmt.Errorf("connect to the central store: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var have int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM runs WHERE id = ANY($1)", ids).Scan(&have); err != nil {
		return len(ids), fmt.Errorf("ask the central store: %w", err)
	}
	return len(ids) - have, nil
}
