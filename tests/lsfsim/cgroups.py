# SPDX-License-Identifier: GPL-2.0-or-later
"""Per-job cgroups of the LSF test double (knob LSFSIM_JOB_CGROUP=Y; knob
LSFSIM_JOB_CGROUP_VERSION=2, the default, or 1).

Layout (the double's choice; LSF's own layout under LSF_CGROUP_TOPDIR_KEY is
site-specific): under the host's cgroup v2 mount (the first `cgroup2` line of
/proc/self/mountinfo; /sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid
host) one parent per cluster tree, `lsfsim-<tree name>-<hash of the tree's
path>`, and one child per job, `job.<jobid>`. A job's res stand-in (first
run) or erestart stand-in (restarted job) is moved into its job's cgroup by
the daemon (root) before it reads its parameters, i.e. before it can fork
anything, so every process of the job inherits that cgroup.

cgroup v1 (LSFSIM_JOB_CGROUP_VERSION=1), as LSF uses it on RHEL 8: the same
parent and job directories in each of the v1 hierarchies of V1_CONTROLLERS
(memory, cpuacct, freezer, pids; those mounted on the host), the job's
processes in all of them. The job's cgroup is named by its directory in the
first one (memory): create_job() returns it, rel() gives "memory:/<path>",
and proc_cgroup() gives the same form for a process in such a cgroup (else
the v2 path, as with v2). There is no cgroup.kill in v1: kill_all() freezes
the job's freezer cgroup, SIGKILLs every member of every hierarchy, thaws.
Every function takes either kind of path.

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


# ---- cgroup v1 ------------------------------------------------------------

# The v1 controllers a job's cgroup spans, the first naming it (LSF's v1 job
# cgroups are memory, cpuacct, freezer and others; cpuset needs cpus and mems
# set before use and is left out).
V1_CONTROLLERS = ("memory", "cpuacct", "freezer", "pids")
V1_PRIMARY = V1_CONTROLLERS[0]


def v1_mounts():
    """{controller: (mount point, mount root)} of the v1 hierarchies of
    V1_CONTROLLERS mounted here (the first mount of each)."""
    out = {}
    try:
        with open(MOUNTINFO) as f:
            lines = f.read().splitlines()
    except OSError:
        return out
    for line in lines:
        left, sep, right = line.partition(" - ")
        r = right.split()
        fields = left.split()
        if not sep or len(r) < 3 or r[0] != "cgroup" or len(fields) < 5:
            continue
        for opt in r[2].split(","):
            if opt in V1_CONTROLLERS and opt not in out:
                out[opt] = (_unescape(fields[4]), _unescape(fields[3]))
    return out


def v1_available():
    """True if every controller of V1_CONTROLLERS has a v1 hierarchy here."""
    return set(v1_mounts()) == set(V1_CONTROLLERS)


def _v1_split(path):
    """(controller, path below its mount) if path is in a v1 hierarchy, else None."""
    for c, (mnt, _) in v1_mounts().items():
        r = os.path.relpath(path, mnt)
        if r == "." or not r.startswith(".."):
            return c, ("" if r == "." else r)
    return None


def v1_siblings(path):
    """The directories of a v1 job cgroup in every hierarchy (first: its own)."""
    c, r = _v1_split(path)
    m = v1_mounts()
    return [path] + [os.path.join(m[o][0], r) for o in V1_CONTROLLERS if o != c and o in m]


def version(root):
    """The cgroup version jobs of this tree get: LSFSIM_JOB_CGROUP_VERSION, 1 or 2."""
    import simlib  # the knob table; imported here, helpers need only proc_cgroup
    return 1 if str(simlib.load_config(root).get("LSFSIM_JOB_CGROUP_VERSION",
                                                  "2")).strip() == "1" else 2


def parent(root, ver=None):
    """Directory of the cluster tree's parent cgroup (v1: in the memory
    hierarchy), or None without such a mount."""
    ver = ver or version(root)
    if ver == 1:
        m = v1_mounts()
        mnt = m[V1_PRIMARY][0] if V1_PRIMARY in m else None
    else:
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
    """The path of a cgroup directory as /proc/<pid>/cgroup shows it to a
    process of the initial cgroup namespace: the `0::` path for v2,
    "<controller>:<path>" for v1 (see proc_cgroup)."""
    v1 = _v1_split(path)
    if v1:
        c, r = v1
        mroot = v1_mounts()[c][1]
        return "%s:%s" % (c, os.path.normpath(os.path.join(mroot or "/", r)))
    mnt, mroot = mount()
    r = os.path.relpath(path, mnt)
    return os.path.normpath(os.path.join(mroot or "/", "" if r == "." else r))


def proc_cgroups(pid="self"):
    """{hierarchy: path} of a process: "0" for v2, the controller names for v1."""
    out = {}
    try:
        with open("/proc/%s/cgroup" % pid) as f:
            for line in f:
                _, ctrl, path = line.rstrip("\n").split(":", 2)
                for c in (ctrl.split(",") if ctrl else ["0"]):
                    out[c] = path
    except (OSError, ValueError):
        pass
    return out


def proc_cgroup(pid="self"):
    """The cgroup of a process as rel() names it: "memory:<path>" when it is
    in a v1 job cgroup of the double, else its cgroup v2 path (`0::` line);
    None if it is gone."""
    cgs = proc_cgroups(pid)
    v1 = cgs.get(V1_PRIMARY, "")
    if "/lsfsim-" in v1:
        return "%s:%s" % (V1_PRIMARY, v1)
    return cgs.get("0")


def procs(path):
    """PIDs in a cgroup (not its descendants); [] if it is gone."""
    try:
        with open(os.path.join(path, "cgroup.procs")) as f:
            return sorted(int(x) for x in f.read().split())
    except (OSError, ValueError):
        return []


def populated(path):
    """True/False: something is in it or its descendants (cgroup.events in
    v2, the members of every directory below it in v1); None if gone."""
    if _v1_split(path):
        if not os.path.isdir(path):
            return None
        return any(procs(d) for d, _, _ in os.walk(path))
    try:
        with open(os.path.join(path, "cgroup.events")) as f:
            for line in f:
                k, _, v = line.partition(" ")
                if k == "populated":
                    return v.strip() == "1"
    except OSError:
        return None
    return None


def _mkdir_job(p, jobid):
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


def create_job(root, jobid):
    """mkdir the parent (once) and the job's cgroup; returns its directory
    (v1: in the memory hierarchy, made in every hierarchy). Raises OSError
    when there is no such mount or it is not writable."""
    ver = version(root)
    if ver == 1 and not v1_available():
        raise OSError(errno.ENOENT, "no cgroup v1 hierarchies of %s in %s"
                      % (", ".join(V1_CONTROLLERS), MOUNTINFO))
    p = parent(root, ver)
    if not p:
        raise OSError(errno.ENOENT, "no cgroup2 mount in %s" % MOUNTINFO)
    d = _mkdir_job(p, jobid)
    if ver == 1:
        for sib in v1_siblings(d)[1:]:
            _mkdir_job(os.path.dirname(sib), jobid)
    return d


def enter(path, pid):
    """Move `pid` into the cgroup at `path` (v1: in every hierarchy) and
    check that it is there."""
    dirs = v1_siblings(path) if _v1_split(path) else [path]
    for d in dirs:
        with open(os.path.join(d, "cgroup.procs"), "w") as f:
            f.write("%d\n" % pid)
    want = rel(path)
    got = proc_cgroup(pid)
    if got != want:
        raise OSError(errno.EIO, "pid %d is in cgroup %r, not %r" % (pid, got, want))
    if len(dirs) > 1:
        cgs = proc_cgroups(pid)
        for d in dirs:
            c, r = rel(d).split(":", 1)
            if cgs.get(c) != r:
                raise OSError(errno.EIO, "pid %d is in %s cgroup %r, not %r"
                              % (pid, c, cgs.get(c), r))


def kill_all(path):
    """SIGKILL everything in the cgroup and its descendants: cgroup.kill
    (Linux >= 5.14), else each PID of cgroup.procs; in v1 with the job's
    freezer cgroup frozen meanwhile, so that nothing forks past the kill."""
    if _v1_split(path):
        dirs = [d for sib in v1_siblings(path) for d, _, _ in os.walk(sib)]
        freezer = [d for d in dirs if _v1_split(d)[0] == "freezer"]
        for d in freezer:
            try:
                with open(os.path.join(d, "freezer.state"), "w") as f:
                    f.write("FROZEN\n")
            except OSError:
                pass
        for d in dirs:
            for pid in procs(d):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        for d in freezer:
            try:
                with open(os.path.join(d, "freezer.state"), "w") as f:
                    f.write("THAWED\n")
            except OSError:
                pass
        return
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


def _rmdir_one(path, kill, deadline, job):
    """rmdir one directory, killing the job's cgroup `job` meanwhile if asked."""
    while True:
        try:
            os.rmdir(path)
            return True
        except FileNotFoundError:
            return True
        except OSError as e:
            if e.errno != errno.EBUSY or not kill:
                return False
        kill_all(job)
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def remove(path, kill=False, timeout=5.0):
    """rmdir the cgroup (v1: in every hierarchy); with kill=True, SIGKILL what
    is in it first and wait up to `timeout` seconds for it to empty. True if
    the directory is gone (v1: in every hierarchy)."""
    deadline = time.monotonic() + timeout
    dirs = v1_siblings(path) if _v1_split(path) else [path]
    ok = True
    for d in dirs:
        if os.path.isdir(d) and not _rmdir_one(d, kill, deadline, path):
            ok = False
    return ok


def cleanup(root, timeout=5.0):
    """Kill and remove every job cgroup of the tree, then its parent, of
    both versions. Returns the directories that could not be removed."""
    left = []
    for ver in (2, 1):
        p = parent(root, ver)
        if not p or not os.path.isdir(p):
            continue
        for name in sorted(os.listdir(p)):
            d = os.path.join(p, name)
            if os.path.isdir(d) and not remove(d, kill=True, timeout=timeout):
                left.append(d)
        if not remove(p, kill=True, timeout=timeout):
            left.append(p)
    return left


def tree_pids(root):
    """Every PID in the tree's cgroups (both versions)."""
    out = set()
    for ver in (2, 1):
        p = parent(root, ver)
        if not p or not os.path.isdir(p):
            continue
        for dirpath, _, _ in os.walk(p):
            out.update(procs(dirpath))
    return sorted(out)
