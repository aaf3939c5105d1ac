package records

import (
	"context"
	"database/sql"
	"embed"
	"fmt"

	embedded "nrfline/internal/migrate"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrations returns the numbered migrations in order; migration i (from 0)
// brings the schema from user_version i to i+1.
func migrations() ([]string, error) { return embedded.Load(migrationFS, "migrations/*.sql") }

// SchemaVersion is the PRAGMA user_version this build writes.
func SchemaVersion() int {
	m, err := migrations()
	if err != nil {
		return 0
	}
	return len(m)
}

// migrate applies the missing migrations, one transaction each, on the
// writer connection. A file from a newer station is refused.
func migrate(ctx context.Context, conn *sql.Conn) error {
	all, err := migrations()
	if err != nil {
		return err
	}
	have, err := userVersion(ctx, conn)
	if err != nil {
		return err
	}
	if have > len(all) {
		return fmt.Errorf("database schema %d is newer than this station's %d: use a newer station", have, len(all))
	}
	for v := have; v < len(all); v++ {
		if err := applyMigration(ctx, conn, v+1, all[v]); err != nil {
			return err
		}
	}
	return nil
}

func applyMigration(ctx context.Context, conn *sql.Conn, version int, script string) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration %d: begin: %w", version, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, script); err != nil {
		return fmt.Errorf("migration %d: %w", version, err)
	}
	// PRAGMA takes no parameters; version is our own integer.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", version)); err != nil {
		return fmt.Errorf("migration %d: set user_version: %w", version, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %d: commit: %w", version, err)
	}
	return nil
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func userVersion(ctx context.Context, q queryer) (int, error) {
	var v int
	if err := q.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}
