package central

import (
	"context"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5"

	embedded "nrfline/internal/migrate"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrationLock is the advisory lock key held while migrating, so two
// stations connecting at once never apply a migration twice.
const migrationLock = 0x6e72_666c_696e_6501 // "nrfline" + 1

// migrations returns the numbered migrations in order; migration i (from 0)
// brings the schema from version i to i+1.
func migrations() ([]string, error) { return embedded.Load(migrationFS, "migrations/*.sql") }

// SchemaVersion is the schema version this build writes.
func SchemaVersion() int {
	m, err := migrations()
	if err != nil {
		return 0
	}
	return len(m)
}

// Migrate brings the central schema up to date, one transaction per
// migration, under a session advisory lock: a second station waits for the
// first and then finds nothing to do. It returns the versions before and
// after. A database from a newer station is refused.
func Migrate(ctx context.Context, conn *pgx.Conn) (from, to int, err error) {
	all, err := migrations()
	if err != nil {
		return 0, 0, err
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(migrationLock)); err != nil {
		return 0, 0, fmt.Errorf("lock the central schema: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(migrationLock))
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())`); err != nil {
		return 0, 0, fmt.Errorf("create schema_version: %w", err)
	}
	have, err := version(ctx, conn)
	if err != nil {
		return 0, 0, err
	}
	if have > len(all) {
		return have, have, fmt.Errorf("%w (%d > %d): use a newer station", errNewerSchema, have, len(all))
	}
	for v := have; v < len(all); v++ {
		if err := apply(ctx, conn, v+1, all[v]); err != nil {
			return have, v, err
		}
	}
	return have, len(all), nil
}

func version(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (int, error) {
	var v int
	if err := q.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("read central schema version: %w", err)
	}
	return v, nil
}

func apply(ctx context.Context, conn *pgx.Conn, v int, script string) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migration %d: begin: %w", v, err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, script); err != nil {
		return fmt.Errorf("migration %d: %w", v, err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO schema_version (version) VALUES ($1)", v); err != nil {
		return fmt.Errorf("migration %d: record version: %w", v, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migration %d: commit: %w", v, err)
	}
	return nil
}
