#!/bin/sh
# A job with a child process and a pipe between two members of its tree: the
# producer counts into a pipe, the consumer (a child) tags each line and
# prints it. Usage: pipeline.sh LIMIT DELAY
limit=$1 delay=$2
i=0
while [ "$i" -lt "$limit" ]; do
	i=$((i + 1))
	echo "$i"
	sleep "$delay"
done | while read -r n; do echo "count $n via pipe"; done
echo "finished at $limit"
