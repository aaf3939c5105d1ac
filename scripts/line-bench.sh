#!/usr/bin/env bash
# The live line's speed targets (issue "a live line"), on the virtual line
# with the sim beside the station on this machine:
#
#   32 slots at --speed 2: 1-slot cycle / 32-slot wall ≥ 0.97 (64 slots ≥ 0.95)
#   station CPU per unit, its tool processes included: ≤ 50 ms
#   32 finished slots waiting for removal: < 0.5 % of one core over 60 s, RSS < 60 MB
#
# Each wall time is the median of LINE_RUNS runs (default 3), every run
# printed: on a 2-core VM one run varies by about 0.1 s, as much as the
# whole margin of a target. CPU per unit is that median run's.
#
# Environment: BIN (default bin/station), SPEED (default 2), IDLE (seconds of
# the idle measurement, default 60), SLOTS (default "32 64"), LINE_RUNS.
# Exits 1 if a target is missed.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/station}
SPEED=${SPEED:-2}
IDLE=${IDLE:-60}
SLOTS=${SLOTS:-32 64}
LINE_RUNS=${LINE_RUNS:-3}
[ -x "$BIN" ] || go build -o "$BIN" ./cmd/station
TCK=$(getconf CLK_TCK)
fail=0

sims=()
cleanup() { for p in "${sims[@]}"; do kill -INT "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

start_sim() { # units → sets dir and simpid
	dir=$(mktemp -d)
	"$BIN" sim --units "$1" --dir "$dir" --speed "$SPEED" >"$dir/sim.out" 2>"$dir/sim.err" &
	simpid=$!
	sims+=("$simpid")
	until grep -q '^sim: ready' "$dir/sim.out" 2>/dev/null; do sleep 0.05; done
}

# once UNITS → "wall_seconds cpu_seconds passed" of one `batch --once`; the
# CPU is the station's and its (waited-for) tool processes'.
once() {
	start_sim "$1"
	/usr/bin/time -f '%e %U %S' -o "$dir/time" "$BIN" batch --config "$dir/station.toml" --once >"$dir/batch.out" 2>"$dir/batch.err" || true
	local passed; passed=$(grep -c '==> PASS' "$dir/batch.out" || true)
	awk -v p="$passed" '{printf "%s %.3f %d\n", $1, $2 + $3, p}' "$dir/time" >"$dir/result"
	kill -INT "$simpid"; wait "$simpid" 2>/dev/null || true
}

# median N → "wall cpu passed": the run with the median wall time of N
# runs of `once`, each printed.
median() {
	local runs=() r
	for _ in $(seq "$LINE_RUNS"); do
		once "$1"
		r=$(cat "$dir/result")
		echo "  run: $1 slot(s): wall ${r%% *} s" >&2
		runs+=("$r")
	done
	printf '%s\n' "${runs[@]}" | sort -n | sed -n "$(((LINE_RUNS + 1) / 2))p"
}

read -r t1 _ p1 < <(median 1)
echo "1 slot at --speed $SPEED: cycle ${t1} s, median of $LINE_RUNS ($p1 PASS)"
for n in $SLOTS; do
	read -r tn cpu pn < <(median "$n")
	ratio=$(awk -v a="$t1" -v b="$tn" 'BEGIN{printf "%.3f", a / b}')
	per=$(awk -v c="$cpu" -v n="$n" 'BEGIN{printf "%.1f", 1000 * c / n}')
	want=0.97; [ "$n" -gt 32 ] && want=0.95
	echo "$n slots: wall ${tn} s (median of $LINE_RUNS), $pn of $n PASS, ratio ${ratio} (target ≥ $want), station CPU ${per} ms per unit (target ≤ 50)"
	awk -v r="$ratio" -v w="$want" 'BEGIN{exit !(r >= w)}' || { echo "  MISSED: ratio"; fail=1; }
	awk -v p="$per" 'BEGIN{exit !(p <= 50)}' || { echo "  MISSED: CPU per unit"; fail=1; }
	[ "$pn" -eq "$n" ] || { echo "  MISSED: not every unit passed"; fail=1; }
done

# Idle: 32 provisioned units left in their slots, the station watching.
start_sim 32
"$BIN" batch --config "$dir/station.toml" >"$dir/batch.out" 2>"$dir/batch.err" &
bpid=$!
until [ "$(grep -c '==> ' "$dir/batch.out" 2>/dev/null || true)" -ge 32 ]; do
	kill -0 "$bpid" 2>/dev/null || { echo "batch died:"; cat "$dir/batch.err"; exit 1; }
	sleep 0.2
done
sleep 2
ticks() { awk '{print $14 + $15 + $16 + $17}' "/proc/$bpid/stat"; }
a=$(ticks); sleep "$IDLE"; b=$(ticks)
rss=$(awk '/VmRSS/{print $2}' "/proc/$bpid/status")
kill -INT "$bpid"; wait "$bpid" 2>/dev/null || true
pct=$(awk -v a="$a" -v b="$b" -v t="$TCK" -v s="$IDLE" 'BEGIN{printf "%.3f", 100 * (b - a) / t / s}')
echo "32 finished slots idle for ${IDLE} s: ${pct} % of one core (target < 0.5), RSS $((rss / 1024)) MB (target < 60)"
awk -v p="$pct" 'BEGIN{exit !(p < 0.5)}' || { echo "  MISSED: idle CPU"; fail=1; }
[ "$rss" -lt $((60 * 1024)) ] || { echo "  MISSED: RSS"; fail=1; }
exit "$fail"
