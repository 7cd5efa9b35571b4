#!/usr/bin/python3
# Coverage workload: an established TCP connection on loopback between two
# processes of the job. The parent listens on 127.0.0.1, its child connects;
# the parent sends N, the child echoes it, the parent prints "count N".
# Usage: cov_tcp.py LIMIT DELAY
import os
import socket
import sys
import time

limit, delay = int(sys.argv[1]), float(sys.argv[2])
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.bind(("127.0.0.1", 0))
srv.listen(1)
port = srv.getsockname()[1]
child = os.fork()
if child == 0:
    srv.close()
    c = socket.create_connection(("127.0.0.1", port))
    f = c.makefile("rwb", buffering=0)
    for line in f:
        f.write(line)
    os._exit(0)
conn, _ = srv.accept()
print("connected on port %d" % port, flush=True)
f = conn.makefile("rwb", buffering=0)
for n in range(1, limit + 1):
    f.write(b"%d\n" % n)
    if f.readline() != b"%d\n" % n:
        print("count %d BAD ECHO" % n, flush=True)
        sys.exit(4)
    print("count %d" % n, flush=True)
    time.sleep(delay)
conn.shutdown(socket.SHUT_WR)
os.waitpid(child, 0)
print("finished at %d" % limit, flush=True)
