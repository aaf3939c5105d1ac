package records

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
)

// One failing op of a group commit does not undo the others: the batch is
// replayed op by op.
func TestBadOpDoesNotSinkItsBatch(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "w.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	insert := func(v string) *op {
		return newOp("insert "+v, false, func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO units (imei, runs, first_run, first_started, last_run, last_outcome)
				VALUES (?, 1, 'r', 't', 'r', 'PASS')`, v)
			return err
		})
	}
	bad := errors.New("this op fails")
	batch := []*op{insert("1"), newOp("bad", true, func(context.Context, *sql.Tx) error { return bad }), insert("2"), insert("1")}
	// Open has not started any write yet, so calling the writer's code
	// from here does not race with the writer goroutine.
	errs := s.applyBatch(batch)
	if errs[0] != nil || errs[2] != nil || !errors.Is(errs[1], bad) || errs[3] == nil {
		t.Fatalf("errors %v: want the 2nd (bad) and 4th (duplicate) op to fail alone", errs)
	}
	var n int
	if err := s.conn.QueryRowContext(context.Background(), `SELECT count(*) FROM units`).Scan(&n); err != nil || n != 2 {
		t.Errorf("%d units committed (%v), want 2", n, err)
	}
}
