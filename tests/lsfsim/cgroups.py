# SPDX-License-Identifier: GPL-2.0-or-later
"""Per-job cgroups of the LSF test double (knob LSFSIM_JOB_CGROUP=Y).

Layout (the double's choice; LSF's own layout under LSF_CGROUP_TOPDIR_KEY is
site-specific): under the host's cgroup v2 mount (the first `cgroup2` line of
/proc/self/mountinfo; /sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid
host) one parent per cluster tree, `lsfsim-<tree name>-<hash of the tree's
path>`, and one child per job, `job.<jobid>`. A job's res stand-in (first
run) or erestart stand-in (restarted job) is moved into its job's cgroup by
the daemon (root) before it reads its parameters, i.e. before it can fork
anything, so every process of the job inherits that cgroup.

Used by the daemon (jobs.py, control.py, sbatchd.py), `lsfsim stop` and the
helpers (proc_cgroup only). Standard library only.
"""

import errno
import hashlib
import os
import re
import signal
import time

MOUNTINFO = "/proc/self/mountinfo"


def _unescape(s):
    """mountinfo escapes blanks, tabs, newlines and backslashes as \\ooo."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)


def mount():
    """(mount point, mount root) of the first cgroup2 mount, or (None, None)."""
    try:
        with open(MOUNTINFO) as f:
            lines = f.read().splitlines()
    except OSError:
        return None, None
    for line in lines:
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        r = right.split()
        fields = left.split()
        if r and r[0] == "cgroup2" and len(fields) >= 5:
            return _unescape(fields[4]), _unescape(fields[3])
    return None, None


def parent(root):
    """Directory of the cluster tree's parent cgroup, or None without cgroup2."""
    mnt, _ = mount()
    if not mnt:
        return None
    real = os.path.realpath(root)
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", os.path.basename(real) or "root")[:40]
    digest = hashlib.sha256(real.encode()).hexdigest()[:10]
    return os.path.join(mnt, "lsfsim-%s-%s" % (name, digest))


def job_dir(root, jobid):
    p = parent(root)
    return os.path.join(p, "job.%d" % int(jobid)) if p else None


def rel(path):
    """The path of a cgroup directory as the `0::` line of /proc/<pid>/cgroup
    shows it to a process of the initial cgroup namespace."""
    mnt, mroot = mount()
    r = os.path.relpath(path, mnt)
    return os.path.normpath(os.path.join(mroot or "/", "" if r == "." else r))


def proc_cgroup(pid="self"):
    """The cgroup v2 path (`0::` line) of a process, or None."""
    try:
        with open("/proc/%s/cgroup" % pid) as f:
            for line in f:
                if line.startswith("0::"):
                    return line[3:].rstrip("\n")
    except OSError:
        pass
    return None


def procs(path):
    """PIDs in a cgroup (not its descendants); [] if it is gone."""
    try:
        with open(os.path.join(path, "cgroup.procs")) as f:
            return sorted(int(x) for x in f.read().split())
    except (OSError, ValueError):
        return []


def populated(path):
    """True/False from cgroup.events (descendants included); None if gone."""
    try:
        with open(os.path.join(path, "cgroup.events")) as f:
            for line in f:
                k, _, v = line.partition(" ")
                if k == "populated":
                    return v.strip() == "1"
    except OSError:
        return None
    return None


def create_job(root, jobid):
    """mkdir the parent (once) and the job's cgroup; returns its directory.
    Raises OSError when there is no cgroup2 mount or it is not writable."""
    p = parent(root)
    if not p:
        raise OSError(errno.ENOENT, "no cgroup2 mount in %s" % MOUNTINFO)
    try:
        os.mkdir(p, 0o755)
    except FileExistsError:
        pass
    d = os.path.join(p, "job.%d" % int(jobid))
    try:
        os.mkdir(d, 0o755)
    except FileExistsError:
        # a leftover of an earlier job of the same id (a re-initialised tree)
        if not remove(d, kill=True):
            raise
        os.mkdir(d, 0o755)
    return d


def enter(path, pid):
    """Move `pid` into the cgroup at `path` and check that it is there."""
    with open(os.path.join(path, "cgroup.procs"), "w") as f:
        f.write("%d\n" % pid)
    want = rel(path)
    got = proc_cgroup(pid)
    if got != want:
        raise OSError(errno.EIO, "pid %d is in cgroup %r, not %r" % (pid, got, want))


def kill_all(path):
    """SIGKILL everything in the cgroup and its descendants: cgroup.kill
    (Linux >= 5.14), else each PID of cgroup.procs."""
    try:
        with open(os.path.join(path, "cgroup.kill"), "w") as f:
            f.write("1\n")
        return
    except FileNotFoundError:
        if not os.path.isdir(path):
            return
    except OSError:
        pass
    for pid in procs(path):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def remove(path, kill=False, timeout=5.0):
    """rmdir the cgroup; with kill=True, SIGKILL what is in it first and wait
    up to `timeout` seconds for it to empty. True if the directory is gone."""
    if not os.path.isdir(path):
        return True
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.rmdir(path)
            return True
        except FileNotFoundError:
            return True
        except OSError as e:
            if e.errno != errno.EBUSY or not kill:
                return False
        kill_all(path)
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def cleanup(root, timeout=5.0):
    """Kill and remove every job cgroup of the tree, then its parent.
    Returns the directories that could not be removed."""
    p = parent(root)
    if not p or not os.path.isdir(p):
        return []
    left = []
    for name in sorted(os.listdir(p)):
        d = os.path.join(p, name)
        if os.path.isdir(d) and not remove(d, kill=True, timeout=timeout):
            left.append(d)
    if not remove(p, kill=True, timeout=timeout):
        left.append(p)
    return left


def tree_pids(root):
    """Every PID in the tree's cgroups."""
    p = parent(root)
    out = set()
    if not p or not os.path.isdir(p):
        return []
    for dirpath, _, _ in os.walk(p):
        out.update(procs(dirpath))
    return sorted(out)
