// Package central keeps the line-wide records in PostgreSQL ([central] in
// the config): a replicator ships every finished run from the station's
// SQLite journal (station.Journal), line-wide reports read them back, and
// History answers the line rules from the whole line, falling back to the
// station's own records when PostgreSQL cannot be reached.
//
// SQLite stays the station's durable journal: a verdict is committed there
// first, and nothing on a unit's path waits for PostgreSQL.
package central
