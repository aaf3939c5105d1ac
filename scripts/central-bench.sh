#!/usr/bin/env bash
# make bench: the line-wide records' targets (issue 13), on a throwaway
# PostgreSQL the bench starts itself (fsync on):
#
#   replication lag p99 while PostgreSQL is up        ≤ 2 s
#   catch-up after an outage                          ≥ 5,000 runs/s
#   report summary on 1M runs in PostgreSQL           ≤ 3 × psql GROUP BY outcome
#   cycle time with and without [central]             within 1 %
#
# Environment: BACKLOG (runs recorded during the outage, default 100000),
# SUMMARY_RUNS (default 1000000), CYCLE_REPS (shifts each way, default 3),
# BIN (default bin/station). Exits 1 if a target is missed; skips (exit 0,
# with a note) when PostgreSQL is not installed.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/station}
GO=${GO:-go}
[ -x "$BIN" ] || $GO build -o "$BIN" ./cmd/station
set +e
$GO run ./tools/centralbench -bin "$BIN" -backlog "${BACKLOG:-100000}" -summary-runs "${SUMMARY_RUNS:-1000000}" \
	-cycle-reps "${CYCLE_REPS:-3}"
code=$?
set -e
if [ "$code" -eq 2 ]; then
	echo "central bench: skipped, PostgreSQL (initdb, pg_ctl) is not installed (apt-get install postgresql)"
	exit 0
fi
exit "$code"
