#!/usr/bin/env bash
# make bench: the records' speed targets, measured on a seeded database.
#
#   station report runs --format csv   ≤ 1.5 × sqlite3 -csv DB "SELECT * FROM runs"
#   station report summary             ≤ 3   × sqlite3 DB "SELECT outcome, count(*) FROM runs GROUP BY outcome"
#   verdict commit p99                 ≤ 10 ms with 32 concurrent writers
#
# Environment: RUNS (default 200000), DB (default /tmp/station-bench.db; seeded
# with `go run ./tools/seeddb` unless it already holds RUNS runs), REPEAT (timed
# runs per command, default 7; the median counts), BIN (default bin/station).
# Exits 1 if a target is missed.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-200000}
DB=${DB:-/tmp/station-bench.db}
REPEAT=${REPEAT:-7}
BIN=${BIN:-bin/station}
GO=${GO:-go}

command -v sqlite3 >/dev/null || { echo "bench: the sqlite3 shell is needed for the baselines (apt-get install sqlite3)" >&2; exit 2; }
[ -x "$BIN" ] || $GO build -o "$BIN" ./cmd/station

have=0
if [ -f "$DB" ] && "$BIN" report summary --db "$DB" >/dev/null 2>&1; then
	have=$(sqlite3 "$DB" "SELECT count(*) FROM runs" 2>/dev/null || echo 0)
fi
if [ "$have" -lt "$RUNS" ]; then
	rm -f "$DB" "$DB-wal" "$DB-shm" "$DB.lock"
	echo "bench: seeding $RUNS runs into $DB …"
	$GO run ./tools/seeddb -runs "$RUNS" -db "$DB"
fi
have=$(sqlite3 "$DB" "SELECT count(*) FROM runs")

# median wall time in seconds of a shell command, after one warm-up run
median() {
	local cmd=$1 times=() t0 t1
	bash -c "$cmd" >/dev/null || { echo "bench: failed: $cmd" >&2; return 1; }
	for _ in $(seq "$REPEAT"); do
		t0=$(date +%s%N)
		bash -c "$cmd" >/dev/null || { echo "bench: failed: $cmd" >&2; return 1; }
		t1=$(date +%s%N)
		times+=("$(( (t1 - t0) / 1000 ))")
	done
	printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.3f", a[int((NR+1)/2)]/1e6}'
}

csv_sqlite=$(median "sqlite3 -csv '$DB' 'SELECT * FROM runs'")
csv_station=$(median "'$BIN' report runs --db '$DB' --format csv")
grp_sqlite=$(median "sqlite3 '$DB' 'SELECT outcome, count(*) FROM runs GROUP BY outcome'")
sum_station=$(median "'$BIN' report summary --db '$DB'")

# verdict commit latency: Go benchmark, 32 slots recording whole runs at once
# into a copy of the seeded database (a line with a year of runs behind it)
p99s=()
for _ in 1 2 3; do
	out=$(RECORDS_BENCH_DB="$DB" $GO test -run '^$' -bench 'BenchmarkVerdictCommit$' -benchtime 3200x ./records/) ||
		{ echo "bench: go test -bench failed:" >&2; echo "$out" >&2; exit 1; }
	p99s+=("$(echo "$out" | awk '/BenchmarkVerdictCommit/ {for (i = 1; i <= NF; i++) if ($i == "p99-ms") print $(i-1)}')")
done
p99=$(printf '%s\n' "${p99s[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')

awk -v rows="$have" -v cs="$csv_sqlite" -v ct="$csv_station" -v gs="$grp_sqlite" -v st="$sum_station" \
	-v p99="$p99" -v all="${p99s[*]}" -v rep="$REPEAT" '
function verdict(ok) { return ok ? "ok" : "MISSED" }
BEGIN {
	r1 = ct / cs; r2 = st / gs
	printf "records bench on %d runs (median of %d timed runs each)\n", rows, rep
	printf "  report runs --format csv   %7.3f s   sqlite3 -csv SELECT *      %7.3f s   ratio %.2f (target <= 1.5)  %s\n", ct, cs, r1, verdict(r1 <= 1.5)
	printf "  report summary             %7.3f s   sqlite3 GROUP BY outcome   %7.3f s   ratio %.2f (target <= 3)    %s\n", st, gs, r2, verdict(r2 <= 3)
	printf "  verdict commit p99, 32 concurrent writers, on a copy of it: %.2f ms (median of 3 runs: %s) (target <= 10 ms)  %s\n", p99, all, verdict(p99 <= 10)
	exit (r1 <= 1.5 && r2 <= 3 && p99 <= 10) ? 0 : 1
}'
