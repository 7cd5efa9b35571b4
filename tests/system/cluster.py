# SPDX-License-Identifier: GPL-2.0-or-later
"""System-test harness: a real LSF test double (tests/lsfsim) with lsf-criu's
programs installed in its LSF_SERVERDIR, jobs of a non-root test user, and
the real criu found by the provisioning script (build/criu.path).

Nothing here fakes a result: every assertion reads what the job, the double
or the checkpoint directory really hold.

Multi-host clusters and the double's switches (see tests/lsfsim/README.md):

    c = Cluster(hosts=2, dispatch="other")      # host1, host2; restarts change host
    c = Cluster(flavour="clone")                # the OpenLava-derived scheduler's contract
    c = Cluster(params={"LSFSIM_OLD_LINK": "absolute"})   # one switch
    jid, out = c.chk_bsub(cmd, host="host1")    # bsub -m host1
    c.exec_host(jid)                            # "host1"
    new, p = c.brestart(jid, host=c.other_host("host1"))
    c.on_host("host2", ["ls", path])            # a command on a host, as the user
    stand_in = c.host_local("host2", some_dir)  # some_dir is empty on host2 only

or, in a test class: `class T(ClusterTest): hosts = 2; dispatch = "other"`.
"""

import json
import os
import pwd
import re
import shlex
import shutil
import subprocess
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
LSFSIM = os.path.join(TOP, "tests", "lsfsim", "lsfsim")
WORKLOADS = os.path.join(HERE, "workloads")
BUILD = os.environ.get("LC_BUILD_DIR", os.path.join(TOP, "build"))
PROGRAMS = ("echkpnt.criu", "erestart.criu", "lsf-criu-restore", "lsf-criu-terminate",
            "lsf-criu-postexec", "lsf-criu-start")
USER = "lcuser1"
OTHER_USER = "lcuser2"
PY = "/usr/bin/python3"


def criu_path():
    with open(os.path.join(TOP, "build", "criu.path")) as f:
        return f.read().strip()


def ensure_users():
    """The non-root test users lcuser1 and lcuser2 (created once, idempotent)."""
    for u in (USER, OTHER_USER):
        try:
            pwd.getpwnam(u)
        except KeyError:
            subprocess.run(["useradd", "--system", "--create-home", "--home-dir",
                            "/home/" + u, "--shell", "/bin/sh", u], check=True)


CLONE = {"LSFSIM_FLAVOUR": "clone"}  # params: every behaviour observed on the clone


def wait_for(cond, timeout=60, interval=0.2, what="condition"):
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(interval)


