package records

import (
	"context"
	"database/sql"
	"fmt"

	"nrfline/station"
)

var _ station.History = (*Store)(nil)

// UnitHistory answers the line rules (rules.max_attempts, rules.reprovision)
// from this station's records: how many finished runs identified the IMEI
// and whether one passed. RUNNING rows are not attempts yet; a run that
// crashed was closed ABORTED by recovery and counts, as it reached the unit.
func (s *Store) UnitHistory(ctx context.Context, imei string) (station.UnitHistory, error) {
	return s.reader.UnitHistory(ctx, imei)
}

// UnitHistory is the same question on a read-only pool.
func (r *Reader) UnitHistory(ctx context.Context, imei string) (station.UnitHistory, error) {
	var attempts int
	var passed sql.NullBool
	err := r.db.QueryRowContext(ctx,
		`SELECT count(*), max(outcome = 'PASS') FROM runs WHERE imei = ? AND imei <> '' AND outcome <> 'RUNNING'`, imei,
	).Scan(&attempts, &passed)
	if err != nil {
		return station.UnitHistory{}, fmt.Errorf("history of %s: %w", imei, err)
	}
	return station.UnitHistory{Attempts: attempts, Passed: passed.Bool, Source: "local"}, nil
}
