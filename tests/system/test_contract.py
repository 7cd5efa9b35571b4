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

from cluster import BUILD, ClusterTest, WORKLOADS, assert_continuous, counts, wait_for

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
        # lsf-criu status shows it too.
        p = self.c.run([os.path.join(BUILD, "lsf-criu"), "status", "--json", self.c.base,
                        led["runs"][-1]["jobid"]])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["published_restarts"], 3)
        p = self.c.run([os.path.join(BUILD, "lsf-criu"), "status", self.chain_dir(jid)])
        self.assertIn("for the job:  3, in $LSB_CHKPNT_DIR.restarts of its first run", p.stdout)
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


class CloneChain(RestartCount):
    """The run-limit chain under every behaviour observed on an OpenLava-derived
    scheduler: erestart.criu called with a relative directory, the old-ID link
    absolute, job file and spool in the checkpoint directory, restarted jobs reusing the
    same spool, LSB_OUTPUTFILE as typed (relative, with LS_SUBCWD), the trailing space of
    LSB_JOBPGIDS on first runs only, LSB_JOBPIDS listing only the group leader of a
    restarted job, no LSB_JOBEXIT_INFO, erestart passing on only an exit code."""
    flavour = "clone"
    test_count_in_runs_2_to_4_with_host_pids = None  # the chain below runs with host PIDs

    def test_chain_with_relative_o(self):
        env = dict(OPT_IN, ORUN_RESTART_LIMIT="2")
        # -o as typed: LSF passes "chain.out"; POST_EXEC runs in /tmp.
        jid = self.c.bsub(["-k", "%s method=criu" % self.c.base, "-o", "chain.out",
                           "/bin/sh", COUNTER, "100000", "0.05", "0"], env)
        led = self.wait_chain_end(jid)
        self.assertEqual(led["restarts"], 2)
        out = os.path.join(self.c.home, "chain.out")
        # every count once, in order, although the spool is reused and delivered whole
        assert_continuous(self, counts(out))
        calls = [c for c in self.c.method_calls("erestart.criu") if c.get("end")]
        self.assertEqual(len(calls), 2)
        for c in calls:
            self.assertFalse(c["argv"][-1].startswith("/"), c["argv"])  # relative
            self.assertEqual(c.get("exit_code"), 0, c)
        acts = [e for e in self.c.events() if e.get("type") == "terminate_action"]
        self.assertEqual(len(acts), 3, acts)
        self.assertTrue(acts[0]["env"]["LSB_JOBPGIDS"].endswith(" "))
        self.assertFalse(acts[1]["env"]["LSB_JOBPGIDS"].endswith(" "))
        self.assertNotIn("LSB_JOBEXIT_INFO", [k for e in self.c.events()
                                               if e.get("type") == "post_exec"
                                               for k in e.get("env", {})])
        # the old-ID link is absolute; the spool, in the checkpoint directory, was reused
        last = str(max(int(r["jobid"]) for r in led["runs"]))
        links = [os.path.join(self.c.base, d) for d in os.listdir(self.c.base)
                 if os.path.islink(os.path.join(self.c.base, d))]
        self.assertTrue(links and all(os.readlink(ln).startswith("/") for ln in links), links)
        self.assertRegex(self.c.log_text(last), r"LSF gives job %s the same spool file as its "
                         r"last run \('%s/\d+/[^']+\.out'\); its \d+ bytes were already "
                         r"delivered" % (last, re.escape(self.c.base)))
        summary = os.path.join(self.c.home, "overrun-summary-%s.txt" % jid)
        wait_for(lambda: os.path.exists(summary), 30, 0.2, "the summary beside chain.out")
        self.assertIn("runs: 3, restarts: 2 of 2 allowed", open(summary).read())
        self.assertFalse(os.path.exists(os.path.join(self.chain_dir(jid),
                                                     "overrun-summary-%s.txt" % jid)))

    def test_bkill_of_restarted_job_ends_the_chain(self):
        # No LSB_JOBEXIT_INFO: the chain ends because the ledger says so.
        env = dict(OPT_IN, ORUN_RESTART_LIMIT="3")
        jid, out = self.c.chk_bsub(["/bin/sh", COUNTER, "100000", "0.05", "0"], env)
        j2 = wait_for(lambda: [j for j in self.all_jobs() if j["stat"] == "RUN" and
                               str(j["jobid"]) != jid], 90, 0.3, "the restart")[0]["jobid"]
        wait_for(lambda: "restored in" in self.c.log_text(str(j2)), 60, 0.2, "the restore")
        self.c.bkill(str(j2))
        led = self.wait_chain_end(jid)
        self.assertEqual(led["restarts"], 1)
        self.assertEqual(len(self.all_jobs()), 2, "a killed job was restarted")


