#!/usr/bin/python3
# Coverage workload: holds file locks while it counts "count N", until
# STOP_FILE exists; then it exits, which releases them. MODE is
#   own     an flock(2) lock on FILE1 and a POSIX (fcntl) write lock on FILE2,
#           both taken by the job's process itself;
#   helper  an flock(2) lock on FILE1 taken through an inherited fd by a
#           flock(1) child that exits at once, as in the shell idiom
#           'exec 9>FILE; flock -n 9' (the lock stays with the open file);
#   ofd     an open-file-description lock (F_OFD_SETLK) on FILE1;
#   rdonly  an flock(2) lock on FILE1 opened read-only, as Python's
#           'with open(FILE) as f: fcntl.flock(f, fcntl.LOCK_EX)' does.
# Usage: cov_locks.py MODE STOP_FILE DELAY FILE1 [FILE2]
import fcntl
import os
import struct
import subprocess
import sys
import time

mode, stop, delay, files = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4:]
f1 = os.open(files[0], os.O_RDWR | os.O_CREAT, 0o600)
if mode == "own":
    fcntl.flock(f1, fcntl.LOCK_EX | fcntl.LOCK_NB)
    f2 = os.open(files[1], os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.lockf(f2, fcntl.LOCK_EX | fcntl.LOCK_NB)
elif mode == "helper":
    subprocess.run(["flock", "-n", str(f1)], pass_fds=(f1,), check=True)
elif mode == "ofd":
    # struct flock: l_type, l_whence, l_start, l_len, l_pid (0 for OFD locks)
    fcntl.fcntl(f1, fcntl.F_OFD_SETLK, struct.pack("hhqqi", fcntl.F_WRLCK, os.SEEK_SET,
                                                   0, 0, 0))
elif mode == "rdonly":
    os.close(f1)
    f1 = os.open(files[0], os.O_RDONLY)
    fcntl.flock(f1, fcntl.LOCK_EX | fcntl.LOCK_NB)
else:
    sys.exit("unknown mode %r" % mode)
print("locked", flush=True)
n = 0
while not os.path.exists(stop):
    n += 1
    print("count %d" % n, flush=True)
    time.sleep(delay)
print("finished at %d" % n, flush=True)
