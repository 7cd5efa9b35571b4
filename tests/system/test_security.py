#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Security: user B (lcuser2) tries, through every lsf-criu entry point and
through LSF's own commands, to harm a job of user A (lcuser1): checkpoint or
kill it, restore or read its images, restart it, or make A's own lsf-criu
programs follow links and files B planted. Every attempt must be refused with
a clear message, and A's job must stay unharmed: still RUN and still counting,
its checkpoint directory byte for byte as it was. Also the privileges
lsf-criu relies on: criu carries exactly cap_checkpoint_restore and
cap_setpcap, lsf-criu's own programs carry no capability and no setuid bit.

Real criu, real jobs of two non-root users, the LSF test double."""

import hashlib
import json
import os
import pwd
import re
import stat
import subprocess
import time
import unittest

from cluster import (BUILD, OTHER_USER, PROGRAMS, ClusterTest, WORKLOADS, counts,
                     criu_path, wait_for)

COUNTER = os.path.join(WORKLOADS, "counter.sh")
EXIT_FAILURE, EXIT_REFUSED, EXIT_RESTORE_FAILED = 1, 5, 70
RUNLIMIT_ENV = {"LSB_SUSP_REASONS": "131072", "LSB_SUSP_SUBREASONS": "1",
                "ENABLE_ORUN_CHKPNT": "Y", "ENABLE_ORUN_RESTART": "Y",
                "JOB_TERMINATE_INTERVAL": "1"}


def file_state(path):
    """What a link or a write through it could change: type, mode, owner, size, mtime,
    content (never following a final symlink)."""
    st = os.lstat(path)
    digest = None
    if stat.S_ISREG(st.st_mode):
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
    elif stat.S_ISLNK(st.st_mode):
        digest = "-> " + os.readlink(path)
    return (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_size,
            st.st_mtime_ns, digest)


def tree_state(top):
    """file_state of every entry below top (symlinks are not followed)."""
    out = {".": file_state(top)}
    for root, dirs, files in os.walk(top):
        for name in dirs + files:
            p = os.path.join(root, name)
            out[os.path.relpath(p, top)] = file_state(p)
    return out


class SecurityTest(ClusterTest):
    """Helpers shared by the tests: jobs of A, B's own area, runs as A or B."""

    def setUp(self):
        super().setUp()
        self.b = pwd.getpwnam(OTHER_USER)
        self.a_uid = self.c.pw.pw_uid
        # B's own working area and checkpoint directory (0700, B's).
        self.bhome = os.path.join(self.c.root, "u-" + OTHER_USER)
        self.mkdir_as(self.bhome, self.b, 0o755)
        self.bdir = os.path.join(self.bhome, "ckpt")
        self.mkdir_as(self.bdir, self.b, 0o700)

    # --- files and directories ------------------------------------------------
    def mkdir_as(self, path, pw, mode):
        os.mkdir(path)
        os.chown(path, pw.pw_uid, pw.pw_gid)
        os.chmod(path, mode)

    def write_as(self, path, text, pw, mode=0o644):
        with open(path, "w") as f:
            f.write(text)
        os.chown(path, pw.pw_uid, pw.pw_gid)
        os.chmod(path, mode)
        # A distinct, old mtime: a write through a link would show.
        os.utime(path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))

    def prog(self, name):
        return os.path.join(self.c.serverdir, name)

    def cmd(self, name):
        return os.path.join(self.c.bindir, name)

    def as_b(self, argv, env=None, cwd=None):
        return self.c.run(argv, env, user=OTHER_USER, cwd=cwd or self.bhome)

    def as_a(self, argv, env=None, cwd=None):
        return self.c.run(argv, env, cwd=cwd or self.c.home)

    def all_jobs(self):
        p = self.c.run([self.cmd("bjobs"), "-a", "-json", "-u", "all"], user="root",
                       check=True)
        recs = json.loads(p.stdout)
        return recs if isinstance(recs, list) else [recs]

    def next_jobid(self):
        with open(os.path.join(self.c.root, "work", "next_jobid")) as f:
            return int(f.read().strip())

    def counter_procs(self, uid):
        """PIDs of uid's processes running the counter workload in this cluster."""
        found = []
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                if os.stat("/proc/" + p).st_uid != uid:
                    continue
                with open("/proc/%s/cmdline" % p, "rb") as f:
                    cmd = f.read()
                with open("/proc/%s/environ" % p, "rb") as f:
                    env = f.read().split(b"\0")
            except OSError:
                continue
            if COUNTER.encode() in cmd and ("LSF_ENVDIR=" + self.c.conf).encode() in env:
                found.append(int(p))
        return found

    def dead_pgid(self):
        p = subprocess.Popen(["/bin/true"])
        p.wait()
        return p.pid

    # --- A's jobs ---------------------------------------------------------------
    def spool_counts(self, jid):
        rec = self.c.job(jid)
        return counts(rec.get("spool_out") or "")

    def start_counter(self, base=None):
        base = base or self.c.base
        out = os.path.join(self.c.home, "job-%d.out" % time.monotonic_ns())
        jid = self.c.bsub(["-k", "%s method=criu" % base, "-o", out, "/bin/sh", COUNTER,
                           "100000", "0.05", "0"])
        self.c.wait_state(jid, ("RUN",))
        wait_for(lambda: len(self.spool_counts(jid)) >= 3, 30, 0.1, "job %s to count" % jid)
        return jid

    def assert_unharmed(self, jid, shell_pid=None):
        """A's job is still RUN, its shell is the same process, and it keeps counting."""
        rec = self.c.job(jid)
        self.assertEqual(rec["stat"], "RUN", rec)
        if shell_pid is not None:
            self.assertEqual(rec["shell_pid"], shell_pid, "the job's shell changed")
            with open("/proc/%d/stat" % shell_pid) as f:
                self.assertNotIn(f.read().rsplit(")", 1)[1].split()[0], ("T", "t", "Z"),
                                 "the job's shell is stopped or dead")
        n = len(self.spool_counts(jid))
        wait_for(lambda: len(self.spool_counts(jid)) > n + 2, 15, 0.1,
                 "job %s to keep counting" % jid)

    def echkpnt_calls(self):
        return [e for e in self.c.method_calls("echkpnt.criu") if e.get("end")]

    def bchkpnt_and_wait(self, jid, kill=False):
        """A's bchkpnt through LSF; returns the echkpnt.criu call it caused."""
        before = len(self.echkpnt_calls())
        p = self.c.bchkpnt(jid, kill=kill)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        wait_for(lambda: len(self.echkpnt_calls()) > before, 60, 0.1,
                 "echkpnt.criu of job %s to finish" % jid)
        return self.echkpnt_calls()[-1]

    def assert_refused(self, r, code, *needles):
        text = r.stdout + r.stderr
        self.assertEqual(r.returncode, code, text)
        for n in needles:
            self.assertRegex(text, n)


