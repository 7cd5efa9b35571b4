#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The process-tree support matrix (docs/support-matrix.md), measured: for each
kind of state a job can hold, a real job of the non-root test user runs
through the LSF test double, is checkpointed with bchkpnt -k and restarted
with brestart, and the test asserts what the job finds AFTER the restore.
Every row runs in both modes: a plain job (host PIDs) and a job started by
lsf-criu-start (its own user, PID and mount namespaces).

Rows criu cannot dump for a non-root job are asserted as such: the checkpoint
(bchkpnt without and with -k) fails with echkpnt.criu's exit status 1,
lsf-criu.log quotes criu's error, and the job keeps running untouched.
Real criu; no stand-in."""

import os
import re
import subprocess
import unittest

from cluster import PY, ClusterTest, WORKLOADS, assert_continuous, counts, wait_for

W = WORKLOADS
PIPELINE = os.path.join(W, "pipeline.sh")
MIB = 1 << 20
# criu's default ghost limit: deleted files up to this size travel in the image.
GHOST_LIMIT = MIB


class Cases:
    """The rows; mixed into one TestCase per mode (ns = under lsf-criu-start)."""

    ns = False

    # --- helpers --------------------------------------------------------------
    def submit(self, cmd):
        if self.ns:
            cmd = [os.path.join(self.c.serverdir, "lsf-criu-start")] + list(cmd)
        return self.c.chk_bsub(cmd)

    def spool(self, jid):
        path = self.c.job(jid).get("spool_out") or ""
        try:
            with open(path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_spool(self, jid, pattern, timeout=60):
        return wait_for(lambda: re.search(pattern, self.spool(jid), re.M), timeout, 0.1,
                        "job %s to print %r" % (jid, pattern))

    def wait_counting(self, jid, n=5, timeout=60):
        return wait_for(lambda: len(counts(self.c.job(jid).get("spool_out") or "")) >= n,
                        timeout, 0.1, "job %s to count to %d" % (jid, n))

    def last_echkpnt(self, after=0):
        def done():
            calls = [c for c in self.c.method_calls("echkpnt.criu") if c.get("end")]
            return len(calls) > after and calls
        return wait_for(done, 90, 0.2, "echkpnt.criu to finish")[-1]

    def n_echkpnt(self):
        return len([c for c in self.c.method_calls("echkpnt.criu") if c.get("end")])

    def cycle(self, jid):
        """bchkpnt -k, then brestart; returns the new job ID (running)."""
        before = self.n_echkpnt()
        p = self.c.bchkpnt(jid, kill=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        call = self.last_echkpnt(before)
        self.assertEqual(call.get("exit_code"), 0, self.c.log_text(jid))
        self.c.wait_state(jid)
        log = self.c.log_text(jid)
        self.assertIn("checkpoint of job %s done" % jid, log)
        self.assertEqual("dump root: process" in log and "job's namespaces" in log, self.ns,
                         "the job did not run in the expected mode:\n" + log)
        new, p = self.c.brestart(jid)
        self.assertIsNotNone(new, p.stdout + p.stderr)
        self.c.wait_state(new, ("RUN", "DONE", "EXIT"), timeout=90)
        return new

    def finish(self, jid, timeout=120):
        rec = self.c.wait_state(jid, timeout=timeout)
        self.assertEqual((rec["stat"], rec["exit_code"]), ("DONE", 0),
                         "%s\n%s" % (rec, self.c.log_text(jid)))
        self.assertIn("restored job %s exited with status 0" % jid, self.c.log_text(jid))
        return rec

    def assert_not_checkpointable(self, jid, *criu_errors):
        """bchkpnt without and with -k: echkpnt.criu exits 1, lsf-criu.log quotes
        criu's error, no image set is recorded, and the job keeps running."""
        for kill in (False, True):
            before, seen = self.n_echkpnt(), len(self.c.log_text(jid))
            p = self.c.bchkpnt(jid, kill=kill)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            call = self.last_echkpnt(before)
            self.assertEqual(call.get("exit_code"), 1, call)
            log = self.c.log_text(jid)[seen:]
            for msg in criu_errors:
                self.assertIn(msg, log)
            self.assertIn("criu exited with status 1", log)
            self.assertRegex(log, r"checkpoint of job %s failed: .*the job keeps running" % jid)
            self.assertFalse(os.path.exists(os.path.join(self.c.chkdir(jid),
                                                         "lsf-criu.current")))
            self.assertTrue(os.path.isdir(os.path.join(self.c.chkdir(jid), "ckpt.%d.failed"
                                                       % (before + 1))))
            self.assertEqual(self.c.job(jid)["stat"], "RUN")
            n = len(counts(self.c.job(jid)["spool_out"]))
            self.wait_counting(jid, n + 3, timeout=30)
        self.assertNotIn("BAD", self.spool(jid))
        self.assertNotIn("TIMEOUT", self.spool(jid))
        self.c.bkill(jid)
        self.c.wait_state(jid)

    def user_file(self, name):
        return os.path.join(self.c.home, name)

    def run_as_user(self, argv):
        return self.c.run(argv, timeout=30)

    # --- supported rows -------------------------------------------------------
    def test_threads(self):
        limit = 150
        jid, out = self.submit([PY, os.path.join(W, "cov_threads.py"), str(limit), "0.04"])
        self.wait_spool(jid, r"^thread 2 count 10 ")
        new = self.cycle(jid)
        # The checkpoint stopped all three in the middle of their count.
        with open(out) as f:
            stopped = re.findall(r"^thread (\d) count (\d+) ", f.read(), re.M)
        for i in "012":
            self.assertTrue(0 < len([t for t, _ in stopped if t == i]) < limit, stopped[-6:])
        self.finish(new)
        with open(out) as f:
            text = f.read()
        # After the restore each thread went on from its own count, with its TID.
        lines = re.findall(r"^thread (\d) count (\d+) tid (\d+)$", text, re.M)
        for i in "012":
            nums = [int(n) for t, n, _ in lines if t == i]
            assert_continuous(self, nums, 1, limit)
            tids = {tid for t, _, tid in lines if t == i}
            self.assertEqual(len(tids), 1, "thread %s changed its TID: %s" % (i, tids))
        self.assertIn("\nfinished\n", text)

    def lock_row(self, mode, checks):
        """Runs cov_locks.py MODE; checks: [(file, 'flock' | 'posix')]. Each lock is held
        before the checkpoint and after the restore (a non-blocking attempt of another
        process of the same user fails), and released when the job exits."""
        stop = self.user_file("locks.stop")
        jid, out = self.submit([PY, os.path.join(W, "cov_locks.py"), mode, stop, "0.05"]
                               + [f for f, _ in checks])
        self.wait_counting(jid, 5)

        def attempt(path, kind):
            if kind == "flock":
                r = self.run_as_user(["flock", "-n", "-E", "99", path, "true"])
                return {0: "acquired", 99: "busy"}.get(r.returncode, r.stderr)
            r = self.run_as_user([PY, os.path.join(W, "cov_trylock.py"), path])
            return r.stdout.strip() or r.stderr

        def assert_all(expect, where, log=""):
            for path, kind in checks:
                self.assertEqual(attempt(path, kind), expect, "%s lock on %s %s\n%s" %
                                 (kind, os.path.basename(path), where, log))

        assert_all("busy", "before the checkpoint")
        new = self.cycle(jid)
        self.wait_counting(new, 3)
        log = self.c.log_text(new)
        assert_all("busy", "after the restore", "\n".join(
            l for l in log.splitlines() if "copy" in l or "running:" in l))
        self.assertRegex(log, r"running: \S*criu dump .*--file-locks")
        self.assertRegex(log, r"running: \S+ dump .*--file-locks")
        self.assertRegex(log, r"running: \S+ restore .*--file-locks")
        # The job releases them at exit.
        with open(stop, "w"):
            pass
        self.finish(new)
        assert_all("acquired", "after the job's exit")
        nums = counts(out)
        assert_continuous(self, nums, 1, nums[-1])

    def test_flock_and_posix_locks(self):
        self.lock_row("own", [(self.user_file("flock.lck"), "flock"),
                              (self.user_file("posix.lck"), "posix")])

    def test_flock_on_a_file_opened_read_only(self):
        self.lock_row("rdonly", [(self.user_file("rdonly.lck"), "flock")])

    # /proc/locks names such a lock by the PID of the flock(1) that took it and is gone,
    # so echkpnt.criu always passes --file-locks rather than trusting that list.
    def test_flock_taken_by_a_helper_that_exited(self):
        self.lock_row("helper", [(self.user_file("helper.lck"), "flock")])

    # /proc/locks shows OFD locks with PID -1: covered by always passing --file-locks.
    def test_ofd_lock(self):
        self.lock_row("ofd", [(self.user_file("ofd.lck"), "posix")])

    def test_deleted_open_file_within_ghost_limit(self):
        path, limit = self.user_file("ghost-small"), 120
        jid, out = self.submit([PY, os.path.join(W, "cov_ghost.py"), path, str(GHOST_LIMIT),
                                str(limit), "0.04"])
        self.wait_counting(jid, 10)
        self.assertFalse(os.path.exists(path))
        new = self.cycle(jid)
        self.finish(new)
        self.assertFalse(os.path.exists(path), "the restore left the deleted file behind")
        self.assertEqual([f for f in os.listdir(self.c.home) if ".ghost" in f], [])
        with open(out) as f:
            text = f.read()
        steps = re.findall(r"^count (\d+) nlink (\d+) size (\d+) (\S+)$", text, re.M)
        assert_continuous(self, [int(s[0]) for s in steps], 1, limit)
        # After the restore the file is still deleted, complete, and read back as written.
        self.assertEqual({s[1:] for s in steps}, {("0", str(GHOST_LIMIT), "ok")})

    def test_open_file_renamed_while_running(self):
        a, b, limit = self.user_file("renamed.a"), self.user_file("renamed.b"), 100
        jid, out = self.submit([PY, os.path.join(W, "cov_rename.py"), a, str(limit), "0.04"])
        self.wait_counting(jid, 5)
        os.rename(a, b)
        self.wait_counting(jid, 10)
        new = self.cycle(jid)
        self.finish(new)
        self.assertFalse(os.path.exists(a))
        # Restored under the new name, at the same offset: one continuous file.
        assert_continuous(self, counts(b), 1, limit)
        assert_continuous(self, counts(out), 1, limit)

    def test_posix_shared_memory(self):
        limit = 100
        jid, out = self.submit([PY, os.path.join(W, "cov_shm.py"), "posix", str(limit),
                                "0.04"])
        name = self.wait_spool(jid, r"^posix shm (\S+)$").group(1)
        self.wait_counting(jid, 10)
        new = self.cycle(jid)
        # Parent and child still share the segment: the ping-pong goes on.
        self.finish(new)
        assert_continuous(self, counts(out), 1, limit)
        self.assertFalse(os.path.exists(name), "the job did not remove its segment")

    def test_posix_shared_memory_gone_at_restart(self):
        # criu saves a /dev/shm mapping by name, not its content: the segment must
        # still exist where the job is restarted.
        jid, out = self.submit([PY, os.path.join(W, "cov_shm.py"), "posix", "100000", "0.04"])
        name = self.wait_spool(jid, r"^posix shm (\S+)$").group(1)
        self.wait_counting(jid, 5)
        self.assertEqual(self.c.bchkpnt(jid, kill=True).returncode, 0)
        self.c.wait_state(jid)
        self.assertIn("checkpoint of job %s done" % jid, self.c.log_text(jid))
        self.assertTrue(os.path.exists(name), "the killed job's segment is gone")
        os.unlink(name)
        new, p = self.c.brestart(jid)
        self.assertIsNotNone(new, p.stdout + p.stderr)
        rec = self.c.wait_state(new, timeout=90)
        # erestart.criu finds it missing before LSF commits the restart (exit 6): LSF
        # renames the directory back and the checkpoint stays restartable where it exists.
        self.assertEqual((rec["stat"], rec["exit_code"]), ("EXIT", 6), rec)
        log = self.c.log_text(jid)
        self.assertIn("restart of job %s refused on host" % new, log)
        self.assertIn("'%s' (a file mapped by process" % name, log)
        self.assertIn("is missing on host", log)

    # --- rows criu cannot checkpoint for a non-root job -----------------------
    def test_deleted_open_file_over_ghost_limit(self):
        path, size = self.user_file("ghost-big"), GHOST_LIMIT + 4096
        jid, out = self.submit([PY, os.path.join(W, "cov_ghost.py"), path, str(size),
                                "100000", "0.04"])
        self.wait_counting(jid, 5)
        # lsf-criu passes no --ghost-limit: criu's default of 1 MiB applies.
        self.assert_not_checkpointable(
            jid, "Error (criu/files-reg.c:1031): Can't dump ghost file %s of %d size, "
            "increase limit" % (path, size))

    def test_sysv_shared_memory(self):
        jid, out = self.submit([PY, os.path.join(W, "cov_shm.py"), "sysv", "100000", "0.04"])
        shmid = self.wait_spool(jid, r"^sysv shmid (\d+)$").group(1)
        self.addCleanup(subprocess.run, ["ipcrm", "-m", shmid], stderr=subprocess.DEVNULL)
        self.wait_counting(jid, 5)
        # Neither mode gives the job its own IPC namespace, and criu dumps SysV
        # segments only as part of one.
        self.assert_not_checkpointable(
            jid, "Error (criu/cr-dump.c:478): Task ", " with SysVIPC shmem map @",
            " doesn't live in IPC ns")

    def test_tcp_connection_on_loopback(self):
        jid, out = self.submit([PY, os.path.join(W, "cov_tcp.py"), "100000", "0.04"])
        self.wait_counting(jid, 5)
        # lsf-criu passes no --tcp-established (TCP repair needs CAP_NET_ADMIN).
        self.assert_not_checkpointable(
            jid, "Error (criu/sk-inet.c:200): inet: Connected TCP socket, consider using "
            "--tcp-established option.")

    def test_unix_socket_to_outside_server(self):
        sock = self.user_file("echo.sock")
        srv = subprocess.Popen([PY, os.path.join(W, "cov_unix.py"), "server", sock],
                               user=self.c.pw.pw_uid, group=self.c.pw.pw_gid,
                               extra_groups=[], cwd=self.c.home, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: (srv.kill(), srv.wait(), srv.stdout.close()))
        self.assertEqual(srv.stdout.readline().strip(), b"listening")
        jid, out = self.submit([PY, os.path.join(W, "cov_unix.py"), "client", sock,
                                "100000", "0.04"])
        self.wait_counting(jid, 5)
        # lsf-criu passes no --ext-unix-sk (and the peer could not be re-connected).
        self.assert_not_checkpointable(
            jid, "Error (criu/sk-unix.c:874): unix: External socket is used. Consider "
            "using --ext-unix-sk option.")


class HostPids(Cases, ClusterTest):
    """Plain jobs: restored with their host PIDs."""
    ns = False


class UnderJobStarter(Cases, ClusterTest):
    """Jobs started by lsf-criu-start: own user, PID and mount namespaces."""
    ns = True

    # echkpnt.criu saves a copy only of LSF's job file, never of the job's own files, so
    # the restored lock is on the real file.
    def test_flock_on_a_file_opened_read_only(self):
        Cases.test_flock_on_a_file_opened_read_only(self)

    # With host PIDs this row is test_checkpoint.CheckpointRestart.test_job_with_child_and_pipe.
    def test_pipe_between_tree_members(self):
        jid, out = self.submit(["/bin/sh", PIPELINE, "60", "0.04"])
        self.wait_counting(jid, 10)
        new = self.cycle(jid)
        self.finish(new)
        assert_continuous(self, counts(out), 1, 60)


if __name__ == "__main__":
    unittest.main(verbosity=2)
