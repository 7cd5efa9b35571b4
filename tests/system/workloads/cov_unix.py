#!/usr/bin/python3
# Coverage workload: an AF_UNIX stream connection from the job to a server
# outside it. "server PATH" listens on PATH and echoes every line of each
# client; "client PATH LIMIT DELAY" (the job) sends N, reads the echo and
# prints "count N". Usage: cov_unix.py server PATH | client PATH LIMIT DELAY
import os
import socket
import sys
import threading
import time

mode, path = sys.argv[1], sys.argv[2]
if mode == "server":
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)
    print("listening", flush=True)

    def echo(c):
        with c, c.makefile("rwb", buffering=0) as f:
            for line in f:
                f.write(line)

    while True:
        c, _ = srv.accept()
        threading.Thread(target=echo, args=(c,), daemon=True).start()

limit, delay = int(sys.argv[3]), float(sys.argv[4])
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c.connect(path)
print("connected to %s" % path, flush=True)
f = c.makefile("rwb", buffering=0)
for n in range(1, limit + 1):
    f.write(b"%d\n" % n)
    if f.readline() != b"%d\n" % n:
        print("count %d BAD ECHO" % n, flush=True)
        sys.exit(4)
    print("count %d" % n, flush=True)
    time.sleep(delay)
print("finished at %d" % limit, flush=True)
