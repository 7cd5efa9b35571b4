#!/bin/sh
# Workload of the fault suite: a counter ("count N" on stdout, the count only in
# the shell's memory) with N children, each in a process group of its own (job
# control, set -m), as an MPI launcher puts its ranks. Usage: groups.sh N
set -m
n=$1 i=0
while [ "$i" -lt "$n" ]; do
	sleep 100000 >/dev/null 2>&1 &
	i=$((i + 1))
done
i=0
while :; do
	i=$((i + 1))
	echo "count $i"
	sleep 0.05
done
