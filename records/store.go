package records

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver

	"nrfline/station"
)

// Store is the writing side of the records: the station.Recorder the engine
// calls. Only one Store may have a database file open at a time (a lock file
// next to it ensures that), which is what makes crash recovery safe.
type Store struct {
	path string
	opt  options
	log  *slog.Logger

	w      *sql.DB   // exactly one connection: the writer
	conn   *sql.Conn // that connection, owned by the writer goroutine
	reader *Reader   // the read pool for reports
	lock   *dbLock

	ops      chan *op
	syncMode string        // the writer connection's synchronous setting; writer goroutine only
	quit     chan struct{} // Close asks the writer to stop
	stopped  chan struct{} // the writer has stopped

	gz gzipper

	mu     sync.Mutex
	runs   map[string]*runState // runs in flight, by id
	closed bool

	closeOnce sync.Once
	closeErr  error
}

var _ station.Recorder = (*Store)(nil)

// Option configures Open.
type Option func(*options)

type options struct {
	logger      *slog.Logger
	clock       station.Clock
	busyTimeout time.Duration
	headBytes   int
	tailBytes   int
	maxBatch    int
}

func defaultOptions() options {
	return options{
		logger:      slog.New(slog.DiscardHandler),
		clock:       station.SystemClock{},
		busyTimeout: 5 * time.Second,
		headBytes:   16 << 10,
		tailBytes:   48 << 10,
		maxBatch:    64,
	}
}

// WithLogger sets the logger for diagnostics (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithClock sets the clock that stamps recovery and bookkeeping times
// (default: the system clock). Run and step times come from the events.
func WithClock(c station.Clock) Option { return func(o *options) { o.clock = c } }

// WithBusyTimeout sets how long a write waits for a lock held by another
// process before it fails (default 5 s). A verdict that cannot get the lock
// in time is not recorded, and the engine reports ERROR RECORD_FAILED.
func WithBusyTimeout(d time.Duration) Option { return func(o *options) { o.busyTimeout = d } }

// WithTranscriptLimit bounds each run's transcript: the first head bytes and
// the last tail bytes of lines are kept, the middle is replaced by a marker
// (default 16 KiB + 48 KiB).
func WithTranscriptLimit(head, tail int) Option {
	return func(o *options) { o.headBytes, o.tailBytes = head, tail }
}

// Open opens (creating it 0600 if needed) the database at path for writing,
// migrates it, and closes as ABORTED every run a crashed station left
// RUNNING. It fails if another process has the database open for writing.
func Open(path string, opts ...Option) (*Store, error) {
	o := defaultOptions()
	for _, fn := range opts {
		fn(&o)
	}
	ctx := context.Background()
	created, err := createFile(path)
	if err != nil {
		return nil, err
	}
	lock, err := lockDB(path)
	if err != nil {
		return nil, err
	}
	if created {
		o.logger.Warn("created a new, empty database: no earlier runs are in it", "db", path)
	}
	s := &Store{path: path, opt: o, log: o.logger.With("db", path), lock: lock,
		ops: make(chan *op, 4*o.maxBatch), quit: make(chan struct{}), stopped: make(chan struct{}),
		runs: map[string]*runState{}}
	if err := s.openWriter(ctx); err != nil {
		s.release()
		return nil, err
	}
	if err := s.recoverCrashed(ctx); err != nil {
		s.release()
		return nil, err
	}
	if s.reader, err = openReader(path, o.busyTimeout); err != nil {
		s.release()
		return nil, err
	}
	go s.writeLoop()
	return s, nil
}

// createFile creates the database file 0600 so the WAL and shared-memory
// files SQLite creates next to it get the same mode, and says whether it
// did. A missing (or empty) database whose WAL, shared memory or lock file
// is still there is ErrLeftovers: the database was deleted or moved while
// a station used it, and a fresh one would silently hide that history.
func createFile(path string) (bool, error) {
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.Size() > 0:
		return false, nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return false, fmt.Errorf("database %s: %w", path, err)
	}
	missing := err != nil
	for _, suffix := range []string{"-wal", "-shm", ".lock"} {
		if !missing && suffix == ".lock" {
			continue // an empty database a crashed start left behind, with its lock file
		}
		if lo, err := os.Stat(path + suffix); err == nil && (suffix != "-shm" || missing || lo.Size() > 0) {
			what := "is missing"
			if !missing {
				what = "is empty"
			}
			return false, fmt.Errorf("database %s %s but %s exists: the database was deleted or moved while a station used it; restore it, or remove %s%s to start an empty database: %w",
				path, what, path+suffix, path, suffix, ErrLeftovers)
		}
	}
	if !missing {
		return false, nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return false, fmt.Errorf("create database %s: %w", path, err)
	}
	return true, f.Close()
}

func (s *Store) openWriter(ctx context.Context) error {
	db, err := sql.Open("sqlite3", dsn(s.path, false, s.opt.busyTimeout))
	if err != nil {
		return fmt.Errorf("open database %s: %w", s.path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	s.w = db
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("open database %s: %w", s.path, err)
	}
	s.conn = conn
	var mode string
	if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("open database %s: %w", s.path, err)
	}
	if mode != "wal" {
		return fmt.Errorf("open database %s: journal mode is %q, need wal (is the file on a network or read-only filesystem?)", s.path, mode)
	}
	if err := migrate(ctx, conn); err != nil {
		return fmt.Errorf("database %s: %w", s.path, err)
	}
	return nil
}

// dsn puts every pragma in the connection string so each connection gets
// them: WAL, the busy timeout, foreign keys, BEGIN IMMEDIATE for writes.
func dsn(path string, readOnly bool, busy time.Duration) string {
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(busy.Milliseconds()))
	q.Set("_foreign_keys", "on")
	q.Set("_stmt_cache_size", "32")
	if readOnly {
		q.Set("mode", "ro")
	} else {
		q.Set("_journal_mode", "WAL")
		q.Set("_synchronous", "NORMAL")
		q.Set("_txlock", "immediate")
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// Reader returns the store's read side for reports.
func (s *Store) Reader() *Reader { return s.reader }

// Close stops the writer after the queued writes, then closes the files.
// Runs still in flight stay RUNNING; the next Open closes them as ABORTED.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.quit)
		<-s.stopped
		s.closeErr = s.release()
	})
	return s.closeErr
}

// release closes whatever Open managed to open.
func (s *Store) release() error {
	var errs []error
	if s.reader != nil {
		errs = append(errs, s.reader.Close())
	}
	if s.conn != nil {
		errs = append(errs, s.conn.Close())
	}
	if s.w != nil {
		errs = append(errs, s.w.Close())
	}
	if s.lock != nil {
		errs = append(errs, s.lock.release())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close database %s: %w", s.path, err)
	}
	return nil
}

// ErrInUse is returned by Open when another process writes the database.
var ErrInUse = errors.New("database is in use by another station process")

// ErrLeftovers is returned by Open when the database is missing (or empty)
// but its WAL, shared memory or lock file is there.
var ErrLeftovers = errors.New("database files left without their database")

// errNotExist makes a missing file recognisable with errors.Is(err, fs.ErrNotExist).
func errNotExist(path string) error {
	return fmt.Errorf("database %s: %w", path, fs.ErrNotExist)
}
