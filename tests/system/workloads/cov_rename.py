#!/usr/bin/python3
# Coverage workload: opens FILE (read-write, truncated) and writes
# "count N" to it and to stdout on every step, through the same open file
# all along, whatever its name becomes. Usage: cov_rename.py FILE LIMIT DELAY
import os
import sys
import time

path, limit, delay = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
for n in range(1, limit + 1):
    line = b"count %d\n" % n
    if os.write(fd, line) != len(line):
        sys.exit(3)
    print("count %d" % n, flush=True)
    time.sleep(delay)
print("finished at %d" % limit, flush=True)
