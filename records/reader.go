package records

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"

	"nrfline/station"
)

// Reader answers the supervisor's questions from a read-only connection
// pool. It never writes: a report on a live station's database sees every
// committed run and leaves RUNNING runs alone.
type Reader struct {
	path string
	db   *sql.DB

	finishes atomic.Int64 // runs the Store finished since Open (the journal's Finishes)
}

// ErrSchema is returned by OpenReader for a file that is not a station
// database or was written by a newer station.
var ErrSchema = errors.New("not a station database of a known schema")

// OpenReader opens the database at path read-only. A missing file is an
// error that matches fs.ErrNotExist.
func OpenReader(path string) (*Reader, error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, errNotExist(path)
		}
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	r, err := openReader(path, 5*time.Second)
	if err != nil {
		return nil, err
	}
	v, err := userVersion(context.Background(), r.db)
	var se sqlite3.Error
	if errors.As(err, &se) && se.Code == sqlite3.ErrNotADB {
		r.Close()
		return nil, fmt.Errorf("database %s: %w: %w", path, ErrSchema, err)
	}
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	if v == 0 || v > SchemaVersion() {
		r.Close()
		return nil, fmt.Errorf("database %s: schema version %d, this station knows 1..%d: %w", path, v, SchemaVersion(), ErrSchema)
	}
	return r, nil
}

func openReader(path string, busy time.Duration) (*Reader, error) {
	db, err := sql.Open("sqlite3", dsn(path, true, busy))
	if err != nil {
		return nil, fmt.Errorf("open database %s read-only: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	return &Reader{path: path, db: db}, nil
}

// Close closes the read pool.
func (r *Reader) Close() error { return r.db.Close() }

// Filter selects runs by start time (Since inclusive, Until exclusive; zero
// means open), outcome and IMEI (empty means any).
type Filter struct {
	Since, Until time.Time
	Outcome      station.Outcome
	IMEI         string
}

// where renders the filter as SQL conditions on runs (alias r).
func (f Filter) where() (string, []any) {
	var conds []string
	var args []any
	if !f.Since.IsZero() {
		conds, args = append(conds, "r.started >= ?"), append(args, ts(f.Since))
	}
	if !f.Until.IsZero() {
		conds, args = append(conds, "r.started < ?"), append(args, ts(f.Until))
	}
	if f.Outcome != "" {
		conds, args = append(conds, "r.outcome = ?"), append(args, string(f.Outcome))
	}
	if f.IMEI != "" {
		conds, args = append(conds, "r.imei = ?"), append(args, f.IMEI)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// ParseOutcome reads an outcome name (any case).
func ParseOutcome(s string) (station.Outcome, error) {
	o := station.Outcome(strings.ToUpper(strings.TrimSpace(s)))
	if !validOutcome(o) {
		return "", fmt.Errorf("outcome %q: want PASS, FAIL, ERROR, ABORTED or RUNNING", s)
	}
	return o, nil
}

// ParseTime reads a --since/--until value: RFC 3339, or YYYY-MM-DD as the
// start of that day in loc. With endOfDay, a bare date means the end of that
// day (the start of the next), so "--until 2025-03-31" includes March 31.
func ParseTime(s string, loc *time.Location, endOfDay bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := time.ParseInLocation(time.DateOnly, s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: want RFC 3339 (2025-03-01T08:00:00Z) or YYYY-MM-DD", s)
	}
	if endOfDay {
		d = d.AddDate(0, 0, 1)
	}
	return d, nil
}
