#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Jobs started by lsf-criu-start run in their own user, PID and mount
namespaces as their own uid with no capability; their checkpoints restore
whatever host PIDs are taken, twice at the same time, with signals and exit
status passing through. LSF's job control reaches them as it reaches a plain
job: INT/TERM/KILL end them (even one that ignores TERM), STOP/TSTP and CONT
stop and continue them, and no process of theirs outlives a SIGKILL of the
starter or of its process group, first run or restored. Real criu, jobs of a
non-root user."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import unittest

from cluster import ClusterTest, TOP, WORKLOADS, assert_continuous, counts, wait_for

sys.path.insert(0, os.path.join(TOP, "tests", "lsfsim"))
from simlib import proc_environ  # noqa: E402

COUNTER = os.path.join(WORKLOADS, "counter.sh")
TRAPPER = os.path.join(WORKLOADS, "trapper.sh")
IGNORER = os.path.join(WORKLOADS, "ignorer.sh")


def status_field(pid, name):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(name + ":"):
                    return line.split(":", 1)[1].split()
    except OSError:
        pass
    return None


def proc_stat(pid):
    """(state, ppid, pgid, sid) of a host PID, or None once it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return rest[0], int(rest[1]), int(rest[2]), int(rest[3])
    except (OSError, IndexError, ValueError):
        return None


def pid_ns(pid):
    try:
        return os.readlink("/proc/%d/ns/pid" % pid)
    except OSError:
        return None


def is_stopped(pid):
    """Stopped, or waiting in vfork() for a child that is stopped before its
    exec (dash runs commands with vfork: the parent then shows state D)."""
    st = proc_stat(pid)
    if not st or st[0] in "TZ":
        return True  # stopped, or ended meanwhile (the counter's sleep)
    if st[0] != "D":
        return False
    try:
        with open("/proc/%d/wchan" % pid) as f:
            wchan = f.read()
        return "clone" in wchan or "vfork" in wchan
    except OSError:
        return True


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read()
    except OSError:
        return b""


def live_pids():
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st and st[0] != "Z":
                out.append(int(d))
    return out


class NsJobs:
    """Finding a namespaced job's processes from the host."""

    def start(self, cmd, **kw):
        return self.c.chk_bsub([os.path.join(self.c.serverdir, "lsf-criu-start")] + cmd, **kw)

    def init_of(self, jid):
        """Host PID of the namespace's init, once lsf-criu-start (or the restorer) recorded it."""
        def find():
            try:
                with open(os.path.join(self.c.chkdir(jid), "lsf-criu.starter")) as f:
                    rec = json.load(f)
            except (OSError, ValueError):
                return None
            return str(rec.get("jobid")) == str(jid) and rec["init_pid"]
        return wait_for(find, 30, 0.1, "the namespace's init of job %s" % jid)

    def job_process(self, jid):
        """Host PID of the user command (PID 1001 in the job's namespaces)."""
        init = self.init_of(jid)

        def find():
            for p in live_pids():
                st = proc_stat(p)
                if st and st[1] == init and (status_field(p, "NSpid") or [""])[-1] == "1001":
                    return p
            return None
        return wait_for(find, 30, 0.1, "the job in its namespaces")

    def outer_process(self, jid):
        """lsf-criu-start (or lsf-criu-restore): the parent of the init."""
        return proc_stat(self.init_of(jid))[1]

    def job_members(self, jid, ns):
        """The job's own processes: those in its PID namespace but not in LSF's
        process group (the namespace's helper is) and not the init."""
        pgid = self.c.job(jid)["pgid"]
        out = []
        for p in live_pids():
            st = proc_stat(p)
            if st and st[2] != pgid and pid_ns(p) == ns and \
                    (status_field(p, "NSpid") or ["1"])[-1] != "1":
                out.append(p)
        return out

    def survivors(self, jids, nss):
        """Live processes of these jobs: carrying this cluster's job environment
        with one of the job IDs (a restored process keeps its old job's), or
        with any and inside one of the jobs' PID namespaces (the kernel reuses
        a namespace's inode number once it is gone, maybe for another
        cluster's job)."""
        jids = set(str(j) for j in jids)
        out = []
        for p in live_pids():
            env = proc_environ(p)
            if env.get("LSF_ENVDIR") == self.c.conf and \
                    (env.get("LSB_JOBID") in jids or pid_ns(p) in nss):
                out.append(p)
        return out

    def assert_nothing_survives(self, jids, nss, timeout=30):
        try:
            wait_for(lambda: not self.survivors(jids, nss), timeout, 0.1,
                     "every process of job(s) %s to be gone" % ", ".join(map(str, jids)))
        except AssertionError:
            left = {p: (proc_stat(p), cmdline(p)) for p in self.survivors(jids, nss)}
            raise AssertionError("processes of job(s) %s survive: %s" % (jids, left))

    def wait_stopped(self, jid, ns):
        """Waits until every process of the job is stopped (state T)."""
        def stopped():
            m = self.job_members(jid, ns)
            return m and all(is_stopped(p) for p in m)
        wait_for(stopped, 30, 0.02, "every process of job %s to stop" % jid)

    def wait_running(self, jid, ns):
        def running():
            m = self.job_members(jid, ns)
            return m and all((proc_stat(p) or ("S",))[0] != "T" for p in m)
        wait_for(running, 30, 0.02, "every process of job %s to continue" % jid)


