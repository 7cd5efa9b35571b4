#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The fault suite: lsf-criu's promise under every fault.

A job at its run limit is either restored later with its state intact, or
ended the way LSF ends a job, with a log line saying why; never silently
lost, never left running past its limit, no program of ours hung, and the
last good checkpoint still restores. Each case runs a real job of the
non-root test user through the LSF test double with real criu, injects one
fault at one step of the cycle (kill -9 of one of our processes, a broken or
hanging criu, a full or quota-limited checkpoint filesystem, a broken ledger,
taken PIDs, ...), lets the cycle settle and classifies what happened:

  restored      at least one restore, the job's count continuous, and the chain ended
                the natural way (its restart budget used up at a later run limit)
  ended         the job is gone, the ledger or the log says why, nothing of it
                runs, and its last committed checkpoint (if any) restores by hand
  lost          anything else: a job left running past its end, an end nobody
                explained, a checkpoint that does not restore, a broken count
  hung          a program of lsf-criu still running when the cycle should be over

Every case knows which of "restored" and "ended" it must reach. The run ends
with "faults: N tried, N restored, N ended cleanly, N lost, N hung" and a
RESULT line for tests/run-all.py.

  faults.py [--subset check|all] [--jobs N] [--list] [NAME-PART ...]
"""

import argparse
import concurrent.futures
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "system"))
from cluster import Cluster, WORKLOADS, counts, wait_for  # noqa: E402

COUNTER = os.path.join(WORKLOADS, "counter.sh")
KILLER = os.path.join(HERE, "killer")
PROGRAMS = ("echkpnt.criu", "erestart.criu", "lsf-criu-restore", "lsf-criu-terminate",
            "lsf-criu-postexec", "lsf-criu-start")
QUEUES = """Begin Queue
QUEUE_NAME   = normal
RUNLIMIT     = 2
JOB_CONTROLS = TERMINATE[{serverdir}/lsf-criu-terminate]
POST_EXEC    = {serverdir}/lsf-criu-postexec
End Queue
"""
# Short enough to keep the suite quick, long enough for a loaded machine.
TIMEOUT = 25
CONF = """criu = {criu}
postexec_grace_seconds = 5
pid_wait_seconds = 5
kill_wait_seconds = 5
checkpoint_timeout_seconds = 60
"""
OURS = re.compile(r"(^|/)(echkpnt\.criu|erestart\.criu|lsf-criu-\w+|criu(-[\w.-]+)?|killer)$")


class CaseError(Exception):
    pass


class Ctx:
    """One case: its cluster, its chain of jobs, and what was injected."""

    def __init__(self, case):
        self.case = case
        params = {"LSFSIM_RESTART_DISPATCH_DELAY": "0.5"}
        params.update(case.params)
        self.c = Cluster(params=params, queues=QUEUES)
        self.c.lsf_criu_conf(CONF.format(criu=self.c.criu))
        self.first = None
        self.out = None
        self.triggers = []
        self.wrapped = []
        self.notes = []
        self.cleanups = []
        self.trigdir = os.path.join(self.c.root, "triggers")
        os.mkdir(self.trigdir, 0o1777)
        os.chmod(self.trigdir, 0o1777)

    # --- the job -------------------------------------------------------------
    def submit(self, restarts=1, timeout=TIMEOUT, env=None, cmd=None, ns=None):
        e = {"ENABLE_ORUN_CHKPNT": "Y", "ENABLE_ORUN_RESTART": "Y",
             "ORUN_RESTART_LIMIT": str(restarts), "ORUN_TIMEOUT_SECONDS": str(timeout)}
        e.update(env or {})
        e = {k: v for k, v in e.items() if v is not None}
        cmd = cmd or ["/bin/sh", COUNTER, "100000", "0.05", "0"]
        if ns if ns is not None else self.case.mode == "ns":
            cmd = [os.path.join(self.c.serverdir, "lsf-criu-start")] + cmd
        self.first, self.out = self.c.chk_bsub(cmd, e)
        self.c.wait_state(self.first, ("RUN",), timeout=60)
        return self.first

    def jobs(self):
        p = self.c.run([os.path.join(self.c.bindir, "bjobs"), "-a", "-json"], check=True)
        recs = json.loads(p.stdout)
        return recs if isinstance(recs, list) else [recs]

    def chain_dir(self):
        """The directory holding the chain now: LSF renames it at every restart."""
        best = None
        for d in os.listdir(self.c.base):
            p = os.path.join(self.c.base, d)
            if os.path.islink(p) or not os.path.isdir(p) or not d.isdigit():
                continue
            try:
                with open(os.path.join(p, "lsf-criu.log"), errors="replace") as f:
                    if ("job %s" % self.first) in f.read(4096) or d == self.first:
                        if best is None or int(d) > int(best):
                            best = d
            except OSError:
                continue
        return os.path.join(self.c.base, best or self.first)

    def log(self):
        try:
            with open(os.path.join(self.chain_dir(), "lsf-criu.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def ledger(self):
        try:
            with open(os.path.join(self.chain_dir(), "lsf-criu.ledger.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def wait_log(self, regex, timeout=90):
        return wait_for(lambda: re.search(regex, self.log()), timeout, 0.05,
                        "'%s' in the job log" % regex)

    # --- faults --------------------------------------------------------------
    def wrap(self, program, marker):
        """kill -9 of program as soon as it logs a line matching marker."""
        real_dir = os.path.join(self.c.serverdir, ".real")
        if not os.path.isdir(real_dir):
            os.mkdir(real_dir, 0o755)
            for p in PROGRAMS:
                shutil.copy2(os.path.join(self.c.serverdir, p), os.path.join(real_dir, p))
        dst = os.path.join(self.c.serverdir, program)
        trigger = os.path.join(self.trigdir, program)
        shutil.copy2(KILLER, dst)
        os.chmod(dst, 0o755)
        with open(dst + ".fault", "w") as f:
            json.dump({"real": os.path.join(real_dir, program), "marker": marker,
                       "trigger": trigger}, f)
        os.chmod(dst + ".fault", 0o644)
        self.triggers.append(trigger)
        self.wrapped.append(program)
        return trigger

    def unwrap(self):
        """Puts the real programs back: verifying a checkpoint must not meet the fault."""
        for program in self.wrapped:
            shutil.copy2(os.path.join(self.c.serverdir, ".real", program),
                         os.path.join(self.c.serverdir, program))
        self.wrapped = []

    def kill_process(self, match, what, timeout=90, all_of=False):
        """SIGKILLs a process for which match(pid, cmdline) holds (with all_of, every
        such process at once)."""
        def scan():
            found = []
            for d in os.listdir("/proc"):
                if not d.isdigit():
                    continue
                try:
                    with open("/proc/%s/cmdline" % d, "rb") as f:
                        argv = f.read().split(b"\0")
                except OSError:
                    continue
                args = [a.decode(errors="replace") for a in argv if a]
                if args and match(int(d), args):
                    found.append(int(d))
            return sorted(found, reverse=True)
        pids = wait_for(scan, timeout, 0.01, what)
        victims = pids if all_of else pids[-1:]
        # Stopped first, so that none of them can act on the death of another.
        for pid in victims:
            os.kill(pid, signal.SIGSTOP)
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        self.triggers.append(None)
        self.notes.append("killed %s (pid %s)" % (what, pids if all_of else pids[-1]))
        return pids[-1]

    def mount(self, kind, size_mb, qgroup_mb=None):
        """Puts the user's checkpoint base on a filesystem of its own."""
        base = self.c.base
        if kind == "tmpfs":
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm,mode=0755" % size_mb,
                            "lsfcriu-faults", base], check=True)
            self.cleanups.append(lambda: subprocess.run(["umount", "-l", base]))
            target = base
        else:
            img = os.path.join(self.c.root, "btrfs.img")
            with open(img, "wb") as f:
                f.truncate(size_mb << 20)
            subprocess.run(["mkfs.btrfs", "-q", img], check=True, capture_output=True)
            subprocess.run(["mount", "-o", "loop", img, base], check=True)
            self.cleanups.append(lambda: subprocess.run(["umount", "-l", base]))
            subprocess.run(["btrfs", "quota", "enable", base], check=True)
            target = os.path.join(base, "q")
            subprocess.run(["btrfs", "subvolume", "create", target], check=True,
                           capture_output=True)
            subprocess.run(["btrfs", "qgroup", "limit", "%dM" % qgroup_mb, target], check=True)
            self.c.base = target
        os.chown(target, self.c.pw.pw_uid, self.c.pw.pw_gid)
        os.chmod(target, 0o755)

    # --- settling and judging ------------------------------------------------
    def our_processes(self):
        """Programs of lsf-criu (and criu) still running for this cluster."""
        found = []
        root = self.c.root.encode()
        for d in os.listdir("/proc"):
            if not d.isdigit() or int(d) == os.getpid():
                continue
            try:
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    argv = [a for a in f.read().split(b"\0") if a]
                with open("/proc/%s/environ" % d, "rb") as f:
                    env = f.read()
                cwd = os.readlink("/proc/%s/cwd" % d).encode()
            except OSError:
                continue
            if not argv or not OURS.search(argv[0].decode(errors="replace")):
                continue
            if b"lsf-criu-start" in argv[0] or any(b"lsf-criu-start" in a for a in argv[:1]):
                continue  # the job's own starter is the job, not a program of ours
            mine = root in env or cwd.startswith(root) or any(root in a for a in argv)
            if mine:
                found.append((int(d), b" ".join(argv).decode(errors="replace")[:160]))
        return found

    def job_processes(self):
        """Processes of this cluster's jobs (their environment names its LSF_ENVDIR)."""
        found = []
        needle = ("LSF_ENVDIR=%s" % self.c.conf).encode()
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/environ" % d, "rb") as f:
                    env = f.read().split(b"\0")
                with open("/proc/%s/stat" % d) as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if needle in env and any(e.startswith(b"LSB_JOBID=") for e in env) and state != "Z":
                name = argv[0].decode(errors="replace")
                if "lsfsim" in name or name.endswith("python3") and b"sbatchd" in b" ".join(argv):
                    continue
                found.append((int(d), b" ".join(argv).decode(errors="replace")[:120]))
        return found

    def settle(self, timeout=150, quiet=6):
        """Waits until, for quiet seconds in a row, no job of the chain is active and none
        of our programs runs (a post-exec starts a moment after its job ended)."""
        end = time.monotonic() + timeout
        since = None
        while time.monotonic() < end:
            active = [j for j in self.jobs() if j["stat"] in ("PEND", "RUN", "SSUSP")]
            if active or self.our_processes() or self.job_processes():
                since = None
            elif since is None:
                since = time.monotonic()
            elif time.monotonic() - since >= quiet:
                return True
            time.sleep(0.5)
        return False

    def restores(self):
        return len(re.findall(r"lsf-criu-restore\[\d+\]: info: job \d+ restored", self.log()))

    def verify_restorable(self):
        """The last committed checkpoint restores by hand (brestart), and counts on."""
        self.unwrap()
        led = self.ledger() or {}
        d = os.path.basename(self.chain_dir())
        if not os.path.isfile(os.path.join(self.chain_dir(), "lsf-criu.current")):
            return "no checkpoint to restore"
        if led.get("checkpoint_jobid") != d:
            return self.restore_by_hand(led.get("checkpoint_jobid"), d)
        new, p = self.c.brestart(d)
        if not new and "LSF has no record of it" in self.log():
            # echkpnt.criu died between its commit and its exit: LSF never heard of it.
            return self.restore_by_hand(led.get("checkpoint_jobid"), d)
        if not new:
            raise CaseError("brestart of the last good checkpoint refused: %s %s"
                            % (p.stdout, p.stderr))
        self.c.wait_state(new, ("RUN", "DONE", "EXIT"), timeout=60)

        def counting():
            spool = self.c.job(new).get("spool_out") or ""
            return len(counts(spool)) >= 3 and counts(spool)
        try:
            nums = wait_for(counting, 60, 0.2, "the restored job %s to count" % new)
        except AssertionError:
            raise CaseError("the last good checkpoint did not restore: %s"
                            % self.log()[-1500:])
        if nums != list(range(nums[0], nums[0] + len(nums))) or nums[0] < 2:
            raise CaseError("the restored count is not a continuation: %s" % nums[:10])
        self.c.bkill(new)
        self.c.wait_state(new, ("DONE", "EXIT"), timeout=60)
        return "restored by hand as job %s, counting on from %d" % (new, nums[0])

    def restore_by_hand(self, ckpt_job, d):
        """LSF cannot brestart this directory (its job was never checkpointed itself):
        the image set must still restore, with lsf-criu-restore run by hand."""
        cur = open(os.path.join(self.chain_dir(), "lsf-criu.current")).read().strip()
        out = os.path.join(self.c.home, "by-hand-%d.out" % time.monotonic_ns())
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.fchown(fd, self.c.pw.pw_uid, self.c.pw.pw_gid)
        env = self.c.env({"LSB_JOBID": "9999"})
        cmd = ["runuser", "-u", self.c.user, "--", "env", "-i"] + \
            ["%s=%s" % kv for kv in env.items()] + \
            [os.path.join(self.c.serverdir, "lsf-criu-restore"), self.chain_dir(), cur]
        # Its own process group: the restorer and the job it restores, killed as one.
        p = subprocess.Popen(cmd, stdout=fd, stderr=fd, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        os.close(fd)
        try:
            nums = wait_for(lambda: len(counts(out)) >= 3 and counts(out), 60, 0.2,
                            "the hand-run restore to count")
        except AssertionError:
            raise CaseError("the last good checkpoint (%s of job %s) does not restore: %s"
                            % (cur, ckpt_job, self.log()[-1500:]))
        finally:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            # A namespaced restore's init and job lead sessions of their own.
            for pid, _ in self.job_processes():
                try:
                    with open("/proc/%d/environ" % pid, "rb") as f:
                        if b"LSB_JOBID=9999\0" in f.read():
                            os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        return "LSF cannot brestart '%s' (job %s has no checkpoint of its own); '%s' of job " \
               "%s restored by hand with lsf-criu-restore, counting from %d" % (
                   d, d, cur, ckpt_job, nums[0])

    def judge(self):
        if not self.settle():
            hung = self.our_processes()
            if hung:
                return "hung", "still running: %s" % hung[:3]
            return "lost", "still running past its end: %s %s" % (
                [j["jobid"] for j in self.jobs() if j["stat"] in ("PEND", "RUN", "SSUSP")],
                self.job_processes()[:3])
        nums = counts(self.out)
        led = self.ledger()
        log = self.log()
        if nums and nums != list(range(1, len(nums) + 1)):
            return "lost", "the job's count is broken: %s" % _gaps(nums)
        natural = led and re.search(r"budget used up|exited with status 0",
                                    led.get("end_reason") or "")
        if self.restores() >= 1 and natural:
            return "restored", "%d restore(s), %d counts, then: %s" % (
                self.restores(), len(nums), led["end_reason"])
        explained = (led and led.get("end_reason")) or \
            re.search(r"terminating job|killing it|error: ", log)
        if not explained:
            return "lost", "the job ended and nothing says why (ledger %s, %d restore(s))" % (
                led and led.get("state"), self.restores())
        why = led.get("end_reason") if led and led.get("end_reason") else \
            re.findall(r"error: (.*)", log)[-1:]
        return "ended", "%s; %s" % (why, self.verify_restorable())

    def close(self):
        for f in reversed(self.cleanups):
            try:
                f()
            except Exception:
                pass
        self.c.stop()


def _gaps(nums):
    bad = [(a, b) for a, b in zip(nums, nums[1:]) if b != a + 1]
    return "breaks at %s" % bad[:5]


# --- the cases ---------------------------------------------------------------------------
CASES = []


class Case:
    def __init__(self, name, fn, expect, mode="host", subset=False, params=None):
        self.name, self.fn, self.expect, self.mode, self.subset = name, fn, expect, mode, subset
        self.params = params or {}


def case(expect, modes=("host", "ns"), subset=(), params=None):
    def reg(fn):
        base = fn.__name__
        for m in modes:
            CASES.append(Case("%s-%s" % (base, m), fn, expect, m, m in subset, params))
        return fn
    return reg


# kill -9 of each lsf-criu process, at each step ---------------------------------------

@case("ended", subset=("host",))
def kill_action_at_start(x):
    x.wrap("lsf-criu-terminate", r"TERMINATE action for job")
    x.submit()


# The action logs this line just before it runs bchkpnt: the request may be out already.
@case(("ended", "restored"))
def kill_action_before_bchkpnt(x):
    x.wrap("lsf-criu-terminate", r"reached its run limit")
    x.submit()


@case("restored")
def kill_watchdog(x):
    x.use_slow = True
    x.c.use_criu("criu-slow", LC_REAL_CRIU=x.c.criu, LC_CRIU_DELAY=2)
    x.submit()
    x.kill_process(lambda p, a: "--watchdog" in a and x.first in a, "the watchdog")


@case("ended", subset=("ns",))
def kill_echkpnt_before_criu(x):
    x.wrap("echkpnt.criu", r"the job's memory is")
    x.submit()


@case("ended")
def kill_echkpnt_during_dump(x):
    x.c.use_criu("criu-slow", LC_REAL_CRIU=x.c.criu, LC_CRIU_DELAY=2)
    x.wrap("echkpnt.criu", r"running: .* dump ")
    x.submit()


# Killed between the commit and its exit: the job may be dead already (then LSF has no
# record: ended, restorable by hand) or still stopped (then the guardian hands the set
# over to LSF and the chain goes on).
@case(("restored", "ended"), subset=("host",))
def kill_echkpnt_after_commit(x):
    x.wrap("echkpnt.criu", r"committed 'ckpt")
    x.submit()


@case("ended", subset=("host",))
def criu_crashes_mid_dump(x):
    x.c.use_criu("criu-crash", LC_REAL_CRIU=x.c.criu)
    x.submit()


@case("ended")
def kill_criu(x):
    x.c.use_criu("criu-slow", LC_REAL_CRIU=x.c.criu, LC_CRIU_DELAY=3)
    x.submit()
    x.kill_process(lambda p, a: "criu-slow" in " ".join(a[:2]) and "dump" in a, "criu")


@case("ended")
def kill_erestart(x):
    x.wrap("erestart.criu", r"is ready")
    x.submit()


@case("ended")
def kill_restorer_before_restore(x):
    x.wrap("lsf-criu-restore", r"restore of job \d+ from")
    x.submit()


@case("ended", subset=("host",))
def kill_restorer_after_restore(x):
    x.wrap("lsf-criu-restore", r"restored (in|in its own)")
    x.submit()


@case("restored", subset=("host",))
def kill_postexec_at_start(x):
    x.wrap("lsf-criu-postexec", r"post-exec of job \d+: the job")
    x.submit()


@case("restored")
def kill_postexec_at_brestart(x):
    # Killed once it counted the restart: brestart runs in a process of its own.
    x.wrap("lsf-criu-postexec", r"brestart runs in a process of its own")
    x.submit()


# criu missing, failing, crashing, hanging -------------------------------------------

@case("ended", modes=("host",))
def criu_missing(x):
    x.c.lsf_criu_conf(CONF.format(criu="/nonexistent/criu"))
    x.submit()


@case("ended", subset=("host",))
def criu_fails(x):
    x.c.use_criu("criu-fails")
    x.submit()
    x.wait_log(r"checkpoint of job \d+ failed")

    def checks():
        _no_images_left(x)
        # The failed attempt keeps its logs, not its images, and goes with the chain.
        led = x.ledger()
        if led and led["state"] == "ended":
            left = [d for d in os.listdir(x.chain_dir()) if d.endswith(".failed")]
            if left:
                raise CaseError("failed image sets left after the chain ended: %s" % left)
    x.after = checks


@case("ended")
def criu_hangs(x):
    x.c.use_criu("criu-hangs")
    x.submit(timeout=10)


@case("ended", modes=("host",))
def timeout_capped_by_admin(x):
    # The job asks for a day; the admin allows 8 s: criu hangs, the job ends in time.
    x.c.lsf_criu_conf(CONF.format(criu=x.c.criu) + "max_timeout_seconds = 8\n")
    x.c.use_criu("criu-hangs")
    with open(os.path.join(x.c.conf, "lsf-criu.conf"), "a") as f:
        f.write("max_timeout_seconds = 8\n")
    t0 = time.monotonic()
    x.submit(timeout=86400)
    x.wait_log(r"above the admin's limit 8")
    x.settle(90)
    if time.monotonic() - t0 > 80:
        raise CaseError("the job ran far past the admin's 8 s")


@case("ended")
def criu_restore_fails(x):
    x.c.use_criu("criu-restore-fails", LC_REAL_CRIU=x.c.criu)
    x.submit()

    def fix():
        # Restorable by hand once criu works again.
        x.c.lsf_criu_conf(CONF.format(criu=x.c.criu))
    x.before_verify = fix


# the checkpoint filesystem -----------------------------------------------------------

@case("ended", modes=("host",), subset=("host",))
def no_room_preflight(x):
    x.mount("tmpfs", 16)
    x.c.lsf_criu_conf(CONF.format(criu=x.c.criu) + "space_margin_mb = 64\n")
    x.submit()
    x.wait_log(r"not enough room for the images")


@case("ended", modes=("host",))
def enospc_mid_dump(x):
    x.mount("tmpfs", 48)
    x.c.lsf_criu_conf(CONF.format(criu=x.c.criu) + "space_margin_mb = 0\n")
    x.c.use_criu("criu-slow", LC_REAL_CRIU=x.c.criu, LC_CRIU_DELAY=2)
    with open(os.path.join(x.c.conf, "lsf-criu.conf"), "a") as f:
        f.write("space_margin_mb = 0\n")
    x.submit()
    x.wait_log(r"running: .* dump ")
    # Fill the filesystem while criu waits to start.
    filler = os.path.join(x.c.base, "filler")
    subprocess.run(["dd", "if=/dev/zero", "of=" + filler, "bs=1M"], capture_output=True)
    x.wait_log(r"checkpoint of job \d+ failed")
    os.unlink(filler)


@case("ended", modes=("host",), subset=("host",))
def edquot_mid_dump(x):
    x.mount("btrfs", 512, qgroup_mb=2)
    x.submit(cmd=["/usr/bin/python3", os.path.join(HERE, "bigcounter.py"), "16"])
    x.wait_log(r"checkpoint of job \d+ failed")
    if "Disk quota exceeded" not in x.log():
        raise CaseError("the dump did not meet EDQUOT")


@case("ended", modes=("host",))
def checkpoint_dir_unwritable(x):
    x.submit()
    x.wait_log(r"TERMINATE action")
    os.chmod(x.chain_dir(), 0o500)
    x.cleanups.append(lambda: os.chmod(x.chain_dir(), 0o700))


@case("ended", modes=("host",))
def checkpoint_dir_vanishes(x):
    x.c.use_criu("criu-slow", LC_REAL_CRIU=x.c.criu, LC_CRIU_DELAY=2)
    x.submit()
    x.wait_log(r"running: .* dump ")
    d = x.chain_dir()
    os.rename(d, d + ".gone")

    def back():
        x.settle()
        if os.path.exists(d + ".gone") and not os.path.exists(d):
            os.rename(d + ".gone", d)
    x.before_judge = back


# the ledger at each step ---------------------------------------------------------------

LEDGER_DAMAGE = {
    "corrupt": lambda path, text, uid: _write(path, "{\"version\": 2, \"chain_id\": [", uid),
    "truncated": lambda path, text, uid: _write(path, text[:len(text) // 2], uid),
    "foreign": lambda path, text, uid: _write(path, text, pwd.getpwnam("lcuser2").pw_uid),
    "newer": lambda path, text, uid: _write(path, re.sub(r'"version": \d+', '"version": 99',
                                                         text), uid),
}


def _write(path, text, uid):
    tmp = path + ".x"
    with open(tmp, "w") as f:
        f.write(text)
    os.chown(tmp, uid, -1)
    os.chmod(tmp, 0o600)
    os.rename(tmp, path)


def damage_ledger(x, kind):
    path = os.path.join(x.chain_dir(), "lsf-criu.ledger.json")
    with open(path) as f:
        text = f.read()
    LEDGER_DAMAGE[kind](path, text, x.c.pw.pw_uid)
    x.notes.append("ledger %s" % kind)


def ledger_case(kind, step, expect):
    def fn(x):
        if step == "before-limit":
            x.submit()
            # A ledger only exists once the chain has a state: plant one.
            wait_for(lambda: counts(x.c.job(x.first).get("spool_out") or ""), 30, 0.1,
                     "the job to run")
            path = os.path.join(x.chain_dir(), "lsf-criu.ledger.json")
            _write(path, json.dumps({"version": 2, "chain_id": x.first}, indent=2),
                   x.c.pw.pw_uid)
            damage_ledger(x, kind)
        elif step == "during-dump":
            x.c.use_criu("criu-slow", LC_REAL_CRIU=x.c.criu, LC_CRIU_DELAY=2)
            x.submit()
            x.wait_log(r"running: .* dump ")
            damage_ledger(x, kind)
        elif step == "before-postexec":
            # Between the commit and the post-exec (the job is being killed).
            x.submit()
            x.wait_log(r"committed 'ckpt")
            damage_ledger(x, kind)
        elif step == "before-restore":
            x.submit()
            x.wait_log(r"restarted as job")
            damage_ledger(x, kind)
    fn.__name__ = "ledger_%s_%s" % (kind, step.replace("-", "_"))
    return fn


for _kind in LEDGER_DAMAGE:
    for _step, _expect in (("before-limit", "ended"), ("during-dump", "ended"),
                           ("before-postexec", "ended"), ("before-restore", "ended")):
        case(_expect, modes=("host",),
             subset=("host",) if (_kind, _step) == ("corrupt", "during-dump") else (),
             params={"LSFSIM_RESTART_DISPATCH_DELAY": "3"})(ledger_case(_kind, _step, _expect))


@case("ended", modes=("host",))
def current_unwritable(x):
    # lsf-criu.current cannot be switched to the new set: the checkpoint is not
    # committed, the job resumes and, at its run limit, is ended as LSF would.
    x.submit()
    os.mkdir(os.path.join(x.chain_dir(), "lsf-criu.current"), 0o700)
    os.chown(os.path.join(x.chain_dir(), "lsf-criu.current"), x.c.pw.pw_uid, x.c.pw.pw_gid)
    x.wait_log(r"cannot record 'ckpt.1' as current")
    x.after = lambda: _no_images_left(x)


def _no_images_left(x):
    for d in os.listdir(x.chain_dir()):
        p = os.path.join(x.chain_dir(), d)
        if d.startswith("ckpt.") and os.path.isdir(p) and \
                [f for f in os.listdir(p) if f.endswith(".img")]:
            raise CaseError("images of a failed attempt were left in %s" % d)


# The trust boundary: the owner kills the watchdog and the checkpoint of its own job.
def _kill_our_guards(x):
    x.kill_process(lambda p, a: "--watchdog" in a and x.first in a, "the watchdog")
    # echkpnt.criu and its guardian at once, as a user would.
    x.kill_process(lambda p, a: a[0].endswith("echkpnt.criu"), "echkpnt.criu", all_of=True)


@case("ended", modes=("host",), params={"LSFSIM_REISSUE_TERMINATE": "Y"})
def owner_kills_guards_reissued_terminate(x):
    # LSF re-issues TERMINATE (open question Q1): the overdue job is killed then.
    x.c.use_criu("criu-hangs")
    x.submit(timeout=8)
    x.wait_log(r"running: .*criu-hangs.* dump ")
    _kill_our_guards(x)
    x.wait_log(r"overdue; killing it", timeout=120)


@case("ended", modes=("host",))
def owner_kills_guards_then_bkill(x):
    # No re-issue (the clone): the job stays SSUSP past its limit until bkill.
    x.c.use_criu("criu-hangs")
    x.submit(timeout=8)
    x.wait_log(r"running: .*criu-hangs.* dump ")
    _kill_our_guards(x)
    # Well past the deadline nothing of ours is left to act.
    deadline = x.ledger()["request_deadline"]
    wait_for(lambda: time.time() > deadline + 5, 60, 0.5, "the deadline to pass")
    if x.c.job(x.first)["stat"] not in ("RUN", "SSUSP"):
        raise CaseError("the job ended although every guard was killed: %s"
                        % x.c.job(x.first)["stat"])
    x.notes.append("past its deadline the job was still %s" % x.c.job(x.first)["stat"])
    x.c.bkill(x.first)


# PIDs, output, process groups, signals -------------------------------------------------

def take_pids(x):
    """Holds the PIDs of the last image with processes of another user (host-PID mode)."""
    d = x.chain_dir()
    cur = open(os.path.join(d, "lsf-criu.current")).read().strip()
    with open(os.path.join(d, cur, "meta.json")) as f:
        pids = json.load(f)["pids"]
    holders = []
    for pid in pids:
        wait_for(lambda: not os.path.exists("/proc/%d" % pid), 30, 0.005,
                 "PID %d of the image to be free" % pid)
        for _ in range(200):
            try:
                with open("/proc/sys/kernel/ns_last_pid", "w") as f:
                    f.write(str(pid - 1))
            except OSError:
                break
            p = subprocess.Popen(["runuser", "-u", "lcuser2", "--", "sleep", "600"])
            if p.pid == pid or os.path.exists("/proc/%d" % pid):
                holders.append(p)
                break
            p.kill()
            p.wait()
    x.cleanups.append(lambda: [h.kill() for h in holders])
    x.holders = holders
    return holders


@case("ended", modes=("host",), params={"LSFSIM_RESTART_DISPATCH_DELAY": "4"})
def pids_taken(x):
    x.submit()
    x.wait_log(r"committed 'ckpt")
    take_pids(x)

    def free():
        for h in x.holders:
            h.kill()
            h.wait()
    x.before_verify = free


@case("restored", modes=("ns",), subset=("ns",))
def pids_taken_ns(x):
    x.submit()
    x.wait_log(r"committed 'ckpt")
    # Every low PID a namespaced image uses is taken on the host anyway: nothing to do.
    x.notes.append("host PIDs do not matter in the job's namespaces")


@case("restored")
def output_file_rotated(x):
    x.submit()
    x.wait_log(r"committed 'ckpt")
    wait_for(lambda: os.path.exists(x.out), 30, 0.1, "the -o file")
    os.rename(x.out, x.out + ".1")

    def merged():
        # The rotated part and the new file together hold the whole count.
        with open(x.out + ".1") as a, open(x.out, "a") as b:
            pass
        text = open(x.out + ".1").read() + (open(x.out).read() if os.path.exists(x.out)
                                            else "")
        with open(x.out + ".all", "w") as f:
            f.write(text)
        x.out = x.out + ".all"
    x.before_judge = merged


# Dumping and restoring 200 processes takes seconds on a busy machine: longer runs.
@case("restored", modes=("host",), subset=("host",),
      params={"LSFSIM_SECONDS_PER_MINUTE": "8"})
def two_hundred_process_groups(x):
    x.submit(cmd=["/bin/sh", os.path.join(HERE, "groups.sh"), "200"], timeout=60)
    x.wait_log(r"dumping 20\d process")


@case("ended", modes=("host",))
def two_hundred_groups_killed(x):
    x.submit(cmd=["/bin/sh", os.path.join(HERE, "groups.sh"), "200"],
             env={"ENABLE_ORUN_CHKPNT": None})


@case("ended", modes=("ns",), subset=("ns",))
def ignores_term_bkill(x):
    x.submit(cmd=["/bin/sh", "-c", "trap '' TERM INT; exec /bin/sh %s 100000 0.05 0"
                  % COUNTER])
    wait_for(lambda: counts(x.c.job(x.first).get("spool_out") or ""), 30, 0.1, "counting")
    x.c.bkill(x.first)


@case("ended")
def bstop_then_bkill(x):
    x.submit()
    wait_for(lambda: counts(x.c.job(x.first).get("spool_out") or ""), 30, 0.1, "counting")
    x.c.bkill(x.first, sig="STOP")
    time.sleep(0.5)
    x.c.bkill(x.first)


@case("restored", subset=("host",))
def manual_checkpoint_then_limit(x):
    # bchkpnt -k and brestart by hand; the next run limit is still handled.
    x.submit(restarts=1)
    wait_for(lambda: counts(x.c.job(x.first).get("spool_out") or ""), 30, 0.1, "counting")
    x.c.bchkpnt(x.first, kill=True)
    x.c.wait_state(x.first, timeout=60)
    new, p = x.c.brestart(x.first)
    if not new:
        raise CaseError("brestart by hand refused: %s" % p.stderr)
    x.wait_log(r"restarted as job|automatic restart 1 of 1", timeout=120)


@case("restored", subset=("host",))
def hostile_criu_config(x):
    # The user's criu configuration must not change what lsf-criu runs.
    home = x.c.pw.pw_dir
    os.makedirs(os.path.join(home, ".criu"), exist_ok=True)
    with open(os.path.join(home, ".criu", "default.conf"), "w") as f:
        f.write("leave-running\nbogus-option-that-criu-refuses\n")
    shutil.chown(os.path.join(home, ".criu"), x.c.pw.pw_uid, x.c.pw.pw_gid)
    x.cleanups.append(lambda: shutil.rmtree(os.path.join(home, ".criu"), True))
    evil = os.path.join(x.c.root, "evil.conf")
    with open(evil, "w") as f:
        f.write("bogus-option-that-criu-refuses\n")
    x.submit(env={"CRIU_CONFIG_FILE": evil, "HOME": home})


# --- running ------------------------------------------------------------------------------

def run_case(case):
    t0 = time.monotonic()
    x = None
    try:
        x = Ctx(case)
        x.after = x.before_verify = x.before_judge = None
        case.fn(x)
        for t in x.triggers:
            if t:
                wait_for(lambda: os.path.exists(t), 120, 0.1, "the fault %s to trigger" % t)
        if x.before_judge:
            x.before_judge()
        if x.before_verify:
            orig = x.verify_restorable

            def verify():
                x.settle(60)
                x.before_verify()
                return orig()
            x.verify_restorable = verify
        outcome, detail = x.judge()
        if x.after:
            x.after()
    except (CaseError, AssertionError) as e:
        outcome, detail = "lost", str(e)[:600]
    except Exception:
        outcome, detail = "lost", traceback.format_exc()[-800:]
    finally:
        if x:
            x.close()
    ok = outcome in (case.expect if isinstance(case.expect, tuple) else (case.expect,))
    return case, outcome, detail, ok, time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--subset", choices=("check", "all"), default="all")
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("LC_FAULT_JOBS", "3")))
    ap.add_argument("--list", action="store_true")
    ap.add_argument("names", nargs="*")
    a = ap.parse_args()
    cases = [c for c in CASES if (a.subset == "all" or c.subset) and
             (not a.names or any(n in c.name for n in a.names))]
    if a.list:
        for c in cases:
            print("%-45s expect %-9s%s" % (c.name, "/".join(c.expect) if isinstance(
                c.expect, tuple) else c.expect, " (check)" if c.subset else ""))
        print("%d cases" % len(cases))
        return 0
    if os.geteuid() != 0:
        print("faults: needs root (the LSF test double, mounts)")
        print("RESULT passed=0 failed=0 skipped=%d" % len(cases))
        return 0
    tally = {"restored": 0, "ended": 0, "lost": 0, "hung": 0}
    bad = []
    lock = threading.Lock()
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as ex:
        for case, outcome, detail, ok, secs in ex.map(run_case, cases):
            with lock:
                tally[outcome] += 1
                print("%-4s %-45s %-8s (expected %s, %.0f s): %s"
                      % ("ok" if ok else "FAIL", case.name, outcome,
                         "/".join(case.expect) if isinstance(case.expect, tuple)
                         else case.expect, secs,
                         detail.replace("\n", " | ")), flush=True)
                if not ok:
                    bad.append(case.name)
    print("faults: %d tried, %d restored, %d ended cleanly, %d lost, %d hung"
          % (len(cases), tally["restored"], tally["ended"], tally["lost"], tally["hung"]))
    if bad:
        print("faults not as expected: %s" % " ".join(bad))
    print("RESULT passed=%d failed=%d skipped=0" % (len(cases) - len(bad), len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
