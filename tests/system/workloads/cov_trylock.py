#!/usr/bin/python3
# Tries to take a POSIX (fcntl) write lock on FILE without waiting, from a
# process outside the job. Exits 0 and prints "acquired" if it got it, exits
# 1 and prints "busy" if another process holds a lock. Usage: cov_trylock.py FILE
import errno
import fcntl
import os
import sys

fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except OSError as e:
    if e.errno in (errno.EACCES, errno.EAGAIN):
        print("busy")
        sys.exit(1)
    raise
print("acquired")
