#!/usr/bin/env bash
# Checks deploy/station-batch.service with systemd-analyze verify. The unit
# names /usr/local/bin/station; verify needs that binary to exist, so the
# check runs on a copy that names this tree's bin/station instead. Any
# message from verify (it only warns about unknown values) fails the check.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v systemd-analyze >/dev/null; then
	echo "check-deploy: systemd-analyze not installed (Debian: apt-get install systemd); skipped" >&2
	exit 0
fi
[ -x bin/station ] || make build
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s|/usr/local/bin/station|$PWD/bin/station|g" deploy/station-batch.service >"$tmp/station-batch.service"
out=$(systemd-analyze verify "$tmp/station-batch.service" 2>&1) || { echo "$out" >&2; exit 1; }
if [ -n "$out" ]; then
	echo "check-deploy: systemd-analyze verify complains:" >&2
	echo "$out" >&2
	exit 1
fi
grep -q '^Restart=on-failure$' deploy/station-batch.service || { echo "check-deploy: Restart=on-failure missing" >&2; exit 1; }
echo "check-deploy: deploy/station-batch.service verified"
