#!/usr/bin/env bash
# How fast a virtual line is ready: time from launching
# `station sim --units 4 --speed 20` to its ready line, then every unit in
# the written config is asked AT+CGSN=1 through a real serial open.
# Prints the median of REPEAT starts (default 5). Exits 1 if any start took
# 2 s or more, or a unit did not answer +CGSN: "<15 digits>" then OK.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/station}
REPEAT=${REPEAT:-5}
[ -x "$BIN" ] || go build -o "$BIN" ./cmd/station
go build -o bin/atping ./tools/atping

times=()
for i in $(seq "$REPEAT"); do
	dir=$(mktemp -d)
	t0=$(date +%s%N)
	"$BIN" sim --units 4 --dir "$dir" --speed 20 >"$dir/out" 2>"$dir/err" &
	pid=$!
	until grep -q '^sim: ready config=' "$dir/out" 2>/dev/null; do
		kill -0 "$pid" 2>/dev/null || { echo "sim died:"; cat "$dir/err"; exit 1; }
		sleep 0.005
	done
	t1=$(date +%s%N)
	times+=("$(( (t1 - t0) / 1000000 ))")
	if [ "$i" -eq 1 ]; then
		cat "$dir/out"
		bin/atping --config "$dir/station.toml" AT+CGSN=1 | tee "$dir/cgsn"
		answered=$(grep -cE ': \+CGSN: "[0-9]{15}" \| OK$' "$dir/cgsn" || true)
		[ "$answered" -eq 4 ] || { echo "sim-start: $answered of 4 units answered AT+CGSN=1 as expected" >&2; exit 1; }
	fi
	kill -INT "$pid"; wait "$pid" || true
	rm -rf "$dir"
done
printf '%s\n' "${times[@]}" | sort -n | awk -v r="$REPEAT" '{a[NR]=$1} END {
	printf "station sim --units 4 --speed 20: ready in %d ms (median of %d; min %d, max %d; target < 2000 ms)  %s\n", a[int((NR+1)/2)], r, a[1], a[NR], (a[NR] < 2000 ? "ok" : "MISSED")
	exit (a[NR] < 2000) ? 0 : 1
}'