class SignalWithExitCodeOnly(ChainCase):
    """A restarted job killed by a signal looks DONE where the generic erestart passes on
    only the exit code; the restorer saw the signal, and the log and summary say so."""
    params = {"LSFSIM_ERESTART_STATUS": "exitcode"}

    def test_signal_reported_in_log_and_summary(self):
        env = dict(OPT_IN, ORUN_RESTART_LIMIT="1")
        jid, out = self.c.chk_bsub(["/bin/sh", COUNTER, "100000", "0.05", "0"], env)
        j2 = str(wait_for(lambda: [j for j in self.all_jobs() if j["stat"] == "RUN" and
                                   str(j["jobid"]) != jid], 90, 0.3,
                          "the restart")[0]["jobid"])
        root = wait_for(lambda: self.root_of(j2), 60, 0.2, "the restored root")
        os.kill(root, 9)
        rec = self.c.wait_state(j2)
        self.assertEqual((rec["stat"], rec["exit_code"]), ("DONE", 0), rec)  # what LSF says
        led = self.wait_chain_end(jid)
        self.assertEqual(led["runs"][-1]["end_reason"], "killed by signal 9 (Killed)")
        self.assertIn("restored job %s was killed by signal 9 (Killed)" % j2,
                      self.c.log_text(j2))
        summary = os.path.join(self.c.home, "overrun-summary-%s.txt" % jid)
        wait_for(lambda: os.path.exists(summary), 30, 0.2, "the summary")
        self.assertIn("chain ended: job %s was killed by signal 9 (Killed) (LSF reported: "
                      "the job exited with status 0)" % j2, open(summary).read())

    def root_of(self, jobid):
        try:
            with open(os.path.join(self.c.chkdir(jobid), "lsf-criu.root")) as f:
                rec = json.load(f)
        except (OSError, ValueError):
            return None
        return rec["pid"] if rec.get("jobid") == jobid else None


STARTER_QUEUES = """Begin Queue
QUEUE_NAME   = plain
End Queue
Begin Queue
QUEUE_NAME   = started
JOB_STARTER  = {serverdir}/lsf-criu-start %USRCMD
End Queue
"""


class JobStarterOnRestart(ClusterTest):
    """The queue's JOB_STARTER also wraps a restarted job's restore command
    (LSFSIM_JOB_STARTER_RESTART): the restore still works, for an image taken in the
    job's own namespaces (the restorer makes new ones) and for one taken with host PIDs."""
    queues = STARTER_QUEUES
    params = {"LSFSIM_JOB_STARTER_RESTART": "Y"}

    def cycle(self, jid, queue):
        wait_for(lambda: len(counts(self.c.job(jid).get("spool_out") or "")) >= 5, 60, 0.1,
                 "job %s to count" % jid)
        p = self.c.bchkpnt(jid, kill=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.c.wait_state(jid)
        self.assertIn("checkpoint of job %s done" % jid, self.c.log_text(jid))
        new, p = self.c.brestart(jid, opts=["-q", queue])
        self.assertIsNotNone(new, p.stdout + p.stderr)
        self.c.wait_state(new, ("RUN",))
        return new

    def run_twice(self, submit_queue):
        jid, out = self.c.chk_bsub(["/bin/sh", COUNTER, "150", "0.05", "0"],
                                   opts=["-q", submit_queue])
        self.c.wait_state(jid, ("RUN",))
        j2 = self.cycle(jid, "started")
        j3 = self.cycle(j2, "started")
        rec = self.c.wait_state(j3, timeout=120)
        self.assertEqual(rec["stat"], "DONE", self.c.log_text(j3))
        assert_continuous(self, counts(out), 1, 150)
        # the restart command really went through the job starter
        cmds = [e for e in self.c.events() if e.get("type") == "restart_cmd"]
        self.assertEqual(len(cmds), 2)
        return jid, j3

    def test_namespaced_image(self):
        jid, last = self.run_twice("started")
        with open(os.path.join(self.c.chkdir(last), "lsf-criu.starter")) as f:
            self.assertEqual(json.load(f)["jobid"], last)
        self.assertIn("restored in its own namespaces", self.c.log_text(last))

    def test_host_pid_image(self):
        jid, last = self.run_twice("plain")
        self.assertNotIn("own namespaces", self.c.log_text(last))


if __name__ == "__main__":
    unittest.main()
