#!/usr/bin/python3
# Coverage workload: creates FILE of SIZE bytes, deletes it while keeping it
# open, then on every step writes to it and reads all of it back, comparing
# with the copy it keeps in memory. Prints "count N nlink L size S ok" per
# step; exits 3 on a mismatch. Usage: cov_ghost.py FILE SIZE LIMIT DELAY
import os
import sys
import time

path, size, limit, delay = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
data = bytearray((i * 7 + 3) & 0xFF for i in range(size))
os.pwrite(fd, data, 0)
os.unlink(path)
print("deleted %s" % path, flush=True)
for n in range(1, limit + 1):
    rec = b"step %08d\n" % n
    off = (n * len(rec)) % (size - len(rec))
    os.pwrite(fd, rec, off)
    data[off:off + len(rec)] = rec
    st = os.fstat(fd)
    back = os.pread(fd, size + 1, 0)
    if back != data:
        print("count %d MISMATCH (read %d bytes)" % (n, len(back)), flush=True)
        sys.exit(3)
    print("count %d nlink %d size %d ok" % (n, st.st_nlink, st.st_size), flush=True)
    time.sleep(delay)
print("finished at %d" % limit, flush=True)