class Cluster:
    """One LSF test double with its own root directory under /var/tmp.

    params: knobs appended to lsb.params (the double re-reads them at each
        dispatch; LSFSIM_HOSTS and a few more only at start).
    queues: lsb.queues text ("{serverdir}" becomes LSF_SERVERDIR).
    hosts: None (one execution host, the machine: the default), a number N
        (host1 .. hostN) or a list of names: execution hosts in their own
        UTS, network and mount namespaces sharing the file systems.
    dispatch: LSFSIM_DISPATCH_POLICY: random (the double's default), first,
        roundrobin, or other (a restarted job lands on another host).
    flavour: "clone" turns on every switch of the OpenLava-derived
        scheduler's observed contract (explicit params still win).
    host_local: paths private to every host from the start (LSFSIM_HOST_LOCAL).
    """

    def __init__(self, params=None, queues=None, user=USER, hosts=None, dispatch=None,
                 flavour=None, host_local=None):
        ensure_users()
        self.user = user
        self.pw = pwd.getpwnam(user)
        self.root = tempfile.mkdtemp(prefix="lsfcriu-", dir="/var/tmp")
        os.chmod(self.root, 0o755)
        subprocess.run([LSFSIM, "init", "--root", self.root], check=True,
                       stdout=subprocess.DEVNULL)
        self.conf = os.path.join(self.root, "conf")
        self.bindir = os.path.join(self.root, "bin")
        self.serverdir = os.path.join(self.root, "serverdir")
        knobs = {"LSFSIM_SECONDS_PER_MINUTE": "2", "LSFSIM_LIMIT_CHECK_INTERVAL": "1",
                 "LSFSIM_BKILL_GRACE": "3", "JOB_TERMINATE_INTERVAL": "2",
                 "LSFSIM_RESTART_DISPATCH_DELAY": "0.5"}
        if hosts:
            knobs["LSFSIM_HOSTS"] = str(hosts) if isinstance(hosts, int) else " ".join(hosts)
        if dispatch:
            knobs["LSFSIM_DISPATCH_POLICY"] = dispatch
        if flavour:
            knobs["LSFSIM_FLAVOUR"] = flavour
        if host_local:
            knobs["LSFSIM_HOST_LOCAL"] = " ".join(host_local)
        knobs.update(params or {})
        with open(os.path.join(self.conf, "lsb.params"), "a") as f:
            for k, v in knobs.items():
                f.write("%s = %s\n" % (k, v))
        if queues:
            with open(os.path.join(self.conf, "lsb.queues"), "w") as f:
                f.write(queues.replace("{serverdir}", os.path.join(self.root, "serverdir")))
        for p in PROGRAMS:
            dst = os.path.join(self.serverdir, p)
            shutil.copy(os.path.join(BUILD, p), dst)
            os.chmod(dst, 0o755)
        # The user's working area: checkpoint base and output files.
        self.home = os.path.join(self.root, "u-" + user)
        os.mkdir(self.home, 0o755)
        os.chown(self.home, self.pw.pw_uid, self.pw.pw_gid)
        self.base = os.path.join(self.home, "ckpt")
        self.user_mkdir(self.base)
        self.criu = criu_path()
        self.lsf_criu_conf("criu = %s\n" % self.criu)
        subprocess.run([LSFSIM, "start", "--root", self.root], check=True)
        self.hosts = [h["name"] for h in self.host_records()]

    # --- hosts --------------------------------------------------------------
    def host_records(self):
        """What `lsfsim hosts` says: [{name, pid (anchor), ns, local}]."""
        p = subprocess.run([LSFSIM, "hosts", "--root", self.root], check=True,
                           capture_output=True, text=True)
        return json.loads(p.stdout)

    @property
    def multi_host(self):
        return len(self.hosts) > 1

    def other_host(self, host):
        """A host of the cluster other than `host` (the next one, cyclically)."""
        i = self.hosts.index(host)
        return self.hosts[(i + 1) % len(self.hosts)]

    def exec_host(self, jobid):
        """The execution host of a job (None before it was dispatched)."""
        return self.job(jobid).get("exec_host")

    def on_host(self, host, argv, extra_env=None, user=None, input=None, cwd=None,
                check=False, timeout=120):
        """Run argv on `host` (inside its namespaces) as the test user, or
        as `user` ("root" for root), with the environment run() gives;
        returns the CompletedProcess. In a single-host cluster this is run()."""
        if not self.multi_host:
            if user == "root":
                return subprocess.run(list(argv), input=input, cwd=cwd or self.home,
                                      capture_output=True, text=True, timeout=timeout,
                                      check=check)
            return self.run(argv, extra_env, user, input, cwd, check, timeout)
        user = user or self.user
        cmd = [LSFSIM, "exec", "--root", self.root, "--host", host, "--cwd", cwd or self.home]
        if user != "root":
            cmd += ["--user", user]
        cmd += ["--", "env", "-i"] + ["%s=%s" % kv for kv in self.env(
            extra_env, None if user == "root" else user).items()] + list(argv)
        p = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError("%r on %s failed (%d): %s %s" % (argv, host, p.returncode,
                                                                 p.stdout, p.stderr))
        return p

    def host_local(self, host, path, copy=False):
        """Make `path` (a directory or file) host-local on `host` now: the host
        gets a private stand-in bound over it, empty or (copy=True) a copy,
        owned and moded like `path`. Returns the stand-in's path, which the
        machine (the test) can fill or change; the other hosts and the
        machine keep the real `path`. To make a path absent on a host, make
        its parent directory host-local there."""
        p = subprocess.run([LSFSIM, "hostlocal", "--root", self.root, "--host", host] +
                           (["--copy"] if copy else []) + [path],
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise AssertionError("lsfsim hostlocal failed: %s" % p.stderr)
        return p.stdout.strip()

    def set_params(self, params):
        """Append knobs to lsb.params: they apply from the next dispatch."""
        with open(os.path.join(self.conf, "lsb.params"), "a") as f:
            for k, v in params.items():
                f.write("%s = %s\n" % (k, v))

    # --- the admin's lsf-criu.conf (in LSF_ENVDIR, root-owned) ------------------
    def lsf_criu_conf(self, text):
        """Writes the cluster's $LSF_ENVDIR/lsf-criu.conf, as the admin would."""
        path = os.path.join(self.conf, "lsf-criu.conf")
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)

    def use_criu(self, injector, **env):
        """Makes the admin's configuration point at a criu fault injector
        (tests/system/faults/<name>, or an absolute path) through a wrapper that
        gives it env: criu runs with a fixed environment, so a fault injector's
        settings cannot come from the job's."""
        src = injector if os.path.isabs(injector) else os.path.join(HERE, "faults", injector)
        d = os.path.join(self.root, "faults")
        os.makedirs(d, mode=0o755, exist_ok=True)
        wrapper = os.path.join(d, "%s-%d" % (os.path.basename(src), time.monotonic_ns()))
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\n# FAULT INJECTOR wrapper written by the test harness\n")
            for k, v in env.items():
                f.write("%s=%s; export %s\n" % (k, shlex.quote(str(v)), k))
            f.write("exec %s \"$@\"\n" % shlex.quote(src))
        os.chmod(wrapper, 0o755)
        self.lsf_criu_conf("criu = %s\n" % wrapper)
        return wrapper

    # --- running things as the user ---------------------------------------
    def env(self, extra=None, user=None):
        pw = pwd.getpwnam(user or self.user)
        e = {"PATH": self.bindir + ":/usr/bin:/bin", "HOME": pw.pw_dir,
             "USER": pw.pw_name, "LOGNAME": pw.pw_name,
             "LSF_ENVDIR": self.conf, "LSF_BINDIR": self.bindir,
             "LSF_SERVERDIR": self.serverdir}
        e.update(extra or {})
        return e

    def run(self, argv, extra_env=None, user=None, input=None, cwd=None, check=False,
            timeout=120):
        user = user or self.user
        env = self.env(extra_env, user)
        cmd = ["runuser", "-u", user, "--", "env", "-i"]
        cmd += ["%s=%s" % kv for kv in env.items()]
        cmd += list(argv)
        p = subprocess.run(cmd, input=input, cwd=cwd or self.home, capture_output=True,
                           text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError("%r failed (%d): %s %s" % (argv, p.returncode, p.stdout,
                                                           p.stderr))
        return p

    def user_mkdir(self, path, mode=0o755):
        os.mkdir(path, mode)
        os.chown(path, self.pw.pw_uid, self.pw.pw_gid)
        os.chmod(path, mode)

    # --- LSF commands -------------------------------------------------------
    def bsub(self, args, extra_env=None, input=None, user=None):
        p = self.run([os.path.join(self.bindir, "bsub")] + list(args), extra_env, user=user,
                     input=input)
        m = re.search(r"Job <(\d+)> is submitted", p.stdout)
        if not m:
            raise AssertionError("bsub failed (%d): %s %s" % (p.returncode, p.stdout, p.stderr))
        return m.group(1)

    def chk_bsub(self, cmd, extra_env=None, opts=(), outfile=None, host=None):
        """Submits a checkpointable job (method criu) with -o (on `host`:
        bsub -m host), returns (jobid, outfile)."""
        outfile = outfile or os.path.join(self.home, "job-%d.out" % time.monotonic_ns())
        opts = list(opts) + (["-m", host] if host else [])
        jid = self.bsub(["-k", "%s method=criu" % self.base, "-o", outfile] + opts
                        + list(cmd), extra_env)
        return jid, outfile

    def bchkpnt(self, jobid, kill=False, user=None):
        args = [os.path.join(self.bindir, "bchkpnt")] + (["-k"] if kill else []) + [jobid]
        return self.run(args, user=user)

    def brestart(self, jobid, opts=(), user=None, host=None):
        """brestart [opts] [-m host] base jobid; returns (new jobid or None, process)."""
        opts = list(opts) + (["-m", host] if host else [])
        p = self.run([os.path.join(self.bindir, "brestart")] + opts + [self.base, jobid],
                     user=user)
        m = re.search(r"Job <(\d+)> is submitted", p.stdout)
        return (m.group(1) if m else None), p

    def bkill(self, jobid, sig=None, user=None):
        args = [os.path.join(self.bindir, "bkill")] + (["-s", sig] if sig else []) + [jobid]
        return self.run(args, user=user)

    def job(self, jobid):
        p = self.run([os.path.join(self.bindir, "bjobs"), "-a", "-json", jobid], check=True)
        recs = json.loads(p.stdout)
        recs = recs if isinstance(recs, list) else [recs]
        for r in recs:
            if str(r.get("jobid")) == str(jobid):
                return r
        raise AssertionError("bjobs knows no job %s: %s" % (jobid, p.stdout))

    def wait_state(self, jobid, states=("DONE", "EXIT"), timeout=120):
        return wait_for(lambda: self.job(jobid)["stat"] in states and self.job(jobid),
                        timeout, 0.3, "job %s to reach %s" % (jobid, "/".join(states)))

    def events(self):
        path = os.path.join(self.root, "work", "events.jsonl")
        out = []
        with open(path) as f:
            for line in f:
                if not line.endswith("\n"):
                    break  # being written right now
                if line.strip():
                    out.append(json.loads(line))
        return out

    def method_calls(self, program):
        return [e for e in self.events()
                if os.path.basename(str((e.get("argv") or [""])[0])) == program]

    def chkdir(self, jobid):
        return os.path.join(self.base, str(jobid))

    def log_text(self, jobid):
        try:
            with open(os.path.join(self.chkdir(jobid), "lsf-criu.log")) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop(self):
        subprocess.run([LSFSIM, "stop", "--root", self.root], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if os.environ.get("LC_KEEP_TEST_DIRS") != "1":
            shutil.rmtree(self.root, ignore_errors=True)


def counts(path):
    """The numbers of the 'count N' lines of a file, in order."""
    try:
        with open(path, errors="replace") as f:
            return [int(m.group(1)) for m in re.finditer(r"^count (\d+)", f.read(), re.M)]
    except FileNotFoundError:
        return []


def assert_continuous(tc, nums, first=1, last=None):
    tc.assertTrue(nums, "no count at all")
    tc.assertEqual(nums, list(range(first, first + len(nums))),
                   "count not continuous (lost or duplicated lines): %s" % _gaps(nums))
    if last is not None:
        tc.assertEqual(nums[-1], last)


def _gaps(nums):
    bad = [(a, b) for a, b in zip(nums, nums[1:]) if b != a + 1]
    return "breaks at %s" % bad[:5]


class ClusterTest(unittest.TestCase):
    """A test case with a fresh cluster in self.c; the class attributes are
    Cluster's arguments."""
    params = None
    queues = None
    hosts = None
    dispatch = None
    flavour = None
    host_local = None

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to run the LSF test double")
        self.c = Cluster(self.params, self.queues, hosts=self.hosts, dispatch=self.dispatch,
                         flavour=self.flavour, host_local=self.host_local)
        self.addCleanup(self.dump_on_failure)
        self.addCleanup(self.c.stop)

    def dump_on_failure(self):
        outcome = getattr(self, "_outcome", None)
        errs = getattr(outcome, "errors", None) or []
        result = getattr(outcome, "result", None)
        failed = any(e[1] for e in errs) or bool(
            result and (result.failures or result.errors))
        if failed and os.environ.get("LC_VERBOSE") == "1":
            for d in sorted(os.listdir(self.c.base)):
                print("--- %s/lsf-criu.log" % d)
                print(self.c.log_text(d))