class OtherUsersJob(SecurityTest):
    """B attacks a running job of A that A checkpointed once with bchkpnt (no -k)."""

    def setUp(self):
        super().setUp()
        self.jid = self.start_counter()
        call = self.bchkpnt_and_wait(self.jid)
        self.assertEqual(call.get("exit_code"), 0, self.c.log_text(self.jid))
        rec = self.c.job(self.jid)
        self.pgid, self.shell = rec["pgid"], rec["shell_pid"]
        self.dir = self.c.chkdir(self.jid)
        with open(os.path.join(self.dir, "lsf-criu.current")) as f:
            self.imgset = f.read().strip()
        self.snap = tree_state(self.dir)
        self.njobs = len(self.all_jobs())

    def assert_a_unharmed(self):
        self.assert_unharmed(self.jid, self.shell)
        self.assertEqual(tree_state(self.dir), self.snap,
                         "A's checkpoint directory changed")
        self.assertEqual(len(self.all_jobs()), self.njobs, "a job was added")
        self.assertEqual(len([c for c in self.c.job(self.jid)["checkpoints"] if c.get("ok")]),
                         1, "A's job was checkpointed again")

    def test_echkpnt_on_other_users_process_group(self):
        # B's own checkpoint directory, A's process group: the tree is not B's.
        for kill in ([], ["-k"], ["-c", "-k", "-d", "%s.tmp" % self.jid]):
            r = self.as_b([self.prog("echkpnt.criu")] + kill + [str(self.pgid)],
                          {"LSB_JOBID": self.jid, "LSB_CHKPNT_DIR": self.bdir}, cwd=self.bhome)
            self.assert_refused(r, EXIT_REFUSED, r"process %d \(sh\) of the job runs as uid %d, "
                                r"not as the caller's uid %d" % (self.shell, self.a_uid,
                                                                   self.b.pw_uid))
            self.assertFalse([n for n in os.listdir(self.bdir) if n.startswith("ckpt.")],
                             "an image set was made for B")
        self.assert_a_unharmed()

    def test_echkpnt_with_other_users_checkpoint_dir(self):
        for kill in ([], ["-k"]):
            # A's job directory (0700): B cannot even open it.
            r = self.as_b([self.prog("echkpnt.criu")] + kill + [str(self.pgid)],
                          {"LSB_JOBID": self.jid, "LSB_CHKPNT_DIR": self.dir},
                          cwd=self.c.base)
            self.assert_refused(r, EXIT_FAILURE, "refused: cannot open directory '%s': "
                                "Permission denied" % re.escape(self.dir),
                                "the job keeps running")
            # A's checkpoint base (0755, readable): refused as another user's directory.
            r = self.as_b([self.prog("echkpnt.criu")] + kill + [str(self.pgid)],
                          {"LSB_JOBID": self.jid, "LSB_CHKPNT_DIR": self.c.base},
                          cwd=self.c.base)
            self.assert_refused(r, EXIT_REFUSED, "directory '%s' belongs to uid %d, not to "
                                "uid %d" % (re.escape(self.c.base), self.a_uid, self.b.pw_uid))
        # Nothing of B's: the job's directory and A's own published restart count only.
        self.assertEqual(sorted(os.listdir(self.c.base)),
                         sorted([self.jid, self.jid + ".restarts"]))
        st = os.stat(os.path.join(self.c.base, self.jid + ".restarts"))
        self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode)), (self.a_uid, 0o600))
        self.assert_a_unharmed()

    def test_erestart_on_other_users_dir(self):
        for opts in ([], ["-c", "-f"]):
            r = self.as_b([self.prog("erestart.criu")] + opts + [self.dir],
                          {"LSB_JOBID": "999", "LSB_OLD_JOBID": self.jid}, cwd=self.c.base)
            self.assert_refused(r, EXIT_FAILURE, "restart of job 999 refused: cannot open "
                                "directory '%s': Permission denied" % re.escape(self.dir))
            r = self.as_b([self.prog("erestart.criu")] + opts + [self.c.base],
                          {"LSB_JOBID": "999"}, cwd=self.c.base)
            self.assert_refused(r, EXIT_REFUSED, "belongs to uid %d, not to uid %d"
                                % (self.a_uid, self.b.pw_uid))
        self.assertFalse(os.path.exists(os.path.join(self.dir, ".restart_cmd")))
        self.assertFalse(os.path.exists(os.path.join(self.c.base, ".restart_cmd")))
        self.assert_a_unharmed()

    def test_restore_of_other_users_images(self):
        for d, code, why in ((self.dir, EXIT_RESTORE_FAILED, "cannot open directory '%s': "
                              "Permission denied" % re.escape(self.dir)),
                             (self.c.base, EXIT_RESTORE_FAILED, "belongs to uid %d"
                              % self.a_uid)):
            r = self.as_b([self.prog("lsf-criu-restore"), d, self.imgset],
                          {"LSB_JOBID": "999"})
            self.assert_refused(r, code, "restore of job 999 refused: .*" + why)
        # Nothing was restored: no restore log, no process of B's running A's job.
        self.assertFalse([n for n in os.listdir(os.path.join(self.dir, self.imgset))
                          if n.startswith("restore.")])
        self.assertEqual(self.counter_procs(self.b.pw_uid), [])
        self.assert_a_unharmed()

    def test_images_and_records_are_private(self):
        self.assertEqual(stat.S_IMODE(os.stat(self.dir).st_mode), 0o700)
        img = os.path.join(self.dir, self.imgset)
        st = os.lstat(img)
        self.assertTrue(stat.S_ISDIR(st.st_mode))
        self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid), (0o700, self.a_uid))
        names = sorted(os.listdir(img))
        # criu's images: one container (streamed) or one file each.
        images = ("images.lcs",) if "images.lcs" in names else ("inventory.img", "pstree.img")
        for n in ("meta.json", "dump.log") + images:
            self.assertIn(n, names)
        for n in names:
            st = os.lstat(os.path.join(img, n))
            self.assertTrue(stat.S_ISREG(st.st_mode), n)
            self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid), (0o600, self.a_uid), n)
        records = ("lsf-criu.log", "lsf-criu.ledger.json", "lsf-criu.ledger.lock",
                   "lsf-criu.current", "lsf-criu.lock", "lsf-criu.restarts")
        for n in records:
            st = os.lstat(os.path.join(self.dir, n))
            self.assertTrue(stat.S_ISREG(st.st_mode), n)
            self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid), (0o600, self.a_uid), n)
        # Even where the directories let B through, the files' own modes stop B.
        targets = [os.path.join(img, n) for n in ("meta.json", "dump.log") + images]
        targets += [os.path.join(self.dir, n) for n in records]
        r = self.as_b(["/bin/cat", self.dir + "/lsf-criu.ledger.json"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Permission denied", r.stderr)
        os.chmod(self.dir, 0o711)
        os.chmod(img, 0o711)
        try:
            for t in targets:
                r = self.as_b(["/bin/cat", t])
                self.assertNotEqual(r.returncode, 0, t)
                self.assertIn("Permission denied", r.stderr, t)
                self.assertEqual(r.stdout, "", t)
        finally:
            os.chmod(img, 0o700)
            os.chmod(self.dir, 0o700)
        self.assert_a_unharmed()

    def test_capable_criu_run_directly_by_other_user(self):
        # criu carries file capabilities and is executable by everyone: B bypasses lsf-criu.
        out = os.path.join(self.bdir, "img")
        self.mkdir_as(out, self.b, 0o700)
        r = self.as_b([self.c.criu, "dump", "--unprivileged", "--tree", str(self.shell),
                       "--images-dir", out, "--log-file", "dump.log", "--shell-job",
                       "--leave-running"])
        self.assertNotEqual(r.returncode, 0, "B dumped A's job with criu")
        self.assertFalse(os.path.exists(os.path.join(out, "pstree.img")))
        with open(os.path.join(out, "dump.log"), errors="replace") as f:
            self.assertRegex(f.read(), "Operation not permitted|Permission denied")
        r = self.as_b([self.c.criu, "restore", "--unprivileged", "--images-dir",
                       os.path.join(self.dir, self.imgset), "--work-dir", out, "--log-file",
                       "restore.log", "--restore-detached", "--shell-job"])
        self.assertNotEqual(r.returncode, 0, "B restored A's images with criu")
        self.assert_a_unharmed()

    def test_terminate_cannot_reach_other_users_job(self):
        env = {"LSB_JOBID": self.jid, "LSB_JOBPGIDS": "%d " % self.pgid,
               "LSB_JOBPIDS": "%d " % self.pgid, "JOB_TERMINATE_INTERVAL": "1"}
        # The kernel refuses B's signal to A's group.
        r = self.as_b(["/bin/kill", "-s", "INT", "--", "-%d" % self.pgid])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Operation not permitted", r.stderr)
        # A plain termination (bkill's reasons): every kill() fails, the action says so.
        r = self.as_b([self.prog("lsf-criu-terminate")],
                      dict(env, LSB_SUSP_REASONS="2", LSB_SUSP_SUBREASONS="0"))
        self.assert_refused(r, EXIT_FAILURE, "job %s still has processes after SIGKILL"
                            % self.jid)
        self.assertNotIn("sent SIG", r.stderr)
        # A run-limit request naming A's checkpoint directory: unusable for B, and the
        # kill does not reach A either.
        r = self.as_b([self.prog("lsf-criu-terminate")],
                      dict(env, LSB_CHKPNT_DIR=self.dir, **RUNLIMIT_ENV))
        self.assert_refused(r, EXIT_FAILURE, "checkpoint directory unusable: cannot open "
                            "directory '%s': Permission denied" % re.escape(self.dir),
                            r"the checkpoint directory is unusable",
                            "still has processes after SIGKILL")
        self.assertNotIn("sent SIG", r.stderr)
        # A run-limit request from B's own directory: LSF refuses B's bchkpnt of A's job.
        r = self.as_b([self.prog("lsf-criu-terminate")],
                      dict(env, LSB_CHKPNT_DIR=self.bdir, **RUNLIMIT_ENV))
        self.assert_refused(r, EXIT_FAILURE, "bchkpnt -k %s' failed: Job <%s>: User "
                            "permission denied" % (self.jid, self.jid),
                            "still has processes after SIGKILL")
        self.assertNotIn("sent SIG", r.stderr)
        with open(os.path.join(self.bdir, "lsf-criu.ledger.json")) as f:
            self.assertEqual(json.load(f)["state"], "ended")
        self.assert_a_unharmed()

    def test_postexec_cannot_restart_other_users_job(self):
        env = {"LSB_JOBID": self.jid, "ENABLE_ORUN_CHKPNT": "Y", "ENABLE_ORUN_RESTART": "Y",
               "LSB_QUEUE": "normal", "LSB_JOBEXIT_STAT": "0"}
        r = self.as_b([self.prog("lsf-criu-postexec")], dict(env, LSB_CHKPNT_DIR=self.dir),
                      cwd="/tmp")
        self.assert_refused(r, EXIT_FAILURE, "post-exec of job %s: cannot open directory "
                            "'%s': Permission denied; no restart"
                            % (self.jid, re.escape(self.dir)))
        # B forges, in its own directory, a ledger saying A's job was checkpointed at its
        # run limit: the post-exec runs brestart as B, which LSF refuses.
        forged = os.path.join(self.bdir, self.jid)
        self.mkdir_as(forged, self.b, 0o700)
        with open(os.path.join(self.dir, "lsf-criu.ledger.json")) as f:
            led = json.load(f)
        led.update(uid=self.b.pw_uid, state="checkpointed", request_jobid=self.jid,
                   checkpoint_jobid=self.jid, restart_limit=2, restarts=0)
        self.write_as(os.path.join(forged, "lsf-criu.ledger.json"), json.dumps(led), self.b,
                      0o600)
        r = self.as_b([self.prog("lsf-criu-postexec")], dict(env, LSB_CHKPNT_DIR=forged),
                      cwd="/tmp")
        self.assert_refused(r, EXIT_FAILURE, "brestart failed .*Job <%s>: User permission "
                            "denied" % self.jid)
        with open(os.path.join(forged, "lsf-criu.ledger.json")) as f:
            led = json.load(f)
        self.assertEqual((led["state"], led["restarts"]), ("ended", 0))
        self.assert_a_unharmed()

    def test_lsf_commands_refused(self):
        for argv in ([self.cmd("bchkpnt"), self.jid], [self.cmd("bchkpnt"), "-k", self.jid],
                     [self.cmd("bkill"), self.jid], [self.cmd("bkill"), "-s", "KILL", self.jid],
                     [self.cmd("brestart"), self.c.base, self.jid]):
            r = self.as_b(argv)
            self.assert_refused(r, 255, "User permission denied")
        self.assert_a_unharmed()


class CheckpointDirModes(SecurityTest):

    def test_group_or_other_writable_dir_refused(self):
        jid = self.start_counter()
        rec = self.c.job(jid)
        d = self.c.chkdir(jid)
        for mode in (0o770, 0o707, 0o777, 0o1777):
            os.chmod(d, mode)
            try:
                call = self.bchkpnt_and_wait(jid, kill=True)
                self.assertEqual(call.get("exit_code"), EXIT_REFUSED, call)
                r = self.as_a([self.prog("echkpnt.criu"), "-c", "-k", "-d", "%s.tmp" % jid,
                               str(rec["pgid"])], {"LSB_JOBID": jid, "LSB_CHKPNT_DIR": d},
                              cwd=self.c.base)
                self.assert_refused(r, EXIT_REFUSED, "checkpoint of job %s refused: directory "
                                    "'%s' is writable by group or others \\(mode %04o\\): "
                                    "Operation not permitted; the job keeps running"
                                    % (jid, re.escape(d), mode))
            finally:
                os.chmod(d, 0o700)
            self.assertFalse([n for n in os.listdir(d) if n.startswith(("ckpt.", "lsf-criu."))],
                             "lsf-criu wrote into a directory others can write")
            self.assert_unharmed(jid, rec["shell_pid"])


class Planting(SecurityTest):
    """A's checkpoint base or job directory is writable by others; B plants links and
    files. A's own lsf-criu programs must not follow or trust them."""

    def precious(self, name, text=None):
        """A file of A's, 0644, with an old mtime."""
        path = os.path.join(self.c.home, name)
        self.write_as(path, text or "precious data of %s\n" % name, self.c.pw)
        return path

    def test_symlink_as_next_job_directory(self):
        os.chmod(self.c.base, 0o1777)
        data = os.path.join(self.c.home, "data")
        self.c.user_mkdir(data, 0o700)
        keep = os.path.join(data, "results.txt")
        self.write_as(keep, "A's results\n", self.c.pw)
        before = file_state(keep)
        nxt = str(self.next_jobid())
        r = self.as_b(["/bin/ln", "-s", data, os.path.join(self.c.base, nxt)])
        self.assertEqual(r.returncode, 0, r.stderr)
        jid = self.start_counter()
        self.assertEqual(jid, nxt)
        d = self.c.chkdir(jid)
        self.assertTrue(os.path.islink(d))
        shell = self.c.job(jid)["shell_pid"]
        call = self.bchkpnt_and_wait(jid, kill=True)
        self.assertEqual(call.get("exit_code"), EXIT_FAILURE, call)
        r = self.as_a([self.prog("echkpnt.criu"), "-k", str(self.c.job(jid)["pgid"])],
                      {"LSB_JOBID": jid, "LSB_CHKPNT_DIR": d}, cwd=self.c.base)
        self.assert_refused(r, EXIT_FAILURE, "checkpoint of job %s refused: '%s' is not a "
                            "directory \\(or is a symlink\\)" % (jid, re.escape(d)))
        self.assertFalse([n for n in os.listdir(data) if n.startswith(("ckpt.", "lsf-criu."))],
                         "lsf-criu wrote through B's link")
        self.assertEqual(file_state(keep), before)
        self.assert_unharmed(jid, shell)

    def test_symlinked_dir_to_files_of_owner_and_root(self):
        os.chmod(self.c.base, 0o1777)
        root_pw = pwd.getpwnam("root")
        targets = {"a-file": self.precious("a-file.txt"),
                   "root-file": os.path.join(self.c.root, "root-file.txt"),
                   "a-dir": os.path.join(self.c.home, "a-dir")}
        self.write_as(targets["root-file"], "root's data\n", root_pw)
        self.c.user_mkdir(targets["a-dir"], 0o700)
        states = {}
        for i, (kind, t) in enumerate(sorted(targets.items())):
            link = os.path.join(self.c.base, str(900 + i))
            r = self.as_b(["/bin/ln", "-s", t, link])
            self.assertEqual(r.returncode, 0, r.stderr)
            states[t] = tree_state(t) if os.path.isdir(t) else file_state(t)
        dead = self.dead_pgid()
        for i, (kind, t) in enumerate(sorted(targets.items())):
            link = os.path.join(self.c.base, str(900 + i))
            jid = str(900 + i)
            why = "'%s' is not a directory \\(or is a symlink\\)" % re.escape(link)
            env = {"LSB_JOBID": jid, "LSB_CHKPNT_DIR": link}
            r = self.as_a([self.prog("echkpnt.criu"), "-k", str(dead)], env, cwd=self.c.base)
            self.assert_refused(r, EXIT_FAILURE, why)
            r = self.as_a([self.prog("erestart.criu"), link], env, cwd=self.c.base)
            self.assert_refused(r, EXIT_FAILURE, why)
            r = self.as_a([self.prog("lsf-criu-restore"), link, "ckpt.1"], env)
            self.assert_refused(r, EXIT_RESTORE_FAILED, why)
            r = self.as_a([self.prog("lsf-criu-terminate")],
                          dict(env, LSB_JOBPGIDS="%d " % dead, **RUNLIMIT_ENV))
            self.assert_refused(r, 0, "checkpoint directory unusable: " + why,
                                "the checkpoint directory is unusable")
            r = self.as_a([self.prog("lsf-criu-postexec")],
                          dict(env, ENABLE_ORUN_CHKPNT="Y", ENABLE_ORUN_RESTART="Y"), cwd="/tmp")
            self.assert_refused(r, EXIT_FAILURE, "post-exec of job %s: %s: .*; no restart"
                                % (jid, why))
            self.assertEqual(tree_state(t) if os.path.isdir(t) else file_state(t), states[t],
                             "%s (%s) changed through B's link" % (t, kind))

    def test_links_planted_in_opened_job_directory(self):
        jid = self.start_counter()
        rec = self.c.job(jid)
        d = self.c.chkdir(jid)
        root_pw = pwd.getpwnam("root")
        root_file = os.path.join(self.c.root, "root-file.txt")
        self.write_as(root_file, "root's data\n", root_pw)
        a_current = self.precious("a-current.txt", "ckpt.1\n")
        a_ledger = self.precious("a-ledger.txt")
        a_dir = os.path.join(self.c.home, "a-precious")
        self.c.user_mkdir(a_dir, 0o700)
        self.write_as(os.path.join(a_dir, "thesis.tex"), "years of work\n", self.c.pw, 0o600)
        # A opens the job directory to everyone (sticky); B plants.
        os.chmod(d, 0o1777)
        plants = {"lsf-criu.log": root_file, "lsf-criu.current": a_current,
                  "lsf-criu.ledger.json": a_ledger, "ckpt.1.failed": a_dir}
        for name, target in plants.items():
            r = self.as_b(["/bin/ln", "-s", target, os.path.join(d, name)])
            self.assertEqual(r.returncode, 0, r.stderr)
        # And a record naming another process as the job's restored root.
        r = self.c.run(["/bin/sh", "-c", 'cat > "$0"', os.path.join(d, "lsf-criu.root")],
                       user=OTHER_USER, input=json.dumps({"version": 1, "jobid": jid, "pid": 1,
                                                          "start_time": 1, "imgset": "ckpt.1"}))
        self.assertEqual(r.returncode, 0, r.stderr)
        states = {t: tree_state(t) for t in (root_file, a_current, a_ledger, a_dir)}

        def unchanged():
            for t, s in states.items():
                self.assertEqual(tree_state(t), s, "%s changed through a planted link" % t)

        # 1. While the directory is writable by others, nothing is done in it.
        call = self.bchkpnt_and_wait(jid, kill=True)
        self.assertEqual(call.get("exit_code"), EXIT_REFUSED, call)
        r = self.as_a([self.prog("echkpnt.criu"), "-k", str(rec["pgid"])],
                      {"LSB_JOBID": jid, "LSB_CHKPNT_DIR": d}, cwd=self.c.base)
        self.assert_refused(r, EXIT_REFUSED, "writable by group or others \\(mode 1777\\)")
        unchanged()
        self.assert_unharmed(jid, rec["shell_pid"])
        # 2. A closes the directory again; B's entries stay. The log link is not followed.
        os.chmod(d, 0o700)
        call = self.bchkpnt_and_wait(jid, kill=True)
        self.assertEqual(call.get("exit_code"), EXIT_FAILURE, call)
        r = self.as_a([self.prog("echkpnt.criu"), "-k", str(rec["pgid"])],
                      {"LSB_JOBID": jid, "LSB_CHKPNT_DIR": d}, cwd=self.c.base)
        self.assert_refused(r, EXIT_FAILURE, "cannot open 'lsf-criu.log' in the checkpoint "
                            "directory: Too many levels of symbolic links",
                            "the job keeps running")
        unchanged()
        self.assert_unharmed(jid, rec["shell_pid"])
        # 3. Without the log link the checkpoint works; the other plants are neither
        # followed nor trusted: the ledger link is left alone, the current link is
        # replaced (not written through), the image-set link is removed (not descended).
        os.unlink(os.path.join(d, "lsf-criu.log"))
        call = self.bchkpnt_and_wait(jid)
        log = self.c.log_text(jid)
        self.assertEqual(call.get("exit_code"), 0, log)
        self.assertIn("cannot read the ledger 'lsf-criu.ledger.json': Too many levels of "
                      "symbolic links; the ledger is not updated", log)
        self.assertIn("cannot read 'lsf-criu.root': Operation not permitted, ignoring", log)
        self.assertIn("dump root: process %d (sh), the child of group leader %d"
                      % (rec["shell_pid"], rec["pgid"]), log)
        unchanged()
        self.assertTrue(os.path.islink(os.path.join(d, "lsf-criu.ledger.json")))
        cur = os.lstat(os.path.join(d, "lsf-criu.current"))
        self.assertTrue(stat.S_ISREG(cur.st_mode))
        self.assertEqual(cur.st_uid, self.a_uid)
        with open(os.path.join(d, "lsf-criu.current")) as f:
            self.assertEqual(f.read(), "ckpt.2\n")
        self.assertFalse(os.path.lexists(os.path.join(d, "ckpt.1.failed")))
        # 4. A's post-exec does not restart on a ledger it cannot trust.
        njobs = len(self.all_jobs())
        r = self.as_a([self.prog("lsf-criu-postexec")],
                      {"LSB_JOBID": jid, "LSB_CHKPNT_DIR": d, "ENABLE_ORUN_CHKPNT": "Y",
                       "ENABLE_ORUN_RESTART": "Y", "LSB_QUEUE": "normal"}, cwd="/tmp")
        self.assert_refused(r, EXIT_FAILURE, "cannot read the ledger 'lsf-criu.ledger.json': "
                            "Too many levels of symbolic links; no restart")
        self.assertEqual(len(self.all_jobs()), njobs)
        unchanged()
        self.assert_unharmed(jid, rec["shell_pid"])

    def test_files_of_other_user_in_opened_job_directory(self):
        # A checkpoints and kills its job; the checkpoint is real, so trusting a planted
        # record would really restart or restore something.
        jid = self.start_counter()
        call = self.bchkpnt_and_wait(jid, kill=True)
        self.assertEqual(call.get("exit_code"), 0, self.c.log_text(jid))
        self.c.wait_state(jid)
        d = self.c.chkdir(jid)
        # B checkpoints a job of its own, to plant real images.
        bbase = os.path.join(self.bhome, "base")
        self.mkdir_as(bbase, self.b, 0o755)
        bout = os.path.join(self.bhome, "b.out")
        bjid = self.c.bsub(["-k", "%s method=criu" % bbase, "-o", bout, "/bin/sh", COUNTER,
                            "100000", "0.05", "0"], user=OTHER_USER)
        self.c.wait_state(bjid, ("RUN",))
        wait_for(lambda: len(counts(self.c.job(bjid)["spool_out"])) >= 3, 30, 0.1,
                 "B's job to count")
        before = len(self.echkpnt_calls())
        self.c.bchkpnt(bjid, kill=True, user=OTHER_USER)
        wait_for(lambda: len(self.echkpnt_calls()) > before, 60, 0.1, "B's checkpoint")
        self.assertEqual(self.echkpnt_calls()[-1].get("exit_code"), 0)
        self.c.wait_state(bjid)
        # A makes its job directory writable by everyone (no sticky bit): B replaces the
        # ledger, the pointer to the newest image set, and adds its own image set.
        os.chmod(d, 0o777)
        with open(os.path.join(d, "lsf-criu.ledger.json")) as f:
            led = json.load(f)
        led.update(state="checkpointed", request_jobid=jid, checkpoint_jobid=jid,
                   restart_limit=5, restarts=0)
        script = ("rm -f {d}/lsf-criu.ledger.json {d}/lsf-criu.current && "
                  "cp -r {bimg} {d}/ckpt.9 && chmod -R go+rX {d}/ckpt.9 && printf 'ckpt.9\\n' > {d}/lsf-criu.current && "
                  "cat > {d}/lsf-criu.ledger.json").format(
                      d=d, bimg=os.path.join(bbase, bjid, "ckpt.1"))
        r = self.c.run(["/bin/sh", "-c", script], user=OTHER_USER, input=json.dumps(led))
        self.assertEqual(r.returncode, 0, r.stderr)
        for n in ("lsf-criu.ledger.json", "lsf-criu.current", "ckpt.9"):
            self.assertEqual(os.lstat(os.path.join(d, n)).st_uid, self.b.pw_uid)
        env = {"LSB_JOBID": jid, "LSB_CHKPNT_DIR": d, "ENABLE_ORUN_CHKPNT": "Y",
               "ENABLE_ORUN_RESTART": "Y", "LSB_QUEUE": "normal"}
        # While the directory is open: refused outright.
        r = self.as_a([self.prog("lsf-criu-postexec")], env, cwd="/tmp")
        self.assert_refused(r, EXIT_FAILURE, "writable by group or others \\(mode 0777\\): "
                            "Operation not permitted; no restart")
        os.chmod(d, 0o700)
        planted = ("lsf-criu.ledger.json", "lsf-criu.current", "ckpt.9")
        snap = {n: tree_state(os.path.join(d, n)) for n in planted}
        njobs = len(self.all_jobs())
        # A's post-exec: B's ledger is not A's file.
        r = self.as_a([self.prog("lsf-criu-postexec")], env, cwd="/tmp")
        self.assert_refused(r, EXIT_FAILURE, "cannot read the ledger 'lsf-criu.ledger.json': "
                            "Operation not permitted; no restart")
        self.assertEqual(len(self.all_jobs()), njobs, "the post-exec restarted the job")
        # A's erestart.criu and lsf-criu-restore: B's pointer and B's images are refused.
        r = self.as_a([self.prog("erestart.criu"), d], {"LSB_JOBID": "999"}, cwd=self.c.base)
        self.assert_refused(r, EXIT_FAILURE, "cannot read 'lsf-criu.current': Operation not "
                            "permitted")
        self.assertFalse(os.path.exists(os.path.join(d, ".restart_cmd")))
        r = self.as_a([self.prog("lsf-criu-restore"), d, "ckpt.9"], {"LSB_JOBID": "999"})
        self.assert_refused(r, EXIT_RESTORE_FAILED, "image set 'ckpt.9': cannot read "
                            "'meta.json': Operation not permitted")
        self.assertEqual({n: tree_state(os.path.join(d, n)) for n in planted}, snap)
        # A's brestart through LSF: the restart fails instead of running B's images as A.
        new, p = self.c.brestart(jid)
        self.assertIsNotNone(new, p.stdout + p.stderr)
        rec = self.c.wait_state(new, timeout=60)
        self.assertEqual(rec["stat"], "EXIT", rec)
        calls = [c for c in self.c.method_calls("erestart.criu")]
        self.assertEqual(calls[-1].get("exit_code"), EXIT_FAILURE, calls[-1])
        self.assertIn("cannot read 'lsf-criu.current': Operation not permitted",
                      self.c.log_text(jid))
        self.assertFalse([n for n in os.listdir(os.path.join(d, "ckpt.9"))
                          if n.startswith("restore.")], "B's images were restored")
        self.assertEqual(self.counter_procs(self.a_uid), [], "a process of A runs a job")
        self.assertEqual(self.counter_procs(self.b.pw_uid), [])

    def test_summary_not_written_through_planted_link(self):
        # The job's -o directory is writable by everyone (like /tmp, or A's own shared
        # directory); B plants the summary's name as a link to A's file.
        victim = self.precious("a-notes.txt")
        before = file_state(victim)
        for jid, owner, why in (("77", pwd.getpwnam("root"), "belongs to uid 0, not to uid %d"
                                 % self.a_uid),
                                ("78", self.c.pw, "is writable by group or others "
                                 "\\(mode 1777\\)")):
            outdir = os.path.join(self.c.root, "shared-out-" + jid)
            self.mkdir_as(outdir, owner, 0o1777)
            d = os.path.join(self.c.base, jid)
            self.c.user_mkdir(d, 0o700)
            name = "overrun-summary-%s.txt" % jid
            link = os.path.join(outdir, name)
            r = self.as_b(["/bin/ln", "-s", victim, link])
            self.assertEqual(r.returncode, 0, r.stderr)
            r = self.as_a([self.prog("lsf-criu-postexec")],
                          {"LSB_JOBID": jid, "LSB_CHKPNT_DIR": d, "ENABLE_ORUN_CHKPNT": "Y",
                           "LSB_OUTPUTFILE": os.path.join(outdir, "job.out"),
                           "LSB_JOBEXIT_STAT": "0"}, cwd="/tmp")
            self.assert_refused(r, 0, "not writing the summary beside the output file: "
                                "directory '%s' %s" % (re.escape(outdir), why),
                                "wrote the summary '%s' into the checkpoint directory" % name)
            self.assertEqual(file_state(victim), before)
            self.assertEqual(os.readlink(link), victim)
            st = os.lstat(os.path.join(d, name))
            self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid), (0o600, self.a_uid))


