#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""make demo: counter jobs of a non-root user on the embedded LSF test double.
Part 1: checkpointed and killed with bchkpnt -k, restarted with brestart, twice,
finishing with one continuous count. Part 2 (the headline), on a cluster of two
execution hosts: a job reaching its run limit is checkpointed instead of killed
and restarted by POST_EXEC, twice, each time on the other host, then killed at
its third limit, its output one continuous count. Prints what
LSF and the user see."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "system"))
from cluster import Cluster, WORKLOADS, counts, wait_for  # noqa: E402


def say(msg):
    print("\n==> " + msg, flush=True)


def sh(c, argv):
    p = c.run(argv)
    print("$ " + " ".join(os.path.basename(argv[0]) if i == 0 else a
                          for i, a in enumerate(argv)))
    sys.stdout.write(p.stdout + p.stderr)
    return p


QUEUES = """Begin Queue
QUEUE_NAME   = normal
RUNLIMIT     = 3
JOB_CONTROLS = TERMINATE[{serverdir}/lsf-criu-terminate]
POST_EXEC    = {serverdir}/lsf-criu-postexec
End Queue
"""


def overrun_demo():
    # two execution hosts; a restarted job is dispatched to the other host
    c = Cluster(queues=QUEUES, hosts=2, dispatch="other")
    try:
        out = os.path.join(c.home, "long.out")
        say("part 2: a cluster of two execution hosts (%s); the queue has RUNLIMIT = 3 "
            "minutes (a demo minute is 2 s), TERMINATE[lsf-criu-terminate] and "
            "POST_EXEC = lsf-criu-postexec" % " and ".join(c.hosts))
        with open(os.path.join(c.conf, "lsb.queues")) as f:
            print("".join("   " + line for line in f))
        env = {"ENABLE_ORUN_CHKPNT": "Y", "ENABLE_ORUN_RESTART": "Y",
               "JOB_TERMINATE_INTERVAL": "2"}
        say("user %s submits a long counter job with ENABLE_ORUN_CHKPNT=Y "
            "ENABLE_ORUN_RESTART=Y (default budget: ORUN_RESTART_LIMIT=2)" % c.user)
        jid, _ = c.chk_bsub(["/bin/sh", os.path.join(WORKLOADS, "counter.sh"), "100000",
                             "0.05", "0"], env, outfile=out)
        summary = os.path.join(c.home, "overrun-summary-%s.txt" % jid)
        seen = set()
        ran_on = {}

        def progress():
            p = c.run([os.path.join(c.bindir, "bjobs"), "-a", "-json"])
            import json
            for j in json.loads(p.stdout):
                key = (j["jobid"], j["stat"])
                if key not in seen:
                    seen.add(key)
                    print("   job %s: %s%s" % (key + (" on " + j["exec_host"]
                                                       if j.get("exec_host") else "",)))
                if j.get("exec_host"):
                    ran_on[j["jobid"]] = j["exec_host"]
            return os.path.exists(summary)
        wait_for(progress, 120, 0.5, "the chain to end")
        nums = counts(out)
        ok = nums == list(range(1, len(nums) + 1)) and len(nums) > 0
        say("the job's output file: %d counts over the runs, %s" %
            (len(nums), "one continuous count" if ok else "NOT continuous"))
        say("the summary written for the user (%s)" % summary)
        with open(summary) as f:
            print("".join("   " + line for line in f))
        ok = ok and "runs: 3, restarts: 2 of 2 allowed" in open(summary).read()
        hosts = [ran_on[j] for j in sorted(ran_on)]
        moved = len(hosts) == 3 and all(a != b for a, b in zip(hosts, hosts[1:]))
        say("the runs were executed on %s: %s" % (", ".join(hosts), "each restart on the other "
                                                  "host" if moved else "NOT alternating"))
        return ok and moved
    finally:
        c.stop()


def main():
    c = Cluster(params={"LSFSIM_JOB_REPORT": "Y"})
    try:
        out = os.path.join(c.home, "counter.out")
        say("part 1: user %s submits a counter job (counts to 100, one count every 0.1 s)"
            % c.user)
        jid, _ = c.chk_bsub(["/bin/sh", os.path.join(WORKLOADS, "counter.sh"), "100", "0.1",
                             "0"], outfile=out)
        print("job %s, checkpoint directory %s" % (jid, c.chkdir(jid)))
        c.wait_state(jid, ("RUN",))
        jobs = [jid]
        for cycle in (1, 2):
            # let the job (or the restored job) count ten more, on a busy machine too
            wait_for(lambda: len(counts(c.job(jobs[-1])["spool_out"])) >= 10, 120, 0.1,
                     "job %s to count" % jobs[-1])
            say("cycle %d: bchkpnt -k %s (checkpoint with criu, then kill)" % (cycle, jobs[-1]))
            sh(c, [os.path.join(c.bindir, "bchkpnt"), "-k", jobs[-1]])
            rec = c.wait_state(jobs[-1])
            print("job %s ended: %s, output so far ends at count %d" %
                  (jobs[-1], rec["stat"], (counts(out) or [0])[-1]))
            say("cycle %d: brestart %s %s" % (cycle, c.base, jobs[-1]))
            new, p = c.brestart(jobs[-1])
            sys.stdout.write(p.stdout)
            if not new:
                sys.stdout.write(p.stderr)
                return 1
            jobs.append(new)
            c.wait_state(new, ("RUN",))
        say("waiting for job %s to finish" % jobs[-1])
        rec = c.wait_state(jobs[-1], timeout=120)
        print("job %s ended: %s, exit code %s" % (jobs[-1], rec["stat"], rec.get("exit_code")))
        nums = counts(out)
        ok = nums == list(range(1, 101))
        say("the job's output file (%s): %d counts, %s" %
            (out, len(nums), "continuous 1..100" if ok else "NOT continuous"))
        with open(out) as f:
            lines = f.read().splitlines()
        for line in lines:
            if line.startswith("count") and 3 < int(line.split()[1]) < 98 and \
                    "count" in line and int(line.split()[1]) % 10:
                continue
            print("   " + line)
        say("what lsf-criu logged in %s/lsf-criu.log" % c.chkdir(jobs[-1]))
        with open(os.path.join(c.chkdir(jobs[-1]), "lsf-criu.log")) as f:
            for line in f:
                print("   " + line.rstrip())
    finally:
        c.stop()
    ok = overrun_demo() and ok
    say("demo %s" % ("succeeded" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
