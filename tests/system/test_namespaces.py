#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Jobs started by lsf-criu-start run in their own user, PID and mount
namespaces as their own uid with no capability; their checkpoints restore
whatever host PIDs are taken, twice at the same time, with signals and exit
status passing through. Real criu, jobs of a non-root user."""

import json
import os
import re
import shutil
import subprocess
import time
import unittest

from cluster import ClusterTest, WORKLOADS, assert_continuous, counts, wait_for

COUNTER = os.path.join(WORKLOADS, "counter.sh")
TRAPPER = os.path.join(WORKLOADS, "trapper.sh")


def status_field(pid, name):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].split()
    return None


class Namespaces(ClusterTest):

    def start(self, cmd, **kw):
        return self.c.chk_bsub([os.path.join(self.c.serverdir, "lsf-criu-start")] + cmd, **kw)

    def job_process(self, jid):
        """Host PID of the user command (PID 1001 in the job's namespaces)."""
        def find():
            with open(os.path.join(self.c.chkdir(jid), "lsf-criu.starter")) as f:
                init = json.load(f)["init_pid"]
            for d in os.listdir("/proc"):
                if d.isdigit():
                    try:
                        with open("/proc/%s/stat" % d) as f:
                            st = f.read()
                    except OSError:
                        continue
                    if int(st.rsplit(")", 1)[1].split()[1]) == init:
                        return int(d)
            return None
        return wait_for(lambda: os.path.exists(os.path.join(self.c.chkdir(jid),
                                                            "lsf-criu.starter")) and find(),
                        30, 0.1, "the job in its namespaces")

    def spool_counts(self, jid):
        return counts(self.c.job(jid).get("spool_out") or "")

    def wait_counting(self, jid, n=5):
        wait_for(lambda: len(self.spool_counts(jid)) >= n, 60, 0.1,
                 "job %s to count to %d" % (jid, n))

    def cycle(self, jid):
        p = self.c.bchkpnt(jid, kill=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.c.wait_state(jid)
        self.assertIn("checkpoint of job %s done" % jid, self.c.log_text(jid))
        new, p = self.c.brestart(jid)
        self.assertIsNotNone(new, p.stdout + p.stderr)
        self.c.wait_state(new, ("RUN",))
        return new

    def test_own_uid_no_capabilities_pid_1001(self):
        jid, out = self.start(["/bin/sh", COUNTER, "100000", "0.05", "0"])
        pid = self.job_process(jid)
        self.assertEqual(status_field(pid, "NSpid")[-1], "1001")
        self.assertEqual(status_field(pid, "Uid"), [str(self.c.pw.pw_uid)] * 4)
        self.assertEqual(int(status_field(pid, "CapEff")[0], 16), 0)
        self.assertEqual(int(status_field(pid, "CapPrm")[0], 16), 0)
        self.assertEqual(int(status_field(pid, "CapAmb")[0], 16), 0)
        # Inside, the job is its own uid too, not root.
        with open("/proc/%d/uid_map" % pid) as f:
            fields = f.read().split()
        self.assertEqual(fields[:3], [str(self.c.pw.pw_uid)] * 2 + ["1"])
        self.c.bkill(jid)
        self.c.wait_state(jid)

    def test_restart_with_every_original_pid_taken(self):
        jid, out = self.start(["/bin/sh", COUNTER, "80", "0.05", "7"])
        self.wait_counting(jid, 10)
        p = self.c.bchkpnt(jid, kill=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.c.wait_state(jid)
        d = self.c.chkdir(jid)
        with open(os.path.join(d, "lsf-criu.current")) as f:
            imgset = f.read().strip()
        with open(os.path.join(d, imgset, "meta.json")) as f:
            meta = json.load(f)
        self.assertTrue(meta["namespaces"])
        # Occupy every host PID the dumped processes had.
        holders = []
        for pid in meta["pids"]:
            for _ in range(3):
                with open("/proc/sys/kernel/ns_last_pid", "w") as f:
                    f.write(str(pid - 1))
                h = subprocess.Popen(["sleep", "600"])
                if h.pid == pid:
                    holders.append(h)
                    break
                h.kill()
                h.wait()
        self.addCleanup(lambda: [(h.kill(), h.wait()) for h in holders])
        self.assertEqual(sorted(h.pid for h in holders), sorted(meta["pids"]),
                         "could not occupy the original PIDs")
        new, p = self.c.brestart(jid)
        self.assertIsNotNone(new, p.stderr)
        rec = self.c.wait_state(new, timeout=120)
        self.assertEqual(rec["exit_code"], 7, self.c.log_text(new))
        assert_continuous(self, counts(out), 1, 80)

    def test_two_concurrent_restores_of_one_image(self):
        jid, out = self.start(["/bin/sh", COUNTER, "60", "0.05", "5"])
        self.wait_counting(jid, 10)
        self.assertEqual(self.c.bchkpnt(jid, kill=True).returncode, 0)
        self.c.wait_state(jid)
        src = self.c.chkdir(jid)
        with open(os.path.join(src, "lsf-criu.current")) as f:
            imgset = f.read().strip()
        stopped = len(counts(out))
        procs = []
        for k in (1, 2):
            dst = os.path.join(self.c.base, "copy%d" % k)
            shutil.copytree(src, dst, symlinks=True)
            subprocess.run(["chown", "-R", "%d:%d" % (self.c.pw.pw_uid, self.c.pw.pw_gid),
                            dst], check=True)
            outk = os.path.join(self.c.home, "copy%d.out" % k)
            cmd = ["runuser", "-u", self.c.user, "--", "env", "-i", "LSB_JOBID=%d" % (900 + k),
                   "LSF_CRIU_CRIU=%s" % self.c.criu, "/bin/sh", "-c",
                   'exec "$0" "$1" "$2" >>"$3" 2>&1',
                   os.path.join(self.c.serverdir, "lsf-criu-restore"), dst, imgset, outk]
            procs.append((subprocess.Popen(cmd), outk))
        for p, outk in procs:
            self.assertEqual(p.wait(timeout=120), 5)
            nums = counts(outk)
            self.assertEqual(nums, list(range(stopped + 1, 61)),
                             "restore %s did not continue the count" % outk)

    def test_signals_reach_the_job_before_and_after_restore(self):
        jid, out = self.start(["/bin/sh", TRAPPER, "100000", "0.05"])
        self.wait_counting(jid, 5)
        self.c.bkill(jid, "USR1")
        wait_for(lambda: "got USR1" in open(self.c.job(jid)["spool_out"]).read(), 30, 0.1,
                 "SIGUSR1 to reach the job")
        new = self.cycle(jid)
        self.wait_counting(new, 3)
        self.c.bkill(new, "USR1")
        wait_for(lambda: "got USR1" in open(self.c.job(new)["spool_out"]).read(), 30, 0.1,
                 "SIGUSR1 to reach the restored job")
        self.c.bkill(new, "TERM")
        rec = self.c.wait_state(new, timeout=60)
        self.assertEqual(rec["exit_code"], 143, rec)
        with open(out) as f:
            text = f.read()
        self.assertEqual(text.count("got USR1"), 2, "a signal was lost or duplicated")
        self.assertIn("got TERM", text)

    def test_death_by_signal_passes_through(self):
        jid, out = self.start(["/bin/sh", COUNTER, "100000", "0.05", "0"])
        self.wait_counting(jid, 5)
        new = self.cycle(jid)
        self.wait_counting(new, 3)
        pid = self.job_process(new)
        os.kill(pid, 9)
        rec = self.c.wait_state(new, timeout=60)
        self.assertEqual(rec.get("term_signal"), 9, rec)
        self.assertIn("killed by signal 9", self.c.log_text(new))


if __name__ == "__main__":
    unittest.main(verbosity=2)
