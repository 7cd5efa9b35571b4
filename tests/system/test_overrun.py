#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Overrun automation: a job that reaches its run limit is checkpointed and
killed by the TERMINATE action (lsf-criu-terminate), then restarted from
POST_EXEC (lsf-criu-postexec), a bounded number of times. Real criu, jobs of a
non-root user, the LSF test double enforcing RUNLIMIT (a limit-minute is 2 s)."""

import json
import os
import re
import time
import unittest

from cluster import ClusterTest, WORKLOADS, assert_continuous, counts, wait_for

COUNTER = os.path.join(WORKLOADS, "counter.sh")
FAULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "faults")

QUEUES = """Begin Queue
QUEUE_NAME   = normal
RUNLIMIT     = 2
JOB_CONTROLS = TERMINATE[{serverdir}/lsf-criu-terminate]
POST_EXEC    = {serverdir}/lsf-criu-postexec
End Queue
"""

OPT_IN = {"ENABLE_ORUN_CHKPNT": "Y", "ENABLE_ORUN_RESTART": "Y",
          "JOB_TERMINATE_INTERVAL": "2"}


class Overrun(ClusterTest):
    queues = QUEUES

    def submit(self, limit=100000, env=None, checkpointable=True, code=0):
        e = dict(OPT_IN)
        e.update(env or {})
        for k in [k for k, v in e.items() if v is None]:
            del e[k]
        cmd = ["/bin/sh", COUNTER, str(limit), "0.05", str(code)]
        if checkpointable:
            return self.c.chk_bsub(cmd, e)
        out = os.path.join(self.c.home, "plain-%d.out" % time.monotonic_ns())
        return self.c.bsub(["-o", out] + cmd, e), out

    def all_jobs(self):
        p = self.c.run([os.path.join(self.c.bindir, "bjobs"), "-a", "-json"], check=True)
        recs = json.loads(p.stdout)
        return recs if isinstance(recs, list) else [recs]

    def chain_dir(self, first):
        """The directory that holds the chain now: LSF renames it on every restart."""
        for d in sorted(os.listdir(self.c.base), key=lambda x: (len(x), x), reverse=True):
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

    def wait_chain_end(self, first, timeout=180):
        """Waits until the chain's ledger says ended and no job of the user is active."""
        def done():
            try:
                led = self.ledger(first)
            except (OSError, ValueError):
                return False
            active = [j for j in self.all_jobs() if j["stat"] in ("PEND", "RUN", "SSUSP")]
            return led["state"] == "ended" and not active and led
        return wait_for(done, timeout, 0.5, "the chain of job %s to end" % first)

    def summary(self, first):
        path = os.path.join(self.c.home, "overrun-summary-%s.txt" % first)
        wait_for(lambda: os.path.exists(path), 30, 0.2, "the summary %s" % path)
        with open(path) as f:
            return f.read()

    def test_default_three_runs_then_killed(self):
        jid, out = self.submit()
        led = self.wait_chain_end(jid)
        jobs = self.all_jobs()
        self.assertEqual(len(jobs), 3, [(j["jobid"], j["stat"]) for j in jobs])
        self.assertEqual(led["restarts"], 2)
        self.assertEqual(len(led["runs"]), 3)
        self.assertIn("budget used up", led["end_reason"])
        assert_continuous(self, counts(out))
        text = self.summary(jid)
        self.assertIn("runs: 3, restarts: 2 of 2 allowed", text)
        for j in jobs:
            self.assertIn(str(j["jobid"]), text)
        # The restart count is visible to the job itself.
        with open(os.path.join(self.chain_dir(jid), "lsf-criu.restarts")) as f:
            self.assertEqual(f.read().strip(), "2")

    def test_restart_limit_zero_checkpoints_without_restart(self):
        jid, out = self.submit(env={"ORUN_RESTART_LIMIT": "0"})
        led = self.wait_chain_end(jid)
        self.assertEqual(len(self.all_jobs()), 1)
        self.assertEqual(led["restarts"], 0)
        self.assertEqual(led["checkpoint_jobid"], jid, "no checkpoint was taken")
        self.assertIn("budget used up (0 of 0)", led["end_reason"])
        self.assertTrue(os.path.exists(os.path.join(self.c.chkdir(jid), "lsf-criu.current")))
        self.assertIn("runs: 1, restarts: 0", self.summary(jid))

    def test_restart_limit_one(self):
        jid, out = self.submit(env={"ORUN_RESTART_LIMIT": "1"})
        led = self.wait_chain_end(jid)
        self.assertEqual(len(self.all_jobs()), 2)
        self.assertEqual(led["restarts"], 1)
        assert_continuous(self, counts(out))
        self.assertIn("runs: 2, restarts: 1 of 1 allowed", self.summary(jid))

    def test_restart_limit_five_job_finishes(self):
        # About 60-70 counts fit in one 4 s run: 150 counts need 3 runs.
        jid, out = self.submit(limit=150, env={"ORUN_RESTART_LIMIT": "5"}, code=3)
        led = self.wait_chain_end(jid, timeout=240)
        self.assertGreaterEqual(led["restarts"], 1)
        self.assertLess(led["restarts"], 5)
        assert_continuous(self, counts(out), 1, 150)
        last = max(self.all_jobs(), key=lambda j: int(j["jobid"]))
        self.assertEqual(last["exit_code"], 3)
        self.assertIn("exited with status 3", led["end_reason"])

    def test_restart_not_enabled(self):
        jid, out = self.submit(env={"ENABLE_ORUN_RESTART": None})
        led = self.wait_chain_end(jid)
        self.assertEqual(len(self.all_jobs()), 1)
        self.assertEqual(led["checkpoint_jobid"], jid)
        self.assertIn("ENABLE_ORUN_RESTART is not Y", led["end_reason"])

    def test_checkpoint_not_enabled_kills_normally(self):
        jid, out = self.submit(env={"ENABLE_ORUN_CHKPNT": None})
        rec = self.c.wait_state(jid, timeout=60)
        time.sleep(2)
        self.assertEqual(len(self.all_jobs()), 1)
        self.assertEqual(rec["stat"], "EXIT")
        self.assertFalse(os.path.exists(os.path.join(self.c.chkdir(jid), "lsf-criu.current")))
        self.assertIn("did not opt in", self.c.log_text(jid))

    def test_job_without_k_killed_normally(self):
        jid, out = self.submit(checkpointable=False)
        rec = self.c.wait_state(jid, timeout=60)
        self.assertEqual(rec["stat"], "EXIT")
        time.sleep(2)
        self.assertEqual(len(self.all_jobs()), 1)
        # The action ran (no crash, unlike the predecessor) and killed the job itself.
        acts = [e for e in self.c.events()
                if e.get("type") == "terminate_action" and str(e.get("jobid")) == jid]
        self.assertEqual(len(acts), 1, acts)
        self.assertEqual(acts[0].get("exit_code"), 0, acts[0])
        # The job-file shell traps LSF's signals (LSB_TRAPSIGS) and exits with the
        # status of the command the signal killed: 128 + SIGINT, SIGTERM or SIGKILL.
        self.assertIn(rec.get("exit_code"), (130, 143, 137), rec)

    def test_bkill_during_run_ends_chain(self):
        jid, out = self.submit()
        self.c.wait_state(jid, ("RUN",))
        wait_for(lambda: len(counts(self.c.job(jid).get("spool_out") or "")) > 3, 30, 0.1,
                 "the job to count")
        self.c.bkill(jid)
        rec = self.c.wait_state(jid, timeout=60)
        self.assertEqual(rec["stat"], "EXIT", rec)
        time.sleep(3)
        self.assertEqual(len(self.all_jobs()), 1, "a killed job was restarted")
        self.assertIn("not a run-limit overrun", self.c.log_text(jid))

    def test_bkill_of_restarted_job(self):
        jid, out = self.submit()
        j2 = wait_for(lambda: [j for j in self.all_jobs() if j["stat"] == "RUN" and
                               str(j["jobid"]) != jid], 60, 0.3, "the restart")[0]["jobid"]
        time.sleep(0.5)
        self.c.bkill(str(j2))
        led = self.wait_chain_end(jid)
        self.assertEqual(len(self.all_jobs()), 2)
        self.assertEqual(led["restarts"], 1)
        self.assertIn("not a run-limit overrun", self.c.log_text(str(j2)))

    def test_bkill_during_checkpoint(self):
        self.c.use_criu("criu-slow", LC_REAL_CRIU=self.c.criu, LC_CRIU_DELAY=4)
        jid, out = self.submit()
        wait_for(lambda: "running: " in self.c.log_text(jid), 60, 0.2, "the dump to start")
        self.c.bkill(jid)
        self.wait_chain_end(jid)
        time.sleep(2)
        self.assertEqual(len(self.all_jobs()), 1, "a job killed during its checkpoint restarted")

    def test_timeout_kills_job_when_criu_hangs(self):
        # Fault injector: criu hangs in the dump; the watchdog must end the job.
        self.c.use_criu("criu-hangs")
        jid, out = self.submit(env={"ORUN_TIMEOUT_SECONDS": "5"})
        led = self.wait_chain_end(jid, timeout=90)
        # echkpnt.criu (criu killed at the deadline) and the watchdog race to end the
        # job; either may win, both log the deadline.
        self.assertRegex(led["end_reason"],
                         "no checkpoint within ORUN_TIMEOUT_SECONDS|checkpoint failed")
        self.assertEqual(len(self.all_jobs()), 1)
        self.assertRegex(self.c.log_text(jid), "by the deadline")
        n = len(counts(out))
        time.sleep(1)
        self.assertEqual(len(counts(out)), n)

    def test_corrupt_ledger_before_action(self):
        jid, out = self.submit()
        self.c.wait_state(jid, ("RUN",))
        path = os.path.join(self.c.chkdir(jid), "lsf-criu.ledger.json")
        with open(path, "w") as f:
            f.write('{"version": 1, "chain_id": "x", "uid": ')
        os.chown(path, self.c.pw.pw_uid, self.c.pw.pw_gid)
        rec = self.c.wait_state(jid, timeout=60)
        time.sleep(2)
        self.assertEqual(len(self.all_jobs()), 1)
        log = self.c.log_text(jid)
        self.assertIn("unusable", log)
        self.assertIn("terminating job %s as LSF would" % jid, log)

    def test_corrupt_ledger_before_postexec(self):
        self.c.use_criu("criu-slow", LC_REAL_CRIU=self.c.criu, LC_CRIU_DELAY=3)
        jid, out = self.submit()
        wait_for(lambda: "running: " in self.c.log_text(jid), 60, 0.2, "the dump to start")
        path = os.path.join(self.c.chkdir(jid), "lsf-criu.ledger.json")
        # While criu runs, the ledger is replaced by hostile content.
        with open(path + ".x", "w") as f:
            f.write('{"version": 99}')
        os.chown(path + ".x", self.c.pw.pw_uid, self.c.pw.pw_gid)
        os.rename(path + ".x", path)
        self.c.wait_state(jid, timeout=60)
        wait_for(lambda: "post-exec of job %s" % jid in self.c.log_text(jid), 30, 0.3,
                 "the post-exec")
        time.sleep(2)
        self.assertEqual(len(self.all_jobs()), 1, "restarted despite an unusable ledger")
        self.assertIn("newer than this lsf-criu understands", self.c.log_text(jid))

    def test_bad_values_use_defaults(self):
        jid, out = self.submit(env={"ORUN_RESTART_LIMIT": "99999999999999999999",
                                    "ORUN_TIMEOUT_SECONDS": "-1"}, limit=100000)
        wait_for(lambda: "reached its run limit" in self.c.log_text(jid), 60, 0.3,
                 "the overrun")
        log = self.c.log_text(jid)
        self.assertIn("ORUN_RESTART_LIMIT='99999999999999999999' is not a whole number", log)
        self.assertIn("ORUN_TIMEOUT_SECONDS='-1' is not a whole number", log)
        self.assertIn("of 2, timeout 180 s", log)
        for j in self.all_jobs():
            self.c.bkill(str(j["jobid"]))


class ManyOverruns(ClusterTest):
    queues = QUEUES

    def test_eight_jobs_overrun_at_once(self):
        env = dict(OPT_IN, ORUN_RESTART_LIMIT="1")
        jobs = []
        for i in range(8):
            jobs.append(self.c.chk_bsub(["/bin/sh", COUNTER, "100000", "0.05", "0"], env))
        for jid, out in jobs:
            wait_for(lambda: self.ledger_state(jid) == "ended", 300, 1,
                     "the chain of job %s to end" % jid)
        for jid, out in jobs:
            led = Overrun.ledger(self, jid)
            self.assertEqual(led["restarts"], 1, (jid, led))
            self.assertEqual(len(led["runs"]), 2, (jid, led))
            assert_continuous(self, counts(out))

    chain_dir = Overrun.chain_dir

    def ledger_state(self, jid):
        try:
            return Overrun.ledger(self, jid)["state"]
        except (OSError, ValueError):
            return None


if __name__ == "__main__":
    unittest.main(verbosity=2)
