#!/bin/sh
# Counter that reports the signals it receives: "got USR1 at N" for SIGUSR1,
# and for SIGTERM "got TERM at N", then exits 143. Usage: trapper.sh LIMIT DELAY
limit=$1 delay=$2
i=0
trap 'echo "got USR1 at $i"' USR1
trap 'echo "got TERM at $i"; exit 143' TERM
while [ "$i" -lt "$limit" ]; do
	i=$((i + 1))
	echo "count $i"
	sleep "$delay"
done
echo "finished at $i"
