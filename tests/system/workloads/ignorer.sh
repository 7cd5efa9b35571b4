#!/bin/sh
# Counter that ignores SIGINT and SIGTERM (so do its children: an ignored
# signal stays ignored across exec), like a job that traps LSF's polite
# signals and carries on; only SIGKILL ends it. With FILE, counts go to FILE
# (opened by this shell), so the job does not depend on its stdout either: it
# would die of SIGPIPE once nobody reads its output.
# Usage: ignorer.sh LIMIT DELAY [FILE]
limit=$1 delay=$2
if [ -n "${3:-}" ]; then exec >"$3"; fi
trap '' INT TERM
i=0
while [ "$i" -lt "$limit" ]; do
	i=$((i + 1))
	echo "count $i"
	sleep "$delay"
done
echo "finished at $i"
