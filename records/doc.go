// Package records is the line's memory: a SQLite file that holds every run,
// its steps, a bounded redacted transcript, and the rollups the supervisor's
// reports read.
//
// Read it top down:
//
//	store.go       Open / Close: file created 0600, WAL, busy_timeout, one
//	               writer connection plus a read pool, a lock file so only one
//	               station writes, migrations, crash recovery
//	schema.go      numbered migrations (migrations/*.sql, PRAGMA user_version)
//	writer.go      the single writer goroutine: group commit, synchronous=FULL
//	               for the transactions that carry a run start or a verdict
//	record.go      Store.Record, the station.Recorder the engine calls
//	finish.go      ending a run (verdict or crash recovery): attempt number,
//	               unit history, daily rollups, cycle-time histograms
//	transcript.go  the bounded transcript: head and tail kept, secrets scrubbed
//	import.go      Store.Import: whole finished runs (seeding, migration)
//	reader.go      OpenReader (read-only), filters, time parsing
//	summary.go     Reader.Summary: rollups for whole days, raw runs at the edges
//	export.go      Reader.ExportRuns (CSV, JSON), Reader.Unit, Reader.Transcript
//	render.go      text tables for people
//	hist.go        log-scale histograms (percentiles within 1 %)
//
// Invariants. Record returns nil for a verdict only after its transaction
// committed with synchronous=FULL; every failure is a *station.Error with
// code RECORD_FAILED, so the engine turns the verdict into ERROR, never PASS,
// and the store records that ERROR once the file takes writes again. Open
// closes runs a crashed station left RUNNING as ABORTED, with the step they
// were in. No pre-shared key reaches the file: a run keeps the PSK identity
// and the SHA-256 the modem reported, and transcripts are scrubbed of
// %CMNG key content and PEM private keys whatever the producer did.
//
// Not kept: the transcript of a run cut short by a crash (it lives in
// memory until the verdict); the crash-recovered run has its steps and
// the step it was in.
package records
