#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Restarts on another execution host. The LSF test double runs two hosts in
their own UTS, network and mount namespaces sharing the file systems, as a
cluster shares its checkpoint file system: a job dumped on one restores on the
other, with host PIDs and under lsf-criu-start; a run-limit chain alternates
hosts; a host that lacks a file the image needs is refused by erestart.criu
before LSF commits the restart, with a line naming the path, and the same
checkpoint restarts on the other host. Real criu, jobs of a non-root user."""

import json
import os
import re
import shutil
import unittest

from cluster import ClusterTest, WORKLOADS, assert_continuous, counts, wait_for
from test_contract import ChainCase, OPT_IN, RESTARTS

COUNTER = os.path.join(WORKLOADS, "counter.sh")


class TwoHosts(ClusterTest):
    hosts = 2

    def setUp(self):
        super().setUp()
        if len(self.c.hosts) < 2:
            self.skipTest("the LSF test double offers one host only")
        self.a, self.b = self.c.hosts[0], self.c.hosts[1]

    def counting(self, jid, n=5):
        wait_for(lambda: len(counts(self.c.job(jid).get("spool_out") or "")) >= n, 60, 0.1,
                 "job %s to count" % jid)

    def checkpoint_kill(self, jid):
        self.counting(jid)
        p = self.c.bchkpnt(jid, kill=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.c.wait_state(jid)
        self.assertIn("checkpoint of job %s done" % jid, self.c.log_text(jid))

    def move(self, cmd):
        jid, out = self.c.chk_bsub(cmd, host=self.a)
        self.c.wait_state(jid, ("RUN",))
        self.assertEqual(self.c.exec_host(jid), self.a)
        self.checkpoint_kill(jid)
        new, p = self.c.brestart(jid, host=self.b)
        self.assertIsNotNone(new, p.stdout + p.stderr)
        rec = self.c.wait_state(new, timeout=120)
        self.assertEqual(rec["stat"], "DONE", self.c.log_text(new))
        self.assertEqual(self.c.exec_host(new), self.b)
        assert_continuous(self, counts(out), 1, 150)
        log = self.c.log_text(new)
        self.assertIn("this host has all", log)  # erestart.criu checked host B first
        return new

    def test_dumped_on_one_host_restores_on_the_other(self):
        self.move(["/bin/sh", COUNTER, "150", "0.05", "0"])

    def test_dumped_on_one_host_restores_on_the_other_under_the_starter(self):
        new = self.move([os.path.join(self.c.serverdir, "lsf-criu-start"), "/bin/sh", COUNTER,
                         "150", "0.05", "0"])
        self.assertIn("restored in its own namespaces", self.c.log_text(new))

    def test_host_lacking_a_file_refused_before_the_restart(self):
        app = os.path.join(self.c.home, "app")
        self.c.user_mkdir(app)
        script = os.path.join(app, "run.sh")
        shutil.copy(COUNTER, script)
        os.chmod(script, 0o755)
        jid, out = self.c.chk_bsub(["/bin/sh", script, "150", "0.05", "0"], host=self.a)
        self.c.wait_state(jid, ("RUN",))
        self.checkpoint_kill(jid)
        self.c.host_local(self.b, app)  # host B has an empty app directory of its own
        new, p = self.c.brestart(jid, host=self.b)
        self.assertIsNotNone(new, p.stdout + p.stderr)
        rec = self.c.wait_state(new, timeout=120)
        self.assertEqual(rec["stat"], "EXIT", rec)
        self.assertEqual(self.c.exec_host(new), self.b)
        calls = [c for c in self.c.method_calls("erestart.criu") if c.get("end")]
        self.assertEqual(calls[-1].get("exit_code"), 6, calls[-1])
        line = [ln for ln in self.c.log_text(jid).splitlines()
                if "restart of job %s refused on host %s" % (new, self.b) in ln]
        self.assertEqual(len(line), 1, self.c.log_text(jid))
        self.assertIn("'%s' (a file open in process" % script, line[0])
        self.assertIn("is missing on host %s" % self.b, line[0])
        # LSF renamed the directory back: the same checkpoint restarts on host A.
        again, p = self.c.brestart(jid, host=self.a)
        self.assertIsNotNone(again, p.stdout + p.stderr)
        rec = self.c.wait_state(again, timeout=120)
        self.assertEqual(rec["stat"], "DONE", self.c.log_text(again))
        self.assertEqual(self.c.exec_host(again), self.a)
        assert_continuous(self, counts(out), 1, 150)


class AlternatingChain(ChainCase):
    """A run-limit chain whose runs alternate between the two hosts (each restarted job
    is dispatched to the other host), reading its restart count in every run."""
    hosts = 2
    dispatch = "other"

    def test_runs_alternate_hosts(self):
        if len(self.c.hosts) < 2:
            self.skipTest("the LSF test double offers one host only")
        env = dict(OPT_IN, ORUN_RESTART_LIMIT="3")
        jid, out = self.c.chk_bsub([os.path.join(self.c.serverdir, "lsf-criu-start"),
                                    "/bin/sh", RESTARTS, "0.1"], env)
        led = self.wait_chain_end(jid)
        self.assertEqual(led["restarts"], 3)
        jobs = sorted(self.all_jobs(), key=lambda j: int(j["jobid"]))
        self.assertEqual(len(jobs), 4)
        where = [j["exec_host"] for j in jobs]
        self.assertTrue(all(a != b for a, b in zip(where, where[1:])), where)
        seen = [(int(m.group(1)), m.group(2)) for m in
                re.finditer(r"^count (\d+) restarts (\S+)$", open(out).read(), re.M)]
        assert_continuous(self, [n for n, _ in seen])
        runs = []
        for _, r in seen:
            if not runs or runs[-1] != r:
                runs.append(r)
        self.assertEqual(runs, ["0", "1", "2", "3"])
        summary = os.path.join(self.c.home, "overrun-summary-%s.txt" % jid)
        wait_for(lambda: os.path.exists(summary), 30, 0.2, "the summary")
        for j in jobs:
            self.assertIn(str(j["jobid"]), open(summary).read())
        with open(os.path.join(self.chain_dir(jid), "lsf-criu.ledger.json")) as f:
            self.assertEqual(len(json.load(f)["runs"]), 4)


if __name__ == "__main__":
    unittest.main()
