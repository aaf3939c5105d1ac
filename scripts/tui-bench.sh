#!/usr/bin/env bash
# make bench: the bench TUI's speed targets (issue 9).
#
#   one frame of 32 busy slots on 200×60          ≤ 2 ms   (BenchmarkView32Busy)
#   a verdict on screen during 10,000 device
#   lines/s across 32 slots, slowest of 200       ≤ 100 ms (BenchmarkEventStorm)
#
# The storm runs the TUI as a real program; a verdict counts as on screen
# when the renderer writes its card to the terminal. Exits 1 if a target is
# missed.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}

out=$($GO test ./ui -run '^$' -bench 'BenchmarkView32Busy$' -benchtime 500x) ||
	{ echo "tui-bench: go test -bench failed:" >&2; echo "$out" >&2; exit 1; }
frame=$(echo "$out" | awk '/BenchmarkView32Busy/ {for (i = 1; i <= NF; i++) if ($i == "ms/frame") print $(i-1)}')

out=$($GO test ./ui -run '^$' -bench 'BenchmarkEventStorm$' -benchtime 200x) ||
	{ echo "tui-bench: go test -bench failed:" >&2; echo "$out" >&2; exit 1; }
metric() { echo "$out" | awk -v m="$1" '/BenchmarkEventStorm/ {for (i = 1; i <= NF; i++) if ($i == m) print $(i-1)}'; }
p50=$(metric p50-ms) p99=$(metric p99-ms) worst=$(metric max-ms) sent=$(metric lines-sent/s) drawn=$(metric lines-drawn/s)

echo "tui: View, 32 busy slots at 200x60: ${frame} ms/frame (goal <= 2)"
echo "tui: verdict on screen during ${sent} device lines/s (${drawn}/s drawn): p50 ${p50} ms, p99 ${p99} ms, max ${worst} ms (goal <= 100)"
awk -v f="$frame" -v w="$worst" 'BEGIN { bad = 0
	if (f > 2) { print "tui-bench: a frame takes " f " ms, more than 2 ms" > "/dev/stderr"; bad = 1 }
	if (w > 100) { print "tui-bench: a verdict took " w " ms to reach the screen, more than 100 ms" > "/dev/stderr"; bad = 1 }
	exit bad }'
