#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs each libFuzzer target for a fixed time ("make fuzz"), on a copy of its seeds
# and regressions in OUT/corpus/<name>/, so that the tree is left as it was. Prints
# one line per target and fails if any target crashed. A crashing input is kept in
# OUT/crashes/<name>/ and the whole output in OUT/log/<name>.log.
#
#   run-fuzz.sh SECONDS MAX_LEN OUT NAME...
set -u

[ $# -ge 4 ] || { echo "usage: $0 SECONDS MAX_LEN OUT NAME..." >&2; exit 2; }
secs=$1 max_len=$2 out=$3
shift 3
here=$(dirname "$0")
fail=0

# The inputs of known-bugs.txt crash by definition; they stay out of the corpus.
is_known() {
	sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e 's/^[[:space:]]*//' "$here/known-bugs.txt" |
		grep -qxF "$1"
}

count() {
	find "$1" -type f | wc -l
}

stat_of() {
	sed -n "s/^stat::$1: *//p" "$2" | tail -n 1
}

for name in "$@"; do
	bin=$out/fuzz_$name
	corpus=$out/corpus/$name
	crashes=$out/crashes/$name
	log=$out/log/$name.log
	rm -rf "$corpus" "$crashes"
	mkdir -p "$corpus" "$crashes" "$out/log"
	for f in "$here/corpus/$name"/* "$here/regressions/$name"/*; do
		[ -f "$f" ] || continue
		rel=${f#"$here/"}
		is_known "$rel" && continue
		cp "$f" "$corpus/$(basename "$(dirname "$f")")-$(basename "$f")"
	done
	seeds=$(count "$corpus")

	"$bin" -max_total_time="$secs" -max_len="$max_len" -timeout=10 -print_final_stats=1 \
		-artifact_prefix="$crashes/" "$corpus" >"$log" 2>&1
	rc=$?

	runs=$(stat_of number_of_executed_units "$log")
	eps=$(stat_of average_exec_per_sec "$log")
	cov=$(sed -n 's/.* cov: \([0-9]*\) .*/\1/p' "$log" | tail -n 1)
	found=$(find "$crashes" -type f | head -n 1)
	if [ "$rc" -ne 0 ] || [ -n "$found" ]; then
		echo "fuzz: $name FAILED (status $rc) after ${runs:-?} runs; input: $found; log: $log"
		grep -E 'ERROR: |SUMMARY: |runtime error|property failed' "$log" | head -n 5 | sed 's/^/    /'
		fail=1
	else
		echo "fuzz: $name ok: ${runs:-?} runs in ${secs}s, ${eps:-?} exec/s, cov ${cov:-?}," \
		     "corpus $seeds -> $(count "$corpus") inputs"
	fi
done
exit $fail