class Namespaces(NsJobs, ClusterTest):

    def start_ignorer(self, **kw):
        """A job that ignores INT and TERM and writes its count to a file of its own."""
        f = os.path.join(self.c.home, "ignorer-%d.out" % time.monotonic_ns())
        jid, _ = self.start(["/bin/sh", IGNORER, "100000", "0.05", f], **kw)
        wait_for(lambda: len(counts(f)) >= 5, 60, 0.1, "job %s to count" % jid)
        return jid, f

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
                   "LSF_ENVDIR=%s" % self.c.conf, "/bin/sh", "-c",
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

    def test_exit_status_passes_through(self):
        jid, out = self.start(["/bin/sh", COUNTER, "5", "0.01", "3"])
        rec = self.c.wait_state(jid, timeout=60)
        self.assertEqual(rec["exit_code"], 3, rec)
        self.assertEqual(counts(out), [1, 2, 3, 4, 5])

    def test_job_ignoring_term_dies_of_bkill(self):
        # bkill: SIGINT and SIGTERM to LSF's process group, SIGKILL after the grace time.
        jid, out = self.start_ignorer()
        ns = pid_ns(self.job_process(jid))
        self.assertEqual(self.c.bkill(jid).returncode, 0)
        rec = self.c.wait_state(jid, timeout=60)
        self.assertEqual(rec["stat"], "EXIT", rec)
        self.assert_nothing_survives([jid], [ns])
        self.assertNotIn("finished at", open(out).read())

    def test_kill_of_the_group_leaves_no_process(self):
        jid, out = self.start_ignorer()
        ns = pid_ns(self.job_process(jid))
        self.assertEqual(self.c.bkill(jid, "KILL").returncode, 0)
        self.c.wait_state(jid, timeout=60)
        self.assert_nothing_survives([jid], [ns])

    def test_kill_9_of_the_starter_leaves_no_process(self):
        jid, out = self.start_ignorer()
        ns = pid_ns(self.job_process(jid))
        starter = self.outer_process(jid)
        self.assertIn(b"lsf-criu-start", cmdline(starter))
        os.kill(starter, signal.SIGKILL)
        rec = self.c.wait_state(jid, timeout=60)
        self.assertEqual(rec["stat"], "EXIT", rec)
        self.assert_nothing_survives([jid], [ns])

    def test_kill_9_of_the_init_kills_the_job_and_says_so(self):
        # The kernel kills every process of a PID namespace whose init dies;
        # lsf-criu-start then dies of the same signal (137 from the job-file shell).
        jid, out = self.start_ignorer()
        ns = pid_ns(self.job_process(jid))
        os.kill(self.init_of(jid), signal.SIGKILL)
        rec = self.c.wait_state(jid, timeout=60)
        self.assertEqual(rec["exit_code"], 137, rec)
        self.assert_nothing_survives([jid], [ns])

    def stop_and_continue(self, jid, sig):
        ns = pid_ns(self.job_process(jid))
        self.assertEqual(self.c.bkill(jid, sig).returncode, 0)
        self.wait_stopped(jid, ns)
        n = len(self.spool_counts(jid))
        time.sleep(1)  # not a wait for a condition: the count must not move meanwhile
        self.assertEqual(len(self.spool_counts(jid)), n, "the job counted while stopped")
        self.assertEqual(self.c.bkill(jid, "CONT").returncode, 0)
        self.wait_running(jid, ns)
        self.wait_counting(jid, n + 3)

    def test_stop_tstp_and_cont(self):
        # bstop sends SIGSTOP (SIGTSTP for parallel jobs) to the job's group, bresume SIGCONT.
        jid, out = self.start(["/bin/sh", TRAPPER, "100000", "0.05"])
        self.wait_counting(jid, 5)
        self.stop_and_continue(jid, "STOP")
        self.stop_and_continue(jid, "TSTP")
        self.stop_and_continue(jid, "TTIN")
        ns = pid_ns(self.job_process(jid))
        self.c.bkill(jid, "TERM")
        rec = self.c.wait_state(jid, timeout=60)
        self.assertEqual(rec["exit_code"], 143, rec)
        with open(out) as f:
            self.assertEqual(f.read().count("got TERM"), 1, "TERM lost or duplicated")
        self.assert_nothing_survives([jid], [ns])

    def test_bstop_then_bkill(self):
        jid, out = self.start_ignorer()
        ns = pid_ns(self.job_process(jid))
        self.assertEqual(self.c.bkill(jid, "STOP").returncode, 0)
        self.wait_stopped(jid, ns)
        self.assertEqual(self.c.bkill(jid).returncode, 0)
        rec = self.c.wait_state(jid, timeout=60)
        self.assertEqual(rec["stat"], "EXIT", rec)
        self.assert_nothing_survives([jid], [ns])

    def test_stop_cont_and_kill_9_after_restore(self):
        jid, out = self.start(["/bin/sh", TRAPPER, "100000", "0.05"])
        self.wait_counting(jid, 5)
        old_ns = pid_ns(self.job_process(jid))
        new = self.cycle(jid)
        self.wait_counting(new, 3)
        ns = pid_ns(self.job_process(new))

        def child_pids():
            inside = [(status_field(p, "NSpid") or ["1001"])[-1]
                      for p in self.job_members(new, ns)]
            return [int(x) for x in inside if x != "1001"]
        # Processes the restored job forks get PIDs above 1000 (criu's took low ones).
        self.assertGreater(min(wait_for(child_pids, 30, 0.01, "a child of the restored job")),
                           1000)
        self.stop_and_continue(new, "STOP")
        self.stop_and_continue(new, "TSTP")
        restorer = self.outer_process(new)
        self.assertIn(b"lsf-criu-restore", cmdline(restorer))
        os.kill(restorer, signal.SIGKILL)
        rec = self.c.wait_state(new, timeout=60)
        self.assertEqual(rec["stat"], "EXIT", rec)
        self.assert_nothing_survives([jid, new], [old_ns, ns])

    def test_stop_and_signal_during_a_restore_apply_after_it(self):
        # criu starts late (fault injector), so LSF's signals arrive while the
        # restore runs, before the restored job exists.
        self.c.use_criu("criu-slow", LC_REAL_CRIU=self.c.criu, LC_CRIU_DELAY=6)
        jid, out = self.start(["/bin/sh", TRAPPER, "100000", "0.05"])
        self.wait_counting(jid, 5)
        p = self.c.bchkpnt(jid, kill=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.c.wait_state(jid, timeout=120)
        new, p = self.c.brestart(jid)
        self.assertIsNotNone(new, p.stdout + p.stderr)
        self.c.wait_state(new, ("RUN",))
        pgid = self.c.job(new)["pgid"]

        def sentinel():
            for q in live_pids():
                st = proc_stat(q)
                if st and st[2] == pgid and cmdline(q) and \
                        open("/proc/%d/comm" % q).read().strip() == "lsf-criu-sentry":
                    return q
            return None
        init = proc_stat(wait_for(sentinel, 60, 0.05, "the restore's init and sentinel"))[1]
        done = "job %s restored in its own namespaces" % new
        self.assertNotIn(done, self.c.log_text(new), "the restore ended too early")
        self.assertEqual(self.c.bkill(new, "STOP").returncode, 0)
        self.assertEqual(self.c.bkill(new, "USR1").returncode, 0)

        def restored_job():
            for q in live_pids():
                st = proc_stat(q)
                if st and st[1] == init and (status_field(q, "NSpid") or [""])[-1] == "1001":
                    return q
            return None
        # The restore goes on (criu is not in LSF's group); lsf-criu-restore
        # itself is stopped with LSF's group and logs only after SIGCONT.
        job = wait_for(restored_job, 120, 0.1, "the restored job to be the init's child")
        ns = pid_ns(job)
        self.wait_stopped(new, ns)
        spool = self.c.job(new)["spool_out"]

        def text():
            with open(spool) as f:
                return f.read()
        self.assertNotIn("got USR1", text(), "a stopped job ran its handler")
        n = len(counts(spool))
        time.sleep(1)  # not a wait for a condition: the count must not move meanwhile
        self.assertEqual(len(counts(spool)), n, "the restored job counted while stopped")
        self.assertEqual(self.c.bkill(new, "CONT").returncode, 0)
        self.wait_running(new, ns)
        wait_for(lambda: len(counts(spool)) >= n + 3, 60, 0.1, "the job to count again")
        wait_for(lambda: "got USR1" in text(), 30, 0.1,
                 "the USR1 sent during the restore to reach the job")
        wait_for(lambda: done in self.c.log_text(new), 60, 0.1, "the restorer to go on")
        self.assertEqual(text().count("got USR1"), 1)
        self.c.bkill(new, "KILL")
        self.c.wait_state(new, timeout=60)
        self.assert_nothing_survives([jid, new], [ns])

    def test_restored_job_ignoring_term_dies_of_bkill(self):
        jid, out = self.start_ignorer()
        new = self.cycle(jid)
        n = len(counts(out))
        wait_for(lambda: len(counts(out)) >= n + 3, 60, 0.1, "restored job %s to count" % new)
        ns = pid_ns(self.job_process(new))
        self.assertEqual(self.c.bkill(new).returncode, 0)
        rec = self.c.wait_state(new, timeout=60)
        self.assertEqual(rec["stat"], "EXIT", rec)
        self.assert_nothing_survives([jid, new], [ns])
        assert_continuous(self, counts(out))


class NamespacesInCgroups(NsJobs, ClusterTest):
    """With a per-job cgroup v2 in the double (LSFSIM_JOB_CGROUP=Y)."""
    params = {"LSFSIM_JOB_CGROUP": "Y"}

    def test_cgroup_kill_ends_the_job_cleanly(self):
        jid, out = self.start(["/bin/sh", COUNTER, "100000", "0.05", "0"])
        wait_for(lambda: len(counts(self.c.job(jid).get("spool_out") or "")) >= 5, 60, 0.1,
                 "job %s to count" % jid)
        cg = self.c.job(jid)["cgroup"]
        if not cg:
            self.skipTest("the double could not give the job a cgroup here")
        ns = pid_ns(self.job_process(jid))
        with open(os.path.join(cg, "cgroup.kill"), "w") as f:
            f.write("1")
        rec = self.c.wait_state(jid, timeout=60)
        self.assertEqual(rec["stat"], "EXIT", rec)
        self.assert_nothing_survives([jid], [ns])
        wait_for(lambda: not os.path.exists(cg), 30, 0.1, "the job's cgroup to be removed")


OVERRUN_QUEUES = """Begin Queue
QUEUE_NAME   = normal
RUNLIMIT     = 2
JOB_CONTROLS = TERMINATE[{serverdir}/lsf-criu-terminate]
POST_EXEC    = {serverdir}/lsf-criu-postexec
End Queue
"""


class NamespacedDeadline(NsJobs, ClusterTest):
    """The deadline of a run-limit checkpoint kills criu itself, which runs
    inside the job's namespaces, not just the process that entered them."""
    queues = OVERRUN_QUEUES
    # A long terminate interval: the job (which ignores SIGINT) outlives the
    # deadline by far, so only echkpnt.criu's kill can end criu in time.
    params = {"JOB_TERMINATE_INTERVAL": "60"}

    def criu_stand_ins(self, ns):
        return [p for p in live_pids() if pid_ns(p) == ns
                and cmdline(p) == b"sleep\x00100000\x00"]

    def test_deadline_kills_criu_inside_the_namespace(self):
        self.c.use_criu("criu-hangs")
        env = {"ENABLE_ORUN_CHKPNT": "Y", "ENABLE_ORUN_RESTART": "Y",
               "JOB_TERMINATE_INTERVAL": "60", "ORUN_TIMEOUT_SECONDS": "5"}
        jid, out = self.start(["/bin/sh", IGNORER, "100000", "0.05"], extra_env=env)
        ns = pid_ns(self.job_process(jid))
        job = self.job_process(jid)
        hung = wait_for(lambda: self.criu_stand_ins(ns), 90, 0.1,
                        "the hanging criu to run inside the job's namespaces")
        wait_for(lambda: "by the deadline" in self.c.log_text(jid), 60, 0.1,
                 "echkpnt.criu to reach the deadline")
        # criu is gone (killed, and reaped by echkpnt.criu) while the job still runs.
        wait_for(lambda: not any(proc_stat(p) for p in hung), 10, 0.05,
                 "the hanging criu %s to be gone" % hung)
        self.assertIsNotNone(proc_stat(job), "the job ended before criu did")
        self.assertEqual(self.criu_stand_ins(ns), [])
        self.c.bkill(jid, "KILL")
        self.c.wait_state(jid, timeout=60)
        self.assert_nothing_survives([jid], [ns])


if __name__ == "__main__":
    unittest.main(verbosity=2)
