package records

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"nrfline/station"
)

// The journal side of the records: finished runs in order, for the
// replicator that ships them to the line's central store. A run's position
// is its SQLite rowid: runs are only ever inserted (at start, or by import)
// and never deleted, so positions only grow.

var _ station.Journal = (*Reader)(nil)

// Finished returns up to limit finished runs at or after position from, in
// position order, with their steps (measurements included) and, when asked,
// their compressed transcripts. The page is read in one snapshot.
func (r *Reader) Finished(ctx context.Context, from int64, limit int, transcripts bool) (station.JournalPage, error) {
	var page station.JournalPage
	tx, err := r.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return page, fmt.Errorf("read journal: %w", err)
	}
	defer tx.Rollback()
	err = tx.QueryRowContext(ctx, `SELECT coalesce((SELECT min(rowid) FROM runs WHERE outcome = 'RUNNING' AND rowid >= ?), 0),
		coalesce((SELECT max(rowid) FROM runs), 0) + 1`, from).Scan(&page.Holdback, &page.End)
	if err != nil {
		return page, fmt.Errorf("read journal: %w", err)
	}
	if page.Runs, err = finishedRuns(ctx, tx, from, limit); err != nil {
		return page, err
	}
	if err := attachSteps(ctx, tx, page.Runs); err != nil {
		return page, err
	}
	if transcripts {
		if err := attachTranscripts(ctx, tx, page.Runs); err != nil {
			return page, err
		}
	}
	return page, tx.Commit()
}

// Pending counts the finished runs at or after position from.
func (r *Reader) Pending(ctx context.Context, from int64) (int, error) {
	var n int
	err := r.db.QueryRowContext(ctx, `SELECT count(*) FROM runs WHERE rowid >= ? AND outcome <> 'RUNNING'`, from).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count finished runs: %w", err)
	}
	return n, nil
}

// Finishes counts the runs finished through this process's Store since it
// opened the database (0 on a Reader of its own). The Store counts runs
// after the commit that finished them (a verdict, an import), before the
// call returns, so a reader who sees the count also sees the runs.
func (r *Reader) Finishes() int64 { return r.finishes.Load() }

func finishedRuns(ctx context.Context, tx *sql.Tx, from int64, limit int) ([]station.FinishedRun, error) {
	cols := "r." + strings.Join(runColumns, ", r.")
	rows, err := tx.QueryContext(ctx, `SELECT r.rowid, `+cols+` FROM runs r
		WHERE r.rowid >= ? AND r.outcome <> 'RUNNING' ORDER BY r.rowid LIMIT ?`, from, limit)
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	defer rows.Close()
	vals := make([]sql.NullString, len(runColumns))
	ptrs := make([]any, len(vals)+1)
	var out []station.FinishedRun
	var pos int64
	ptrs[0] = &pos
	for i := range vals {
		ptrs[i+1] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("read journal: %w", err)
		}
		out = append(out, station.FinishedRun{Pos: pos, Run: runRowOf(vals)})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	return out, nil
}

// idList renders the runs' ids as SQL parameters.
func idList(runs []station.FinishedRun) (string, []any, map[string]int) {
	marks := make([]string, len(runs))
	args := make([]any, len(runs))
	index := make(map[string]int, len(runs))
	for i, fr := range runs {
		marks[i], args[i], index[fr.Run.ID] = "?", fr.Run.ID, i
	}
	return strings.Join(marks, ","), args, index
}

func attachSteps(ctx context.Context, tx *sql.Tx, runs []station.FinishedRun) error {
	if len(runs) == 0 {
		return nil
	}
	marks, args, index := idList(runs)
	rows, err := tx.QueryContext(ctx, `SELECT run_id, seq, name, started, ended, seconds, outcome, code, detail, measurements
		FROM steps WHERE run_id IN (`+marks+`) ORDER BY run_id, seq`, args...)
	if err != nil {
		return fmt.Errorf("read journal steps: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, m string
		var s station.JournalStep
		if err := rows.Scan(&id, &s.Seq, &s.Name, &s.Started, &s.Ended, &s.Seconds, &s.Outcome, &s.Code, &s.Detail, &m); err != nil {
			return fmt.Errorf("read journal steps: %w", err)
		}
		if m != "" && m != "{}" {
			if err := json.Unmarshal([]byte(m), &s.Measurements); err != nil {
				return fmt.Errorf("measurements of run %s step %s: %w", id, s.Name, err)
			}
		}
		fr := &runs[index[id]]
		fr.Steps = append(fr.Steps, s)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read journal steps: %w", err)
	}
	return nil
}

func attachTranscripts(ctx context.Context, tx *sql.Tx, runs []station.FinishedRun) error {
	if len(runs) == 0 {
		return nil
	}
	marks, args, index := idList(runs)
	rows, err := tx.QueryContext(ctx, `SELECT run_id, gz FROM transcripts WHERE run_id IN (`+marks+`)`, args...)
	if err != nil {
		return fmt.Errorf("read journal transcripts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var gz []byte
		if err := rows.Scan(&id, &gz); err != nil {
			return fmt.Errorf("read journal transcripts: %w", err)
		}
		runs[index[id]].Transcript = gz
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read journal transcripts: %w", err)
	}
	return nil
}
