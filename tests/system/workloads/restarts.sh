#!/bin/sh
# Prints "count N restarts R" every DELAY seconds, for ever, where R is what
# the job reads from the restart count lsf-criu publishes for it
# ($LSB_CHKPNT_DIR.restarts; "missing" when there is none). The file is opened
# and closed at each read. Usage: restarts.sh DELAY
delay=${1:-0.1}
i=0
while :; do
	i=$((i + 1))
	r=missing
	if [ -r "$LSB_CHKPNT_DIR.restarts" ]; then
		read -r r <"$LSB_CHKPNT_DIR.restarts" || r=unreadable
	fi
	echo "count $i restarts $r"
	sleep "$delay"
done
