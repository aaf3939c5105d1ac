#!/usr/bin/env bash
# One unit's cycle time, step by step, on the virtual line at --speed 1
# (realistic simulated delays) and at --speed 1000 (simulated delays all but
# gone). The speed-1000 column is the station's own overhead (process
# start-up, AT round trips, retry intervals, database commits); the
# difference is what the simulated hardware and network cost.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/station}
[ -x "$BIN" ] || go build -o "$BIN" ./cmd/station

measure() { # speed → prints "step seconds" lines and "unit seconds"
	local dir; dir=$(mktemp -d)
	"$BIN" sim --units 1 --dir "$dir" --speed "$1" >"$dir/out" 2>"$dir/err" &
	local pid=$!
	until grep -q '^sim: ready' "$dir/out" 2>/dev/null; do sleep 0.01; done
	"$BIN" batch --config "$dir/station.toml" --once >"$dir/batch" 2>&1 || { cat "$dir/batch"; kill -INT $pid; exit 1; }
	# "HH:MM:SS A1   flash     PASS in 5.46s" and "==> PASS ... in 17.5s"
	awk 'function secs(d) { if (d ~ /ms$/) return d / 1000; if (d ~ /m[0-9]/) { split(d, a, "m"); return a[1] * 60 + a[2] } return d + 0 }
		$4 == "PASS" && $5 == "in" { print $3, secs($6) }
		$3 == "==>" && $4 == "PASS" { for (i = 5; i <= NF; i++) if ($i == "in") print "unit", secs($(i+1)) }' "$dir/batch"
	kill -INT "$pid"; wait "$pid" || true
	rm -rf "$dir"
}

measure 1 >/tmp/cycle.1
measure 1000 >/tmp/cycle.1000
echo "one unit, seconds    speed 1   speed 1000 (station overhead)   simulated delays"
join <(sort /tmp/cycle.1) <(sort /tmp/cycle.1000) |
	awk '{printf "  %-10s %10.2f %12.2f %28.2f\n", $1, $2, $3, $2-$3}' |
	sort -k1,1 -s | awk 'BEGIN{split("connect flash identify inject register probe bootstrap verify unit",o," "); for(i in o) r[o[i]]=i} {print r[$1], $0}' | sort -n | cut -d' ' -f2-
