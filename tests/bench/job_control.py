#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Benchmark (not a test): how fast LSF's job control reaches a job under
lsf-criu-start, compared with the same job started without it.

For each mode it runs one counting job of the non-root test user through the
LSF test double and measures, N times each:
  stop      SIGSTOP to LSF's process group -> every process of the job stopped
  tstp      SIGTSTP to LSF's process group -> every process of the job stopped
  cont      SIGCONT to LSF's process group -> no process of the job stopped
then, once per job, the time from SIGKILL of lsf-criu-start alone (namespaced)
or of LSF's group (plain) until no process of the job is left.

Usage (as root): /usr/bin/python3 tests/bench/job_control.py [N]   (default 50)
"""

import os
import signal
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "system"))

from cluster import Cluster, WORKLOADS, counts, wait_for  # noqa: E402
from test_namespaces import NsJobs, is_stopped, live_pids, pid_ns, proc_stat  # noqa: E402

COUNTER = os.path.join(WORKLOADS, "counter.sh")


class Bench(NsJobs):
    def __init__(self, c):
        self.c = c


def members_plain(c, jid):
    """The job's processes without namespaces: LSF's group minus res and the job-file shell."""
    rec = c.job(jid)
    pg = rec["pgid"]
    shell = rec.get("shell_pid")
    return [p for p in live_pids() if (proc_stat(p) or ("", 0, 0))[2] == pg
            and p not in (pg, shell)]


def timed(cond, limit=10.0):
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > limit:
            return None
    return time.monotonic() - t0


def states(pids):
    return [(proc_stat(p) or ("?",))[0] for p in pids]


def run(mode, n):
    c = Cluster()
    try:
        b = Bench(c)
        cmd = ["/bin/sh", COUNTER, "100000", "0.01", "0"]
        if mode == "namespaced":
            jid, out = b.start(cmd)
            ns = pid_ns(b.job_process(jid))

            def members():
                return b.job_members(jid, ns)
        else:
            jid, out = c.chk_bsub(cmd)

            def members():
                return members_plain(c, jid)
        wait_for(lambda: len(counts(c.job(jid)["spool_out"])) >= 5, 60, 0.05, "counting")
        pg = c.job(jid)["pgid"]
        res = {"stop": [], "tstp": [], "cont": []}
        for _ in range(n):
            for name, sig in (("stop", signal.SIGSTOP), ("tstp", signal.SIGTSTP)):
                m = members()
                os.killpg(pg, sig)
                t = timed(lambda: all(is_stopped(p) for p in m))
                if t is None:
                    print("%s: %s never stopped: %s" % (mode, name, list(zip(m, states(m)))),
                          file=sys.stderr)
                res[name].append(t)
                os.killpg(pg, signal.SIGCONT)
                t = timed(lambda: all(s != "T" for s in states(m)))
                res["cont"].append(t)
                time.sleep(0.05)
        if mode == "namespaced":
            victim = b.outer_process(jid)
        else:
            victim = -pg
        left = members() + ([b.init_of(jid)] if mode == "namespaced" else [])
        os.kill(victim, signal.SIGKILL)
        t_kill = timed(lambda: not [p for p in left if proc_stat(p) and proc_stat(p)[0] != "Z"],
                       30)
        return res, t_kill
    finally:
        c.stop()


def fmt(xs):
    ok = [x for x in xs if x is not None]
    miss = len(xs) - len(ok)
    if not ok:
        return "never (%d tries)" % len(xs)
    ok.sort()
    p95 = ok[min(len(ok) - 1, int(len(ok) * 0.95))]
    return "median %.2f ms, p95 %.2f ms, max %.2f ms%s" % (
        statistics.median(ok) * 1e3, p95 * 1e3, ok[-1] * 1e3,
        ", %d of %d never (10 s)" % (miss, len(xs)) if miss else "")


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    if os.geteuid() != 0:
        sys.exit("run as root: it starts the LSF test double")
    for mode in ("plain", "namespaced"):
        res, t_kill = run(mode, n)
        print("%-10s stop: %s" % (mode, fmt(res["stop"])))
        print("%-10s tstp: %s" % (mode, fmt(res["tstp"])))
        print("%-10s cont: %s" % (mode, fmt(res["cont"])))
        print("%-10s SIGKILL -> no process left: %s" % (
            mode, "%.1f ms" % (t_kill * 1e3) if t_kill is not None else "never (30 s)"))


if __name__ == "__main__":
    main()
