#!/bin/sh
# Counter workload: prints "count 1", "count 2", ... keeping the count only in
# the shell's memory, so a restored job can only continue if its memory was
# restored. Usage: counter.sh LIMIT DELAY EXIT_CODE [FILE]
# With FILE, counts go to FILE (opened with '>' by this shell) instead of stdout.
limit=$1 delay=$2 code=$3
if [ -n "${4:-}" ]; then exec >"$4"; fi
i=0
while [ "$i" -lt "$limit" ]; do
	i=$((i + 1))
	echo "count $i"
	sleep "$delay"
done
echo "finished at $i"
exit "$code"
