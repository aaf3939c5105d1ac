#!/usr/bin/env bash
# The bench TUI as an operator uses it, in a real terminal (tmux): runs
# `station demo --units 4`, types an operator id as a barcode scanner would,
# waits for four PASS cards, opens a slot's detail, retests a slot, quits
# with q. Fails, showing the screen, on any step that does not happen.
#
# Environment: BIN (default bin/station, built if missing), SPEED (the
# virtual line's --speed, default 10), CAPTURE_DIR (keep the screens there).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/station}
GO=${GO:-go}
SPEED=${SPEED:-10}

command -v tmux >/dev/null || { echo "tui-demo: tmux is needed (apt-get install tmux)" >&2; exit 2; }
[ -x "$BIN" ] || $GO build -o "$BIN" ./cmd/station
BIN=$(realpath "$BIN")
work=$(mktemp -d)
shots=${CAPTURE_DIR:-$work}
mkdir -p "$shots"
sock="tui-demo-$$"
trap 'tmux -L "$sock" kill-server 2>/dev/null || true; rm -rf "$work"' EXIT

tmux -L "$sock" new-session -d -s demo -x 100 -y 30 \
	"'$BIN' demo --units 4 --speed $SPEED --dir '$work/line'; echo \$? > '$work/exit'; sleep 60"
keys() { tmux -L "$sock" send-keys -t demo "$@"; }
screen() { tmux -L "$sock" capture-pane -p -t demo; }
passes() { screen | grep -o '✔ PASS' | wc -l; }
# verdicts today, from the header: "today ✔ 4 PASS  ✘ 1 FAIL"
verdicts() { screen | sed -n 's/.*today ✔ \([0-9]*\) PASS  ✘ \([0-9]*\) FAIL.*/\1 \2/p' | awk '{print $1 + $2}'; }
todayPass() { screen | sed -n 's/.*today ✔ \([0-9]*\) PASS.*/\1/p'; }

# step WHAT SECONDS CONDITION...: wait until the condition (a shell command)
# holds, or fail with the screen.
step() {
	local what=$1 secs=$2 end
	shift 2
	end=$(($(date +%s) + secs))
	while [ "$(date +%s)" -lt "$end" ]; do
		if eval "$*"; then
			echo "tui-demo: ok: $what"
			return 0
		fi
		sleep 0.2
	done
	echo "tui-demo: FAILED: $what (not within ${secs} s). Screen:" >&2
	screen >&2
	exit 1
}

step "the operator prompt" 30 'screen | grep -q "operator id"'
keys "OP-0042" Enter
step "the operator in the header" 10 'screen | grep -q "operator OP-0042"'
step "four PASS cards" 90 '[ "$(passes)" -eq 4 ]'
screen >"$shots/four-pass.txt"
keys Enter
step "the detail of A1: steps, AT transcript, verdict" 10 \
	'screen | grep -q "STEPS" && screen | grep -q "AT TRANSCRIPT" && screen | grep -q "VERDICT"'
screen >"$shots/detail.txt"
keys Escape
step "back on the grid" 10 '[ "$(passes)" -eq 4 ]'
keys l r
step "retest of A2 accepted" 10 'screen | grep -q "retest A2: done"'
# A retest of a unit that passed must pass again: its new firmware must not
# bootstrap with the old key while it is identified (inject.Identify).
step "the retest's verdict, recorded: a fifth PASS today" 90 '[ "$(verdicts)" = 5 ] && [ "$(todayPass)" = 5 ] && screen | grep -q " 0/4 running"'
screen | sed -n 2p
keys q
step "q quits (nothing runs)" 20 '[ -s "$work/exit" ]'
code=$(cat "$work/exit")
[ "$code" -eq 0 ] || { echo "tui-demo: FAILED: station demo exited $code" >&2; screen >&2; exit 1; }
echo "tui-demo: ok: station demo exited 0"
