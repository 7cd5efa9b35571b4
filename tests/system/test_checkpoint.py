#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Checkpoint and restart of real jobs of a non-root user through the LSF test
double: bchkpnt, bchkpnt -k, brestart, bkill, exit status, failure paths.
Real criu; no stand-in except the clearly named fault injectors."""

import os
import stat
import subprocess
import time
import unittest

from cluster import (ClusterTest, WORKLOADS, assert_continuous, counts, wait_for)

COUNTER = os.path.join(WORKLOADS, "counter.sh")
PIPELINE = os.path.join(WORKLOADS, "pipeline.sh")
FAULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "faults")


class CheckpointRestart(ClusterTest):

    def wait_count(self, path, at_least, timeout=60):
        return wait_for(lambda: len(counts(path)) >= at_least and counts(path), timeout,
                        0.1, "%d counts in %s" % (at_least, path))

    def spool_counts(self, jobid):
        """Counts the running job wrote so far (its spool, before LSF appends it to -o)."""
        rec = self.c.job(jobid)
        for key in ("spool_out", "spool"):
            if rec.get(key):
                return counts(rec[key])
        return []

    def wait_running_count(self, jobid, at_least, timeout=60):
        return wait_for(lambda: len(self.spool_counts(jobid)) >= at_least, timeout, 0.1,
                        "job %s to count to %d" % (jobid, at_least))

    def checkpoint_kill_restart(self, jobid):
        p = self.c.bchkpnt(jobid, kill=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        done = self.c.wait_state(jobid)
        calls = self.c.method_calls("echkpnt.criu")
        self.assertTrue(calls, "echkpnt.criu was never called")
        self.assertEqual(calls[-1].get("exit_code"), 0, self.c.log_text(jobid))
        new, p = self.c.brestart(jobid)
        self.assertIsNotNone(new, p.stdout + p.stderr)
        self.c.wait_state(new, ("RUN",), timeout=60)
        return done, new

    def test_bchkpnt_without_kill_leaves_job_running(self):
        jid, out = self.c.chk_bsub(["/bin/sh", COUNTER, "100000", "0.05", "0"])
        self.c.wait_state(jid, ("RUN",))
        self.wait_running_count(jid, 5)
        p = self.c.bchkpnt(jid)
        self.assertEqual(p.returncode, 0, p.stderr)
        log = wait_for(lambda: "done" in self.c.log_text(jid) and self.c.log_text(jid), 60,
                       0.2, "the checkpoint to finish")
        self.assertIn("left running", log)
        before = len(self.spool_counts(jid))
        time.sleep(1)
        self.assertEqual(self.c.job(jid)["stat"], "RUN")
        self.assertGreater(len(self.spool_counts(jid)), before, "the job stopped counting")
        d = self.c.chkdir(jid)
        with open(os.path.join(d, "lsf-criu.current")) as f:
            imgset = f.read().strip()
        # Streamed image sets keep criu's images in one container (images.lcs).
        names = os.listdir(os.path.join(d, imgset))
        st = os.stat(os.path.join(d, imgset, "images.lcs" if "images.lcs" in names
                                  else "inventory.img"))
        self.assertGreater(st.st_size, 0)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(d, imgset)).st_mode), 0o700)
        self.assertEqual(st.st_uid, self.c.pw.pw_uid)
        self.assertTrue(os.path.exists(os.path.join(d, imgset, "dump.log")))
        # LSF's own temporary directory is left empty and removed by LSF.
        self.assertFalse(os.path.exists(d + ".tmp"))
        self.c.bkill(jid)
        self.c.wait_state(jid)

    def test_kill_restart_twice_continues_the_count(self):
        jid, out = self.c.chk_bsub(["/bin/sh", COUNTER, "120", "0.05", "0"])
        self.c.wait_state(jid, ("RUN",))
        self.wait_running_count(jid, 10)
        _, j2 = self.checkpoint_kill_restart(jid)
        stopped_at = counts(out)[-1]
        self.assertLess(stopped_at, 120, "the job finished before its checkpoint")
        self.wait_running_count(j2, 5)
        _, j3 = self.checkpoint_kill_restart(j2)
        rec = self.c.wait_state(j3, timeout=120)
        self.assertEqual(rec["stat"], "DONE", self.c.log_text(j3))
        assert_continuous(self, counts(out), 1, 120)
        with open(out) as f:
            self.assertIn("finished at 120", f.read())
        log = self.c.log_text(j3)
        self.assertIn("restored in", log)
        self.assertIn("checkpoint of job %s done" % j2, log)
        # LSF renamed the directory to the newest job ID and left a link under the
        # previous one (the oldest link goes after the next checkpoint).
        self.assertTrue(os.path.isdir(self.c.chkdir(j3)))
        self.assertTrue(os.path.islink(self.c.chkdir(j2)))

    def test_job_with_child_and_pipe(self):
        jid, out = self.c.chk_bsub(["/bin/sh", PIPELINE, "80", "0.05"])
        self.c.wait_state(jid, ("RUN",))
        self.wait_running_count(jid, 10)
        _, j2 = self.checkpoint_kill_restart(jid)
        rec = self.c.wait_state(j2, timeout=120)
        self.assertEqual(rec["stat"], "DONE", self.c.log_text(j2))
        assert_continuous(self, counts(out), 1, 80)

    def test_script_writing_with_redirect(self):
        target = os.path.join(self.c.home, "redirect.out")
        script = "/bin/sh %s 80 0.05 0 %s\n" % (COUNTER, target)
        jid = self.c.bsub(["-k", "%s method=criu" % self.c.base, "-o",
                           os.path.join(self.c.home, "script.out")], input=script)
        self.c.wait_state(jid, ("RUN",))
        self.wait_count(target, 10)
        _, j2 = self.checkpoint_kill_restart(jid)
        rec = self.c.wait_state(j2, timeout=120)
        self.assertEqual(rec["stat"], "DONE", self.c.log_text(j2))
        assert_continuous(self, counts(target), 1, 80)

    def test_script_appending_with_double_redirect(self):
        # '>>' opens the file O_APPEND: criu does not check its size, so lines another
        # program appends between checkpoint and restart are kept and the job goes on after.
        target = os.path.join(self.c.home, "append.out")
        script = "/bin/sh %s 80 0.05 0 >> %s\n" % (COUNTER, target)
        jid = self.c.bsub(["-k", "%s method=criu" % self.c.base, "-o",
                           os.path.join(self.c.home, "append-job.out")], input=script)
        self.c.wait_state(jid, ("RUN",))
        self.wait_count(target, 10)
        p = self.c.bchkpnt(jid, kill=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.c.wait_state(jid)
        with open(target, "a") as f:
            f.write("note added while the job was checkpointed\n")
        new, p = self.c.brestart(jid)
        self.assertIsNotNone(new, p.stdout + p.stderr)
        rec = self.c.wait_state(new, timeout=120)
        self.assertEqual(rec["stat"], "DONE", self.c.log_text(new))
        assert_continuous(self, counts(target), 1, 80)
        with open(target) as f:
            lines = f.read().splitlines()
        k = lines.index("note added while the job was checkpointed")
        self.assertTrue(lines[k - 1].startswith("count") and lines[k + 1].startswith("count"))

    def test_restored_job_exit_status_reaches_lsf(self):
        jid, out = self.c.chk_bsub(["/bin/sh", COUNTER, "60", "0.05", "7"])
        self.c.wait_state(jid, ("RUN",))
        self.wait_running_count(jid, 5)
        _, j2 = self.checkpoint_kill_restart(jid)
        rec = self.c.wait_state(j2, timeout=120)
        self.assertEqual(rec["stat"], "EXIT")
        self.assertEqual(rec["exit_code"], 7, rec)
        self.assertIn("exited with status 7", self.c.log_text(j2))
        assert_continuous(self, counts(out), 1, 60)

    def test_bkill_of_restored_job(self):
        jid, out = self.c.chk_bsub(["/bin/sh", COUNTER, "100000", "0.05", "0"])
        self.c.wait_state(jid, ("RUN",))
        self.wait_running_count(jid, 5)
        _, j2 = self.checkpoint_kill_restart(jid)
        self.wait_running_count(j2, 3)
        self.c.bkill(j2)
        rec = self.c.wait_state(j2, timeout=60)
        self.assertEqual(rec["stat"], "EXIT", rec)
        n = len(counts(out))
        time.sleep(1)
        self.assertEqual(len(counts(out)), n, "the job still writes after bkill")
        root = self.root_pid(j2)
        self.assertFalse(os.path.exists("/proc/%d" % root) and
                         open("/proc/%d/stat" % root).read().split()[2] != "Z",
                         "restored process %d survived bkill" % root)

    def root_pid(self, jobid):
        import json
        with open(os.path.join(self.c.chkdir(jobid), "lsf-criu.root")) as f:
            return json.load(f)["pid"]


class Failures(ClusterTest):
    """Every failure exits non-zero with a clear log line and leaves the job alone."""

    def start_counter(self, extra_env=None):
        jid, out = self.c.chk_bsub(["/bin/sh", COUNTER, "100000", "0.05", "0"], extra_env)
        self.c.wait_state(jid, ("RUN",))
        wait_for(lambda: os.path.isdir(self.c.chkdir(jid)), 30, 0.1, "checkpoint dir")
        return jid, out

    def last_echkpnt(self):
        calls = wait_for(lambda: [c for c in self.c.method_calls("echkpnt.criu")
                                  if c.get("end")], 60, 0.2, "echkpnt.criu to finish")
        return calls[-1]

    def assert_still_counting(self, jid):
        rec = self.c.job(jid)
        self.assertEqual(rec["stat"], "RUN", rec)
        spool = rec.get("spool_out") or rec.get("spool")
        n = len(counts(spool))
        wait_for(lambda: len(counts(spool)) > n, 10, 0.1, "the job to keep counting")

    def test_criu_missing(self):
        self.c.lsf_criu_conf("criu = /nonexistent/criu\n")
        jid, _ = self.start_counter()
        self.c.bchkpnt(jid, kill=True)
        call = self.last_echkpnt()
        self.assertEqual(call.get("exit_code"), 3, call)
        self.assertIn("criu is not usable", self.c.log_text(jid))
        self.assertIn("not found", self.c.log_text(jid))
        self.assert_still_counting(jid)

    def test_criu_failing(self):
        # Fault injector: a criu stand-in that reports version 4.2.1 and then fails every dump.
        self.c.use_criu("criu-fails")
        jid, _ = self.start_counter()
        self.c.bchkpnt(jid, kill=True)
        call = self.last_echkpnt()
        self.assertEqual(call.get("exit_code"), 1, call)
        log = self.c.log_text(jid)
        self.assertIn("criu exited with status 1", log)
        self.assertIn("the job keeps running", log)
        self.assert_still_counting(jid)

    def test_criu_too_old(self):
        # Fault injector: a criu stand-in that claims version 3.17.
        self.c.use_criu("criu-3.17")
        jid, _ = self.start_counter()
        self.c.bchkpnt(jid, kill=True)
        call = self.last_echkpnt()
        self.assertEqual(call.get("exit_code"), 3, call)
        self.assertIn("needs 4.2 or newer", self.c.log_text(jid))
        self.assert_still_counting(jid)

    def test_checkpoint_dir_not_writable(self):
        jid, _ = self.start_counter()
        d = self.c.chkdir(jid)
        pgid = self.c.job(jid)["pgid"]
        os.chmod(d, 0o500)
        try:
            # Through LSF: the checkpoint fails and the job keeps running.
            self.c.bchkpnt(jid, kill=True)
            wait_for(lambda: [e for e in self.c.method_calls("echkpnt.criu")
                              if e.get("ok") is False or e.get("end")], 60, 0.2,
                     "the checkpoint attempt to end")
            self.assertEqual(self.c.job(jid)["stat"], "RUN")
            # As LSF's echkpnt would call it: a non-zero exit and a one-line reason.
            r = self.c.run([os.path.join(self.c.serverdir, "echkpnt.criu"), "-c", "-k", "-d",
                            "%s.tmp" % jid, str(pgid)], {"LSB_JOBID": jid, "LSB_CHKPNT_DIR": d},
                           cwd=self.c.base)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("cannot open 'lsf-criu.log'", r.stderr)
            self.assertIn("the job keeps running", r.stderr)
        finally:
            os.chmod(d, 0o700)
        self.assertFalse(os.path.exists(os.path.join(d, "lsf-criu.current")))
        self.assert_still_counting(jid)

    def test_job_already_gone(self):
        jid, _ = self.start_counter()
        d = self.c.chkdir(jid)
        # A process group that no longer exists: a real one that just ended.
        p = subprocess.Popen(["/bin/true"])
        p.wait()
        r = self.c.run([os.path.join(self.c.serverdir, "echkpnt.criu"), "-c", "-k", "-d",
                        "%s.tmp" % jid, str(p.pid)],
                       {"LSB_JOBID": jid, "LSB_CHKPNT_DIR": d}, cwd=self.c.base)
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertIn("no process left", r.stderr)
        self.assertIn("no process left", self.c.log_text(jid))
        self.assert_still_counting(jid)

    def test_other_users_job_refused(self):
        jid, _ = self.start_counter()
        pgid = self.c.job(jid)["pgid"]
        other = "lcuser2"
        import pwd
        pw = pwd.getpwnam(other)
        d = os.path.join(self.c.root, "u-other")
        os.mkdir(d, 0o700)
        os.chown(d, pw.pw_uid, pw.pw_gid)
        r = self.c.run([os.path.join(self.c.serverdir, "echkpnt.criu"), "-k", str(pgid)],
                       {"LSB_JOBID": jid, "LSB_CHKPNT_DIR": d}, user=other, cwd=d)
        self.assertEqual(r.returncode, 5, r.stderr)
        self.assertIn("runs as uid", r.stderr)
        self.assert_still_counting(jid)

    def test_usage_errors(self):
        exe = os.path.join(self.c.serverdir, "echkpnt.criu")
        for args in ([], ["-k", "-s", "1234"], ["abc"], ["1", "2"], ["-d"]):
            r = self.c.run([exe] + args, {"LSB_JOBID": "1", "LSB_CHKPNT_DIR": self.c.base})
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn("Try 'echkpnt.criu --help'", r.stderr)
        r = self.c.run([exe, "--help"])
        self.assertEqual(r.returncode, 0)
        self.assertIn("Usage: echkpnt.criu", r.stdout)
        r = self.c.run([exe, "1234"], {"LSB_JOBID": "", "LSB_CHKPNT_DIR": self.c.base})
        self.assertEqual(r.returncode, 2)
        self.assertIn("LSB_JOBID", r.stderr)

    def test_file_changed_since_checkpoint_fails_the_restore_clearly(self):
        # The job writes a file it opened with '>' (not append): criu records its size.
        target = os.path.join(self.c.home, "results.txt")
        jid, _ = self.c.chk_bsub(["/bin/sh", COUNTER, "100000", "0.05", "0", target])
        self.c.wait_state(jid, ("RUN",))
        wait_for(lambda: len(counts(target)) >= 5, 30, 0.1, "the job to write")
        self.assertEqual(self.c.bchkpnt(jid, kill=True).returncode, 0)
        self.c.wait_state(jid)
        with open(target, "a") as f:
            f.write("somebody else wrote here\n")
        new, p = self.c.brestart(jid)
        self.assertIsNotNone(new, p.stderr)
        rec = self.c.wait_state(new, timeout=60)
        # erestart.criu finds it before LSF commits the restart (exit 6): the directory
        # is renamed back, the checkpoint stays restartable, and its log names the file.
        self.assertEqual(rec["exit_code"], 6, rec)
        log = self.c.log_text(jid)
        self.assertIn("'%s' (a file open in process" % target, log)
        self.assertRegex(log, r"is \d+ bytes on host \S+, \d+ when the job was checkpointed")
        self.assertNotIn("Protocol error", log)

    def test_restart_without_images_fails_clearly(self):
        jid, _ = self.start_counter()
        self.c.bkill(jid)
        self.c.wait_state(jid)
        new, p = self.c.brestart(jid)
        if new is None:
            # The double refuses a restart without a successful checkpoint, as LSF does.
            self.assertNotEqual(p.returncode, 0)
            return
        rec = self.c.wait_state(new)
        self.assertEqual(rec["stat"], "EXIT")


if __name__ == "__main__":
    unittest.main(verbosity=2)
