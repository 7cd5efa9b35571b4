#!/usr/bin/python3
# Workload of the fault suite: a counter ("count N" on stdout, the count only in
# memory) with N children, each in a process group of its own, as an MPI
# launcher puts its ranks. Usage: groups.py N
import os
import sys
import time

n = int(sys.argv[1])
for _ in range(n):
    if os.fork() == 0:
        os.setpgid(0, 0)
        while True:
            time.sleep(3600)
i = 0
while True:
    i += 1
    print("count %d" % i, flush=True)
    time.sleep(0.05)
