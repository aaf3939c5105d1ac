#!/usr/bin/env bash
# Runs every fenced block of README.md that is marked for it, exactly as
# written, from the repository's top: a line `<!-- ci: run -->` right
# before a ```sh block. A README that stops working fails CI (make docs-check).
#
# Each block runs in its own `bash -e -o pipefail`. When a block fails, its
# `station sim stop` lines run anyway, so no virtual line is left behind.
set -euo pipefail
cd "$(dirname "$0")/.."

blocks=$(mktemp -d)
trap 'rm -rf "$blocks"' EXIT
awk -v dir="$blocks" '
	/^<!-- ci: run -->$/ { marked = 1; next }
	marked && /^```sh$/ { n++; file = sprintf("%s/block%02d.sh", dir, n); inblock = 1; marked = 0; next }
	inblock && /^```$/ { inblock = 0; close(file); next }
	inblock { print > file; next }
	{ marked = 0 }
' README.md

shopt -s nullglob
files=("$blocks"/block*.sh)
if [ ${#files[@]} -eq 0 ]; then
	echo "readme-run: no block marked <!-- ci: run --> in README.md" >&2
	exit 1
fi
for f in "${files[@]}"; do
	echo "readme-run: $(basename "$f") ($(wc -l <"$f") lines)"
	if ! bash -e -o pipefail "$f"; then
		echo "readme-run: $(basename "$f") failed; stopping its virtual lines" >&2
		grep -E 'station sim stop' "$f" | bash || true
		exit 1
	fi
done
echo "readme-run: ${#files[@]} block(s) ran"
