#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs every test of lsf-criu and ends with "N passed, N failed, N skipped".
#   unit tests: build-asan/unit/test_* (TAP, ASan+UBSan)
#   the LSF test double's own tests: tests/lsfsim/test_*.py
#   system tests (real criu, jobs of a non-root user): tests/system/test_*.py
# LC_TESTS="pattern ..." limits the python tests to test names containing a pattern.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
pass=0 fail=0 skip=0 failed_list=
PER_FILE_TIMEOUT=${LC_TEST_TIMEOUT:-900}

note_fail() { failed_list="$failed_list\n  $1"; }

for t in build-asan/unit/test_*; do
	[ -x "$t" ] || continue
	echo "=== $t"
	out=$(timeout 300 "$t" 2>&1); rc=$?
	echo "$out"
	p=$(printf '%s\n' "$out" | grep -c '^ok .*' )
	s=$(printf '%s\n' "$out" | grep -c '^ok .*# SKIP')
	f=$(printf '%s\n' "$out" | grep -c '^not ok')
	p=$((p - s))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	[ "$f" -gt 0 ] && note_fail "$t"
	pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
done

for t in tests/lsfsim/test_*.py tests/system/test_*.py; do
	[ -f "$t" ] || continue
	echo "=== $t"
	t0=$(date +%s)
	# shellcheck disable=SC2086
	out=$(timeout -k 10 "$PER_FILE_TIMEOUT" /usr/bin/python3 tests/pyrun.py "$t" ${LC_TESTS:-} 2>&1)
	rc=$?
	echo "$out"
	echo "--- $t: $(($(date +%s) - t0)) s"
	res=$(printf '%s\n' "$out" | sed -n 's/^RESULT //p' | tail -n1)
	if [ -z "$res" ]; then
		echo "$t: no result (exit $rc, timeout ${PER_FILE_TIMEOUT}s?)"
		fail=$((fail + 1)); note_fail "$t"
		continue
	fi
	p=$(echo "$res" | sed 's/.*passed=\([0-9]*\).*/\1/')
	f=$(echo "$res" | sed 's/.*failed=\([0-9]*\).*/\1/')
	s=$(echo "$res" | sed 's/.*skipped=\([0-9]*\).*/\1/')
	[ "$f" -gt 0 ] && note_fail "$t"
	pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
done

# The fault suite's bounded subset (make faults runs every case). One result per case.
if [ -z "${LC_TESTS:-}" ] || [ "${LC_TESTS#*faults}" != "$LC_TESTS" ]; then
	echo "=== tests/faults/faults.py --subset check"
	t0=$(date +%s)
	out=$(timeout -k 10 1800 /usr/bin/python3 tests/faults/faults.py --subset check \
		--jobs "${LC_FAULT_JOBS:-2}" 2>&1)
	echo "$out"
	echo "--- faults: $(($(date +%s) - t0)) s"
	res=$(printf '%s\n' "$out" | sed -n 's/^RESULT //p' | tail -n1)
	if [ -z "$res" ]; then
		fail=$((fail + 1)); note_fail "tests/faults/faults.py"
	else
		p=$(echo "$res" | sed 's/.*passed=\([0-9]*\).*/\1/')
		f=$(echo "$res" | sed 's/.*failed=\([0-9]*\).*/\1/')
		[ "$f" -gt 0 ] && note_fail "tests/faults/faults.py"
		pass=$((pass + p)); fail=$((fail + f))
	fi
fi

# Fuzzing: the seeds and regressions once under gcc+ASan, then each libFuzzer target for a
# bounded time (LC_FUZZ_SECONDS, default 10). One result per target.
if [ -x build-fuzz/replay/fuzz_meta ]; then
	echo "=== fuzz"
	t0=$(date +%s)
	out=$(make -s fuzz-replay 2>&1; make -s fuzz FUZZ_SECONDS="${LC_FUZZ_SECONDS:-10}" 2>&1)
	echo "$out"
	echo "--- fuzz: $(($(date +%s) - t0)) s"
	p=$(printf '%s\n' "$out" | grep -cE '^fuzz-replay: ok$|^fuzz: [a-z_]+ ok:')
	f=$(printf '%s\n' "$out" | grep -cE 'FAILED')
	[ "$f" -gt 0 ] && note_fail "fuzz"
	pass=$((pass + p)); fail=$((fail + f))
fi

[ -n "$failed_list" ] && printf 'failing files:%b\n' "$failed_list"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