class BaseDirectorySwap(SecurityTest):
    """A's checkpoint base is writable by others WITHOUT the sticky bit (0777). B cannot
    open A's job directories, but may rename them within the base: B moves job N's
    directory away and puts job M's directory (A's, 0700, holding M's only checkpoint)
    in its place. A then checkpoints job N."""

    def setUp(self):
        super().setUp()
        self.m = self.start_counter()
        call = self.bchkpnt_and_wait(self.m)
        self.assertEqual(call.get("exit_code"), 0, self.c.log_text(self.m))
        self.mdir = self.c.chkdir(self.m)
        self.m_images = tree_state(os.path.join(self.mdir, "ckpt.1"))
        self.n = self.start_counter()
        self.nrec = self.c.job(self.n)
        os.chmod(self.c.base, 0o777)
        ndir = self.c.chkdir(self.n)
        r = self.as_b(["/bin/sh", "-c", 'mv "$0" "$0.moved" && mv "$1" "$0"', ndir, self.mdir])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.call = self.bchkpnt_and_wait(self.n)
        self.log = self.c.log_text(self.n)

    # lsf-criu refuses a job directory whose parent others may write to without the
    # sticky bit: there another user could swap the owner's job directories, so that
    # echkpnt.criu of job N would checkpoint into job M's directory and prune M's only
    # image set.
    def test_swapped_job_directory_is_refused(self):
        self.assertNotEqual(self.call.get("exit_code"), 0,
                            "echkpnt.criu of job %s accepted job %s's directory: %s"
                            % (self.n, self.m, self.log[-600:]))
        r = self.as_a([self.prog("echkpnt.criu"), "-k", str(self.nrec["pgid"])],
                      {"LSB_JOBID": self.n, "LSB_CHKPNT_DIR": self.c.chkdir(self.n)},
                      cwd=self.c.base)
        self.assertEqual(r.returncode, 5, r.stderr)
        self.assertIn("writable by group or others without the sticky bit", r.stderr)
        self.assertEqual(tree_state(os.path.join(self.c.chkdir(self.n), "ckpt.1")),
                         self.m_images, "job %s's image set was destroyed" % self.m)

    def test_job_keeps_running(self):
        self.assert_unharmed(self.n, self.nrec["shell_pid"])


