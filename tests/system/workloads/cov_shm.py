#!/usr/bin/python3
# Coverage workload: a parent and its child share a memory segment, POSIX
# (multiprocessing.shared_memory, /dev/shm) or SysV (shmget/shmat), and play
# ping-pong through it: the parent writes N, the child copies it into a
# second slot, the parent waits for it and prints "count N". Any loss of
# sharing makes the parent print "count N TIMEOUT" and exit 4.
# Usage: cov_shm.py posix|sysv LIMIT DELAY
import ctypes
import os
import sys
import time

kind, limit, delay = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
STOP = -1

if kind == "posix":
    from multiprocessing import shared_memory
    seg = shared_memory.SharedMemory(create=True, size=4096)
    slots = seg.buf.cast("q")
    print("posix shm /dev/shm/%s" % seg.name, flush=True)
elif kind == "sysv":
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.shmat.restype = ctypes.c_void_p
    libc.shmat.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_int)
    shmid = libc.shmget(0, 4096, 0o1000 | 0o600)  # IPC_PRIVATE, IPC_CREAT | 0600
    if shmid < 0:
        sys.exit("shmget: %s" % os.strerror(ctypes.get_errno()))
    addr = libc.shmat(shmid, None, 0)
    if addr in (None, ctypes.c_void_p(-1).value):
        sys.exit("shmat: %s" % os.strerror(ctypes.get_errno()))
    slots = (ctypes.c_int64 * 2).from_address(addr)
    print("sysv shmid %d" % shmid, flush=True)
else:
    sys.exit("unknown kind %r" % kind)
slots[0] = slots[1] = 0

child = os.fork()
if child == 0:
    last = 0
    while True:
        v = slots[0]
        if v == STOP:
            os._exit(0)
        if v != last:
            slots[1] = last = v
        time.sleep(0.001)

code = 0
for n in range(1, limit + 1):
    slots[0] = n
    end = time.monotonic() + 30
    while slots[1] != n and time.monotonic() < end:
        time.sleep(0.001)
    if slots[1] != n:
        print("count %d TIMEOUT (the child wrote %d)" % (n, slots[1]), flush=True)
        code = 4
        break
    print("count %d" % n, flush=True)
    time.sleep(delay)
slots[0] = STOP
os.waitpid(child, 0)
if kind == "posix":
    del slots
    seg.close()
    seg.unlink()
else:
    libc.shmctl(shmid, 0, None)  # IPC_RMID
if code == 0:
    print("finished at %d" % limit, flush=True)
sys.exit(code)
