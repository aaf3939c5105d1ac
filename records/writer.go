package records

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
)

// op is one unit of work for the writer: it runs inside a transaction the
// writer shares with the other ops queued at the same time (group commit).
// An op must only write through tx, so that it can run again in a
// transaction of its own when another op of its batch failed.
type op struct {
	name    string
	durable bool // commit with synchronous=FULL (run start, verdict)
	apply   func(ctx context.Context, tx *sql.Tx) error
	after   func(err error) // optional: runs on the writer after the commit, before the reply

	state atomic.Int32 // opQueued → opTaken (writer) or opAbandoned (caller gave up)
	done  chan error
}

const (
	opQueued int32 = iota
	opTaken
	opAbandoned
)

// errClosed is what writes get after Close.
var errClosed = errors.New("records are closed")

func newOp(name string, durable bool, apply func(context.Context, *sql.Tx) error) *op {
	return &op{name: name, durable: durable, apply: apply, done: make(chan error, 1)}
}

// submit queues o and waits for its result. The result is the truth: nil
// means committed. If ctx ends before the writer took o, o is withdrawn and
// never runs; once taken, submit waits for the commit's outcome (bounded by
// the busy timeout) so that an error never hides a write that happened.
func (s *Store) submit(ctx context.Context, o *op) error {
	select {
	case <-s.quit:
		return errClosed
	default:
	}
	select {
	case s.ops <- o:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.stopped:
		return errClosed
	}
	select {
	case err := <-o.done:
		return err
	case <-ctx.Done():
		if o.state.CompareAndSwap(opQueued, opAbandoned) {
			return ctx.Err()
		}
		return <-o.done
	case <-s.stopped:
		select {
		case err := <-o.done:
			return err
		default:
			return errClosed
		}
	}
}

// writeLoop owns the writer connection: it takes every op queued at the
// moment into one transaction and answers each after the commit.
func (s *Store) writeLoop() {
	defer close(s.stopped)
	for {
		select {
		case o := <-s.ops:
			s.runBatch(s.collect(o))
		case <-s.quit:
			for {
				select {
				case o := <-s.ops:
					s.runBatch(s.collect(o))
				default:
					s.flushPending()
					return
				}
			}
		}
	}
}

// collect takes first and whatever else is queued, up to maxBatch ops,
// skipping ops whose caller gave up.
func (s *Store) collect(first *op) []*op {
	batch := make([]*op, 0, 8)
	take := func(o *op) {
		if o.state.CompareAndSwap(opQueued, opTaken) {
			batch = append(batch, o)
		}
	}
	take(first)
	for len(batch) < s.opt.maxBatch {
		select {
		case o := <-s.ops:
			take(o)
		default:
			return batch
		}
	}
	return batch
}

// runBatch applies the ops in one transaction and replies to each.
func (s *Store) runBatch(batch []*op) {
	if len(batch) == 0 {
		return
	}
	errs := s.applyBatch(batch)
	for i, o := range batch {
		if o.after != nil {
			o.after(errs[i])
		}
		o.done <- errs[i]
	}
	if containsNil(errs) {
		s.retryPending() // the file takes writes again
	}
}

func containsNil(errs []error) bool {
	for _, e := range errs {
		if e == nil {
			return true
		}
	}
	return false
}

// applyBatch returns one error per op. It first tries all ops in one
// transaction; if any op fails, that transaction is rolled back and each op
// runs in a transaction of its own, so one bad op cannot sink the others.
func (s *Store) applyBatch(batch []*op) []error {
	errs := make([]error, len(batch))
	failed, err := s.applyTx(batch)
	switch {
	case err == nil:
		return errs
	case failed < 0 || len(batch) == 1:
		// the transaction itself failed (lock, disk, file): so does every op
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	for i, o := range batch {
		_, errs[i] = s.applyTx([]*op{o})
	}
	return errs
}

// applyTx applies ops in one transaction and commits. It returns the index
// of the op that failed (or -1) and the error.
func (s *Store) applyTx(ops []*op) (int, error) {
	ctx := context.Background() // every statement is bounded by busy_timeout
	durable := false
	for _, o := range ops {
		durable = durable || o.durable
	}
	// Every batch (so every verdict) first checks the file is still the
	// database: a commit into a deleted or replaced file reaches nobody.
	if err := s.lock.check(s.path); err != nil {
		return -1, err
	}
	if err := s.setSynchronous(ctx, durable); err != nil {
		return -1, err
	}
	tx, err := s.conn.BeginTx(ctx, nil)
	if err != nil {
		return -1, fmt.Errorf("begin transaction: %w", err)
	}
	defer tx.Rollback()
	for i, o := range ops {
		if err := o.apply(ctx, tx); err != nil {
			return i, fmt.Errorf("%s: %w", o.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return -1, fmt.Errorf("commit: %w", err)
	}
	return -1, nil
}

// setSynchronous switches the writer between FULL (the transaction carries
// a run start or a verdict: durable before anyone is told) and NORMAL
// (progress: durable at the next FULL commit or checkpoint; a killed
// process loses nothing either way, only a power cut could).
func (s *Store) setSynchronous(ctx context.Context, full bool) error {
	mode := "NORMAL"
	if full {
		mode = "FULL"
	}
	if mode == s.syncMode {
		return nil
	}
	s.syncMode = ""
	if _, err := s.conn.ExecContext(ctx, "PRAGMA synchronous = "+mode); err != nil {
		return fmt.Errorf("set synchronous %s: %w", mode, err)
	}
	s.syncMode = mode
	return nil
}
