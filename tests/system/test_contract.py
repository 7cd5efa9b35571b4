#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""What a job and its owner get from a run-limit chain whatever LSF's variant:
the restart count the job reads in every run at a path that survives LSF's
renames, the summary beside the -o file, and the signal that ended a restored
job even when LSF reports only an exit code. Real criu, jobs of a non-root
user, the LSF test double enforcing RUNLIMIT (a limit-minute is 2 s)."""

import json
import os
import re
import unittest

from cluster import ClusterTest, WORKLOADS, assert_continuous, counts, wait_for

RESTARTS = os.path.join(WORKLOADS, "restarts.sh")
COUNTER = os.path.join(WORKLOADS, "counter.sh")

QUEUES = """Begin Queue
QUEUE_NAME   = normal
RUNLIMIT     = 2
JOB_CONTROLS = TERMINATE[{serverdir}/lsf-criu-terminate]
POST_EXEC    = {serverdir}/lsf-criu-postexec
End Queue
"""

OPT_IN = {"ENABLE_ORUN_CHKPNT": "Y", "ENABLE_ORUN_RESTART": "Y",
          "JOB_TERMINATE_INTERVAL": "2"}


class ChainCase(ClusterTest):
    queues = QUEUES

    def all_jobs(self):
        p = self.c.run([os.path.join(self.c.bindir, "bjobs"), "-a", "-json"], check=True)
        recs = json.loads(p.stdout)
        return recs if isinstance(recs, list) else [recs]

    def chain_dir(self, first):
        for d in os.listdir(self.c.base):
            p = os.path.join(self.c.base, d)
            if os.path.islink(p) or not os.path.isdir(p):
                continue
            try:
                with open(os.path.join(p, "lsf-criu.ledger.json")) as f:
                    if json.load(f).get("chain_id") == first:
                        return p
            except (OSError, ValueError):
                continue
        return os.path.join(self.c.base, first)

    def ledger(self, first):
        with open(os.path.join(self.chain_dir(first), "lsf-criu.ledger.json")) as f:
            return json.load(f)

    def wait_chain_end(self, first, timeout=240):
        def done():
            try:
                led = self.ledger(first)
            except (OSError, ValueError):
                return False
            active = [j for j in self.all_jobs() if j["stat"] in ("PEND", "RUN", "SSUSP")]
            return led["state"] == "ended" and not active and led
        return wait_for(done, timeout, 0.5, "the chain of job %s to end" % first)


class RestartCount(ChainCase):

    def run_chain(self, cmd):
        env = dict(OPT_IN, ORUN_RESTART_LIMIT="3")
        jid, out = self.c.chk_bsub(cmd, env)
        led = self.wait_chain_end(jid)
        self.assertEqual(led["restarts"], 3)
        self.assertEqual(len(led["runs"]), 4)
        seen = [(int(m.group(1)), m.group(2)) for m in
                re.finditer(r"^count (\d+) restarts (\S+)$", open(out).read(), re.M)]
        assert_continuous(self, [n for n, _ in seen])
        # LSF dropped the first run's directory (and its link) long ago ...
        self.assertFalse(os.path.lexists(self.c.chkdir(jid)))
        # ... but the count lives beside it, where the job's LSB_CHKPNT_DIR points.
        with open(self.c.chkdir(jid) + ".restarts") as f:
            self.assertEqual(f.read(), "3\n")
        return jid, [r for _, r in seen]

    def runs_of(self, values):
        """The values the job read, one entry per stretch of equal values."""
        runs = []
        for v in values:
            if not runs or runs[-1] != v:
                runs.append(v)
        return runs

    def test_count_in_runs_1_to_4_under_the_job_starter(self):
        jid, values = self.run_chain([os.path.join(self.c.serverdir, "lsf-criu-start"),
                                      "/bin/sh", RESTARTS, "0.1"])
        self.assertEqual(self.runs_of(values), ["0", "1", "2", "3"])

    def test_count_in_runs_2_to_4_with_host_pids(self):
        # Nothing of lsf-criu runs before the first limit of a job without the job
        # starter: the file is missing in run 1 (documented: read as 0) until the
        # TERMINATE action records the overrun (0), then it counts the restarts.
        jid, values = self.run_chain(["/bin/sh", RESTARTS, "0.1"])
        self.assertIn(self.runs_of(values), (["missing", "1", "2", "3"],
                                             ["missing", "0", "1", "2", "3"]))


if __name__ == "__main__":
    unittest.main()
