#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""make demo: a counter job of a non-root user on the embedded LSF test double,
checkpointed and killed with bchkpnt -k, restarted with brestart, twice, and
finishing with one continuous count. Prints what LSF and the user would see."""
import os
import sys
import time

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


def main():
    c = Cluster(params={"LSFSIM_JOB_REPORT": "Y"})
    try:
        out = os.path.join(c.home, "counter.out")
        say("user %s submits a counter job (counts to 60, one count every 0.1 s)" % c.user)
        jid, _ = c.chk_bsub(["/bin/sh", os.path.join(WORKLOADS, "counter.sh"), "60", "0.1",
                             "0"], outfile=out)
        print("job %s, checkpoint directory %s" % (jid, c.chkdir(jid)))
        c.wait_state(jid, ("RUN",))
        jobs = [jid]
        for cycle in (1, 2):
            time.sleep(1.5)
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
        ok = nums == list(range(1, 61))
        say("the job's output file (%s): %d counts, %s" %
            (out, len(nums), "continuous 1..60" if ok else "NOT continuous"))
        with open(out) as f:
            lines = f.read().splitlines()
        for line in lines:
            if line.startswith("count") and 3 < int(line.split()[1]) < 58 and \
                    "count" in line and int(line.split()[1]) % 10:
                continue
            print("   " + line)
        say("what lsf-criu logged in %s/lsf-criu.log" % c.chkdir(jobs[-1]))
        with open(os.path.join(c.chkdir(jobs[-1]), "lsf-criu.log")) as f:
            for line in f:
                print("   " + line.rstrip())
        say("demo %s" % ("succeeded" if ok else "FAILED"))
        return 0 if ok else 1
    finally:
        c.stop()


if __name__ == "__main__":
    sys.exit(main())
