package records

import (
	"context"
	"database/sql"
	"fmt"

	"nrfline/station"
)

// Run is a whole finished run, for Import: seeding a database, or bringing
// in runs recorded elsewhere.
type Run struct {
	ID         string
	Start      station.RunStart
	Identity   station.Identity // zero if the run ended before identify
	Steps      []station.StepResult
	Verdict    station.Verdict
	Transcript []string // optional lines; scrubbed and bounded like live ones
}

// Import writes finished runs in one durable transaction, through the same
// code that records live runs (attempt numbers, unit history, rollups).
// Either all runs are stored or none.
func (s *Store) Import(ctx context.Context, runs []Run) error {
	type prepared struct {
		row   runRow
		gz    []byte
		stats transcriptStats
	}
	prep := make([]prepared, len(runs))
	for i, r := range runs {
		prep[i].row = runRow{id: r.ID, start: r.Start, identity: r.Identity}
		if len(r.Transcript) == 0 {
			continue
		}
		tr := newTranscript(s.opt.headBytes, s.opt.tailBytes)
		for _, l := range r.Transcript {
			tr.add(r.Verdict.Ended, "log", l)
		}
		var text []byte
		var err error
		text, prep[i].stats = tr.text()
		if prep[i].gz, err = s.gz.compress(text); err != nil {
			return station.Errorf(station.RecordFailed, err, "import run %s", r.ID)
		}
	}
	o := newOp(fmt.Sprintf("import %d runs", len(runs)), true, func(ctx context.Context, tx *sql.Tx) error {
		cyc := cycleAdds{}
		for i, r := range runs {
			if err := importOne(ctx, tx, prep[i].row, r, prep[i].gz, prep[i].stats, cyc); err != nil {
				return fmt.Errorf("run %s: %w", r.ID, err)
			}
		}
		return cyc.flush(ctx, tx)
	})
	o.after = func(err error) {
		if err == nil {
			s.reader.finishes.Add(int64(len(runs)))
		}
	}
	if err := s.submit(ctx, o); err != nil {
		return station.Errorf(station.RecordFailed, err, "import %d runs", len(runs))
	}
	return nil
}

func importOne(ctx context.Context, tx *sql.Tx, row runRow, r Run, gz []byte, st transcriptStats, cyc cycleAdds) error {
	if err := insertRun(ctx, tx, row); err != nil {
		return err
	}
	if err := updateIdentity(ctx, tx, row, r.Verdict.Ended); err != nil {
		return err
	}
	if err := insertSteps(ctx, tx, r.ID, 1, r.Steps); err != nil {
		return err
	}
	if err := finishRun(ctx, tx, endingOf(row, r.Verdict, r.Steps), cyc); err != nil {
		return err
	}
	if gz == nil {
		return nil
	}
	return insertTranscript(ctx, tx, r.ID, gz, st)
}
