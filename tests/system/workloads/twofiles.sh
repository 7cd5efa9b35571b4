#!/bin/sh
# Writes "count N" lines to the output LSF gave the job and "own N" lines to
# files the job opens itself, keeping the count only in the shell's memory,
# until STOPFILE exists; then prints "finished at N".
# Usage: twofiles.sh STOPFILE DELAY MODE OWN [OWN2]
#   MODE exec    exec >OWN: stdout becomes the job's own file; LSF's output
#                stays reachable as fd 3, a copy of the original stdout
#   MODE files   OWN opened with '>' (fd 4) and OWN2 with '>>' (fd 5); both
#                get every "own N" line
stop=$1 delay=$2 mode=$3 own=$4 own2=${5:-}
case $mode in
exec) exec 3>&1 >"$own"; lsf=3 ;;
files) exec 4>"$own" 5>>"$own2"; lsf=1 ;;
*) echo "twofiles.sh: unknown mode '$mode'" >&2; exit 2 ;;
esac
i=0
while [ ! -e "$stop" ]; do
	i=$((i + 1))
	echo "count $i" >&$lsf
	case $mode in
	exec) echo "own $i" ;;
	files) echo "own $i" >&4; echo "own $i" >&5 ;;
	esac
	sleep "$delay"
done
echo "finished at $i" >&$lsf
