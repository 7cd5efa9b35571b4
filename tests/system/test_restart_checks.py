#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A restart that can be retried. erestart.criu checks, before LSF commits
the restart, what the image needs from the host (the files, directories and
CPU features recorded at checkpoint time in host-needs.json, criu, free PIDs)
and fails with one line naming what is missing; LSF then renames the
directory back and the same checkpoint restarts once the cause is gone. A
restore that fails inside the restarted job anyway says in the log how to
restart the checkpoint again, and doing so works. Real criu, jobs of a
non-root user."""

import json
import os
import shutil
import subprocess
import unittest

from cluster import BUILD, ClusterTest, WORKLOADS, assert_continuous, counts, wait_for

COUNTER = os.path.join(WORKLOADS, "counter.sh")


class RestartChecks(ClusterTest):

    def spool_counts(self, jid):
        return counts(self.c.job(jid).get("spool_out") or "")

    def wait_counting(self, jid, n=5):
        wait_for(lambda: len(self.spool_counts(jid)) >= n, 60, 0.1,
                 "job %s to count to %d" % (jid, n))

    def checkpoint_kill(self, jid):
        self.wait_counting(jid)
        p = self.c.bchkpnt(jid, kill=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.c.wait_state(jid)
        self.assertIn("checkpoint of job %s done" % jid, self.c.log_text(jid))

    def failed_restart(self, old):
        """brestart of old must fail in erestart.criu; returns the log line that says why."""
        new, p = self.c.brestart(old)
        self.assertIsNotNone(new, p.stdout + p.stderr)
        rec = self.c.wait_state(new, timeout=120)
        self.assertEqual(rec["stat"], "EXIT", rec)
        calls = [c for c in self.c.method_calls("erestart.criu") if c.get("end")]
        self.assertEqual(calls[-1].get("exit_code"), 6, calls[-1])
        # LSF renamed the directory back: the checkpoint is where it was.
        d = self.c.chkdir(old)
        self.assertTrue(os.path.isdir(d) and not os.path.islink(d))
        self.assertFalse(os.path.lexists(self.c.chkdir(new)))
        refused = [ln for ln in self.c.log_text(old).splitlines()
                   if "restart of job %s refused" % new in ln]
        self.assertEqual(len(refused), 1, self.c.log_text(old))
        return refused[0]

    def restart_and_finish(self, old, out, last):
        new, p = self.c.brestart(old)
        self.assertIsNotNone(new, p.stdout + p.stderr)
        rec = self.c.wait_state(new, timeout=120)
        self.assertEqual(rec["stat"], "DONE", self.c.log_text(new))
        assert_continuous(self, counts(out), 1, last)
        return new

    def check_dir(self, d):
        """lsf-criu check --dir d, as the job owner: the process and the ckpt-restore probe."""
        p = self.c.run([os.path.join(BUILD, "lsf-criu"), "check", "--json", "--dir", d])
        probes = {pr["name"]: pr for pr in json.loads(p.stdout)["probes"]}
        return p, probes["ckpt-restore"]

    def submit_script(self, script):
        """A job given as a script on stdin (the job-file shell runs its lines)."""
        out = os.path.join(self.c.home, "script.out")
        jid = self.c.bsub(["-k", "%s method=criu" % self.c.base, "-o", out], input=script)
        return jid, out

    def test_missing_or_changed_files_refused_and_checkpoint_stays_restartable(self):
        # The job runs its script from app/, in the working directory wd/, reading data.txt.
        wd = os.path.join(self.c.home, "wd")
        app = os.path.join(self.c.home, "app")
        self.c.user_mkdir(wd)
        self.c.user_mkdir(app)
        script = os.path.join(app, "run.sh")
        shutil.copy(COUNTER, script)
        os.chmod(script, 0o755)
        data = os.path.join(self.c.home, "data.txt")
        with open(data, "w") as f:
            f.write("input\n")
        os.chown(data, self.c.pw.pw_uid, self.c.pw.pw_gid)
        # (Not "exec": the root would be the script's shell, whose script lsf-criu saves
        # with the image like LSF's job file; run as a child, the script must be there.)
        jid, out = self.submit_script("cd '%s'\nexec 7<'%s'\n/bin/sh '%s' 150 0.05 0\n"
                                      % (wd, data, script))
        self.c.wait_state(jid, ("RUN",))
        self.checkpoint_kill(jid)
        # This host lacks the job's working directory ...
        os.rename(wd, wd + ".away")
        # (lsf-criu check --dir tells beforehand, as the job owner)
        p, probe = self.check_dir(self.c.chkdir(jid))
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertEqual(probe["status"], "FAIL", probe)
        self.assertIn("would not restore on this host: '%s' (the working directory of process"
                      % wd, probe["finding"])
        line = self.failed_restart(jid)
        self.assertIn("'%s' (the working directory of process" % wd, line)
        self.assertIn("is missing on host", line)
        self.assertIn("'brestart -m <another host> %s %s'" % (self.c.base, jid), line)
        os.rename(wd + ".away", wd)
        p, probe = self.check_dir(self.c.chkdir(jid))
        self.assertEqual(probe["status"], "OK", probe)
        self.assertIn("of job %s (host PIDs, criu " % jid, probe["finding"])
        self.assertIn("would restore on this host", probe["finding"])
        # ... then its script ...
        os.rename(app, app + ".away")
        line = self.failed_restart(jid)
        self.assertIn("'%s' (a file open in process" % script, line)
        self.assertIn("is missing on host", line)
        os.rename(app + ".away", app)
        # ... then a file it reads has changed since the checkpoint.
        with open(data, "a") as f:
            f.write("more\n")
        line = self.failed_restart(jid)
        self.assertIn("'%s' (a file open in process" % data, line)
        self.assertIn("is 11 bytes on host", line)
        self.assertIn("6 when the job was checkpointed", line)
        with open(data, "w") as f:
            f.write("input\n")
        # Every time LSF renamed the directory back: the same checkpoint now restarts.
        self.restart_and_finish(jid, out, 150)

    def test_cpu_feature_missing_fails_in_erestart(self):
        jid, out = self.c.chk_bsub(["/bin/sh", COUNTER, "150", "0.05", "0"])
        self.c.wait_state(jid, ("RUN",))
        self.checkpoint_kill(jid)
        d = self.c.chkdir(jid)
        with open(os.path.join(d, "lsf-criu.current")) as f:
            needs_path = os.path.join(d, f.read().strip(), "host-needs.json")
        with open(needs_path) as f:
            needs = json.load(f)
        self.assertIn("sse2", needs["cpu"]["flags"])
        # As if the image came from a CPU with a feature this one lacks.
        saved = json.dumps(needs)
        needs["cpu"]["flags"].append("amx_fake")
        needs["host"] = "bignode"
        self.rewrite(needs_path, json.dumps(needs))
        line = self.failed_restart(jid)
        self.assertIn("lacks the feature 'amx_fake' that the CPU of host bignode offered", line)
        self.rewrite(needs_path, saved)
        self.restart_and_finish(jid, out, 150)

    def rewrite(self, path, text):
        with open(path, "w") as f:
            f.write(text)
        os.chown(path, self.c.pw.pw_uid, self.c.pw.pw_gid)
        os.chmod(path, 0o600)

    def test_pid_held_by_a_live_process_fails_in_erestart(self):
        self.c.lsf_criu_conf("criu = %s\npid_wait_seconds = 2\n" % self.c.criu)
        jid, out = self.c.chk_bsub(["/bin/sh", COUNTER, "150", "0.05", "0"])
        self.c.wait_state(jid, ("RUN",))
        self.checkpoint_kill(jid)
        d = self.c.chkdir(jid)
        with open(os.path.join(d, "lsf-criu.current")) as f:
            imgset = f.read().strip()
        with open(os.path.join(d, imgset, "meta.json")) as f:
            pids = json.load(f)["pids"]
        holder = None
        wait_for(lambda: not any(os.path.exists("/proc/%d" % p) for p in pids), 30, 0.1,
                 "the checkpointed processes to be gone")
        for _ in range(5):
            with open("/proc/sys/kernel/ns_last_pid", "w") as f:
                f.write(str(pids[0] - 1))
            h = subprocess.Popen(["sleep", "600"])
            if h.pid == pids[0]:
                holder = h
                break
            h.kill()
            h.wait()
        self.assertIsNotNone(holder, "could not take PID %d" % pids[0])
        self.addCleanup(lambda: (holder.kill(), holder.wait()))
        line = self.failed_restart(jid)
        self.assertIn("PID %d, which the image needs, is held by a live process (sleep)"
                      % pids[0], line)
        holder.kill()
        holder.wait()
        self.restart_and_finish(jid, out, 150)

    def test_restore_failing_inside_the_job_stays_restartable(self):
        # Past erestart.criu's checks, the restore itself fails inside the restarted job:
        # LSF has committed the restart. The restorer hands the checkpoint back to LSF as
        # one of the new job, and its log says how to retry it.
        flag = os.path.join(self.c.base, "fail-restore")
        self.c.use_criu("criu-restore-fails-while-flagged", LC_REAL_CRIU=self.c.criu)
        jid, out = self.c.chk_bsub(["/bin/sh", COUNTER, "150", "0.05", "0"])
        self.c.wait_state(jid, ("RUN",))
        self.checkpoint_kill(jid)
        with open(flag, "w"):
            pass
        new, p = self.c.brestart(jid)
        self.assertIsNotNone(new, p.stdout + p.stderr)
        self.c.wait_state(new, timeout=180)
        log = self.c.log_text(new)
        self.assertIn("this restore fails on purpose", log)
        self.assertIn("is handed back to LSF as a checkpoint of job %s: 'brestart %s %s' "
                      "retries it" % (new, self.c.base, new), log)
        # brestart of the old job is refused: LSF has committed the restart ...
        again, p = self.c.brestart(jid)
        self.assertIsNone(again, p.stdout)
        # ... and the new one restarts the same checkpoint once the cause is gone.
        os.unlink(flag)
        last = self.restart_and_finish(new, out, 150)
        self.assertIn("restored in", self.c.log_text(last))

if __name__ == "__main__":
    unittest.main()
