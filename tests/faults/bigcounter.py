#!/usr/bin/python3
# Workload of the fault suite: a counter ("count N" on stdout, the count only in
# memory) that also holds N MiB of incompressible memory. Usage: bigcounter.py N
import os
import sys
import time

ballast = os.urandom(int(sys.argv[1]) << 20)
i = 0
while True:
    i += 1
    print("count %d" % i, flush=True)
    time.sleep(0.05)