class Privileges(unittest.TestCase):
    """The least privilege: only criu carries capabilities, exactly the two it needs."""

    def getcap(self, path):
        p = subprocess.run(["getcap", path], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout.strip()

    def test_criu_has_exactly_the_least_capabilities(self):
        criu = criu_path()
        out = self.getcap(criu)
        m = re.fullmatch(r"(\S+)\s+(\S+)=(\S+)", out)
        self.assertTrue(m, "criu %s has no file capabilities: %r" % (criu, out))
        self.assertEqual(m.group(1), criu)
        self.assertEqual(set(m.group(2).split(",")), {"cap_checkpoint_restore", "cap_setpcap"})
        self.assertEqual(set(m.group(3)), {"e", "p"}, "flags: %s" % m.group(3))
        st = os.stat(criu)
        self.assertEqual(st.st_uid, 0)
        self.assertFalse(st.st_mode & (stat.S_ISUID | stat.S_ISGID), oct(st.st_mode))
        self.assertFalse(st.st_mode & (stat.S_IWGRP | stat.S_IWOTH), oct(st.st_mode))
        d = os.path.dirname(criu)
        self.assertFalse(os.stat(d).st_mode & (stat.S_IWGRP | stat.S_IWOTH), d)

    def test_own_programs_carry_no_privilege(self):
        progs = set(PROGRAMS)
        for n in os.listdir(BUILD):
            p = os.path.join(BUILD, n)
            if os.path.isfile(p) and os.access(p, os.X_OK) and not n.endswith((".a", ".o")):
                progs.add(n)
        for n in sorted(progs):
            p = os.path.join(BUILD, n)
            st = os.stat(p)
            self.assertFalse(st.st_mode & (stat.S_ISUID | stat.S_ISGID),
                             "%s is setuid/setgid: %s" % (p, oct(st.st_mode)))
            self.assertEqual(self.getcap(p), "", "%s carries file capabilities" % p)


if __name__ == "__main__":
    unittest.main(verbosity=2)
