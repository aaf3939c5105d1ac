package records

import (
	"context"
	"database/sql"
	"fmt"
)

// ExecOnWriter runs statements on the writer connection inside the
// writer's own transaction: tests use it to make the file refuse writes
// (PRAGMA max_page_count, PRAGMA query_only) the way a full or read-only
// disk would.
func ExecOnWriter(s *Store, stmts ...string) error {
	return s.submit(context.Background(), newOp("test statements", false, func(ctx context.Context, tx *sql.Tx) error {
		for _, q := range stmts {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		return nil
	}))
}

// Scrub exposes the transcript scrubber.
func Scrub(line string) string { return newTranscript(1<<20, 1<<20).scrub(line) }

// StepsOf reads a run's steps.
func StepsOf(ctx context.Context, r *Reader, run string) ([]StepRow, error) { return r.steps(ctx, run) }

// LimitPages caps the database at its current size, as a full disk would.
func LimitPages(s *Store, extra int) error {
	return s.submit(context.Background(), newOp("limit pages", false, func(ctx context.Context, tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "PRAGMA page_count").Scan(&n); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", n+extra))
		return err
	}))
}

// ExecOnIdleWriter runs q on the writer connection outside a transaction;
// call it only while no write is in flight.
func ExecOnIdleWriter(s *Store, q string) error {
	_, err := s.conn.ExecContext(context.Background(), q)
	return err
}
