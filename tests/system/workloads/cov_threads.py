#!/usr/bin/python3
# Coverage workload: three threads, each counting on its own, keeping its
# count only in memory. Each line is "thread I count N tid T" (T: the
# thread's kernel TID as the job sees it). Prints "finished" once every
# thread reached LIMIT. Usage: cov_threads.py LIMIT DELAY
import sys
import threading
import time

limit, delay = int(sys.argv[1]), float(sys.argv[2])
out = threading.Lock()


def count(i):
    tid = threading.get_native_id()
    for n in range(1, limit + 1):
        with out:
            print("thread %d count %d tid %d" % (i, n, tid), flush=True)
        time.sleep(delay)


threads = [threading.Thread(target=count, args=(i,)) for i in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("finished", flush=True)
