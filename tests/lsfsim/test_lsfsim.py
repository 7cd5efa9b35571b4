#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Tests of the LSF test double itself.

They run the real double as root, with the unprivileged test users
lcuser1/lcuser2 (created by ensure-users.sh) and real processes, and check
what LSF's contract says the double must reproduce. The method programs used
here are *probes* (echkpnt.probe / erestart.probe): small shell scripts that
record what they were given. They are not a checkpoint implementation.

Run as root:  /usr/bin/python3 -m unittest tests/lsfsim/test_lsfsim.py
          or  /usr/bin/python3 tests/lsfsim/test_lsfsim.py
"""

import json
import os
import pwd
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
LSFSIM = os.path.join(HERE, "lsfsim")
PY = "/usr/bin/python3"

# Fast timing knobs for the tests (real LSF values are the defaults).
FAST_KNOBS = {
    "LSFSIM_SECONDS_PER_MINUTE": "1",
    "LSFSIM_LIMIT_CHECK_INTERVAL": "0.3",
    "LSFSIM_RUNLIMIT_WARNING_PERIOD": "1",
    "JOB_TERMINATE_INTERVAL": "0.5",
    "LSFSIM_BKILL_GRACE": "1",
    "LSFSIM_RESTART_DISPATCH_DELAY": "0.2",
}

ECHKPNT_PROBE = r"""#!/bin/sh
# Probe of the LSF test double: records what LSF gave echkpnt.<method>.
# It is NOT a checkpoint implementation.
n="$PROBE_DIR/echkpnt.$$"
uname -n > "$n.host"
printf '%s\0' "$@" > "$n.argv"
cat /proc/$$/environ > "$n.env"
pwd > "$n.cwd"
id -u > "$n.uid"
ls -l /proc/$$/fd > "$n.fds"
date +%s.%N > "$n.start"
echo out-of-echkpnt
echo err-of-echkpnt >&2
d=
while [ $# -gt 0 ]; do [ "$1" = -d ] && d=$2; pg=$1; shift; done
case ${PROBE_MODE:-file} in
file)   echo image > "$d/image.1" ;;
subdir) mkdir "$d/imgdir" && echo x > "$d/imgdir/f" ;;
fail)   exit 3 ;;
kill)   echo image > "$d/image.1"; kill -KILL -"$pg" ;;
esac
[ -n "$PROBE_SLEEP" ] && sleep "$PROBE_SLEEP"
exit 0
"""

ERESTART_PROBE = r"""#!/bin/sh
# Probe of the LSF test double: records what LSF gave erestart.<method>.
# It is NOT a restart implementation.
n="$PROBE_DIR/erestart.$$"
uname -n > "$n.host"
printf '%s\0' "$@" > "$n.argv"
cat /proc/$$/environ > "$n.env"
pwd > "$n.cwd"
id -u > "$n.uid"
ls -l "$LSB_CHKPNT_DIR/" > "$n.dir"
case ${PROBE_RESTART:-good} in
good)    printf '  LSB_RESTART_CMD=  echo restarted $LSB_JOBID; exit 4\nsecond line ignored\n' \
             > "$LSB_CHKPNT_DIR/.restart_cmd" ;;
none)    : ;;
signal)  echo 'LSB_RESTART_CMD=exec sh -c "kill -KILL \$\$"' > "$LSB_CHKPNT_DIR/.restart_cmd" ;;
bad)     echo "garbage" > "$LSB_CHKPNT_DIR/.restart_cmd" ;;
fail)    exit 5 ;;
esac
exit 0
"""


def ensure_users():
    subprocess.run(["/bin/sh", os.path.join(HERE, "ensure-users.sh")], check=True)


def read_env0(path):
    with open(path, "rb") as f:
        data = f.read()
    env = {}
    for item in data.split(b"\0"):
        if b"=" in item:
            k, v = item.split(b"=", 1)
            env[k.decode()] = v.decode()
    return env


def slurp(path):
    with open(path) as f:
        return f.read()


def read_argv0(path):
    with open(path, "rb") as f:
        return [a.decode() for a in f.read().split(b"\0")[:-1]]


class Cluster:
    def __init__(self, knobs=None, queues=None, first_jobid=100):
        self.dir = tempfile.mkdtemp(prefix="lsfsim-test.", dir="/var/tmp")
        os.chmod(self.dir, 0o755)
        self.root = os.path.join(self.dir, "cluster")
        subprocess.run([PY, LSFSIM, "init", "--root", self.root, "--first-jobid",
                        str(first_jobid)], check=True)
        k = dict(FAST_KNOBS)
        k.update(knobs or {})
        self.set_knobs(k)
        if queues:
            with open(os.path.join(self.root, "conf", "lsb.queues"), "w") as f:
                f.write(queues)
        self.serverdir = os.path.join(self.root, "serverdir")
        for name, text in (("echkpnt.probe", ECHKPNT_PROBE), ("erestart.probe", ERESTART_PROBE)):
            p = os.path.join(self.serverdir, name)
            with open(p, "w") as f:
                f.write(text)
            os.chmod(p, 0o755)
        self.users = {}
        for u in ("lcuser1", "lcuser2"):
            pw = pwd.getpwnam(u)
            self.users[u] = pw
        # per-user work area (cwd, checkpoint base, probe records)
        self.work = {}
        for u, pw in self.users.items():
            w = os.path.join(self.dir, u)
            os.mkdir(w)
            os.chown(w, pw.pw_uid, pw.pw_gid)
            self.work[u] = w
        self.started = False

    def set_knobs(self, knobs):
        p = os.path.join(self.root, "conf", "lsb.params")
        with open(p, "a") as f:
            for k, v in knobs.items():
                f.write("%s=%s\n" % (k, v))

    def start(self):
        subprocess.run([PY, LSFSIM, "start", "--root", self.root], check=True, timeout=30)
        self.started = True

    def stop(self):
        if self.started:
            subprocess.run([PY, LSFSIM, "stop", "--root", self.root], timeout=60)
            self.started = False

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def mkdir(self, user, *parts):
        p = os.path.join(self.work[user], *parts)
        os.makedirs(p, exist_ok=True)
        pw = self.users[user]
        os.chown(p, pw.pw_uid, pw.pw_gid)
        return p

    def env(self, user, extra=None):
        pw = self.users[user]
        env = {"HOME": pw.pw_dir, "USER": user, "LOGNAME": user,
               "PATH": os.path.join(self.root, "bin") + ":/usr/bin:/bin",
               "LSF_ENVDIR": os.path.join(self.root, "conf"), "LANG": "C"}
        env.update(extra or {})
        return env

    def run(self, user, argv, extra_env=None, cwd=None, stdin=None, timeout=30):
        pw = self.users[user]
        if not argv[0].startswith("/"):
            argv = [os.path.join(self.root, "bin", argv[0])] + list(argv[1:])
        return subprocess.run(argv, user=pw.pw_uid, group=pw.pw_gid,
                              extra_groups=os.getgrouplist(user, pw.pw_gid),
                              env=self.env(user, extra_env), cwd=cwd or self.work[user],
                              input=stdin, capture_output=True, text=True, timeout=timeout)

    def bsub(self, user, args, **kw):
        r = self.run(user, ["bsub"] + list(args), **kw)
        if r.returncode != 0:
            raise AssertionError("bsub failed: %s %s" % (r.stdout, r.stderr))
        line = r.stdout.strip()
        assert line.startswith("Job <") and "is submitted to queue" in line, line
        return int(line.split("<")[1].split(">")[0])

    def job(self, jobid):
        r = subprocess.run([os.path.join(self.root, "bin", "bjobs"), "-json", str(jobid)],
                           env=self.env("lcuser1"), capture_output=True, text=True, timeout=30)
        return json.loads(r.stdout)[0]

    def wait(self, jobid, states="DONE,EXIT", timeout=20):
        r = subprocess.run([PY, LSFSIM, "wait", "--root", self.root, str(jobid), "--state",
                            states, "--timeout", str(timeout)], timeout=timeout + 10)
        if r.returncode != 0:
            raise AssertionError("job %s did not reach %s; it is %s" % (
                jobid, states, self.job(jobid)["stat"]))
        return self.job(jobid)

    def events(self, etype=None, jobid=None):
        out = []
        try:
            with open(os.path.join(self.root, "work", "events.jsonl")) as f:
                for line in f:
                    if not line.endswith("\n"):
                        break  # a line being written right now
                    e = json.loads(line)
                    if etype and e["type"] != etype:
                        continue
                    if jobid is not None and e.get("jobid") != jobid:
                        continue
                    out.append(e)
        except FileNotFoundError:
            pass
        return out

    def wait_for(self, pred, timeout=10, what="condition"):
        deadline = time.time() + timeout
        while time.time() < deadline:
            v = pred()
            if v:
                return v
            time.sleep(0.05)
        raise AssertionError("timed out waiting for %s" % what)

    def lsfsim(self, *args, check=True, **kw):
        r = subprocess.run([PY, LSFSIM] + list(args[:1]) + ["--root", self.root] +
                           list(args[1:]), capture_output=True, text=True, timeout=60, **kw)
        if check and r.returncode != 0:
            raise AssertionError("lsfsim %s failed: %s %s" % (args, r.stdout, r.stderr))
        return r

    def on_host(self, host, argv, user=None, cwd=None):
        """Run argv on a host of the cluster (root, or a user)."""
        a = ["exec", "--host", host] + (["--user", user] if user else []) + \
            (["--cwd", cwd] if cwd else []) + ["--"] + list(argv)
        return self.lsfsim(*a, check=False)

    def hosts(self):
        return json.loads(self.lsfsim("hosts").stdout)

    def probe_records(self, user, kind):
        d = self.work[user]
        return sorted(os.path.join(d, "probe", f[:-5]) for f in os.listdir(
            os.path.join(d, "probe")) if f.startswith(kind + ".") and f.endswith(".argv"))


class Base(unittest.TestCase):
    knobs = None
    queues = None

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("the LSF test double tests need root")
        ensure_users()

    def setUp(self):
        self.c = Cluster(self.knobs, self.queues)
        self.addCleanup(self.c.cleanup)
        self.c.start()
        self.u = "lcuser1"
        self.w = self.c.work[self.u]
        self.probe = self.c.mkdir(self.u, "probe")
        self.base = self.c.mkdir(self.u, "ck")
        self.penv = {"PROBE_DIR": self.probe}

    def submit_chk(self, cmd="echo started; sleep 30", extra_env=None, opts=()):
        env = dict(self.penv)
        env.update(extra_env or {})
        return self.c.bsub(self.u, ["-o", "out.txt", "-k", "ck method=probe"] + list(opts)
                           + [cmd], extra_env=env)

    def checkpoint(self, jobid, flags=("-k",), ok=True):
        n = len(self.c.events("chkpnt_done", jobid))
        r = self.c.run(self.u, ["bchkpnt"] + list(flags) + [str(jobid)])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "Job <%d> is being checkpointed" % jobid)
        ev = self.c.wait_for(lambda: self.c.events("chkpnt_done", jobid)[n:], what="checkpoint")
        self.assertEqual(ev[0]["ok"], ok, ev)
        return ev[0]


class TestJobs(Base):
    def test_exit_status_and_output(self):
        j = self.c.bsub(self.u, ["-o", "out.txt", "-J", "seven",
                                 "echo to-stdout; echo to-stderr >&2; exit 7"])
        self.assertEqual(j, 100)
        rec = self.c.wait(j)
        self.assertEqual(rec["stat"], "EXIT")
        self.assertEqual(rec["exit_code"], 7)
        self.assertEqual(rec["exit_status"], 7 << 8)
        self.assertEqual(rec["name"], "seven")
        # one execution host by default: the machine, no namespace of its own
        me = os.uname().nodename
        self.assertEqual((rec["exec_host"], rec["from_host"]), (me, me))
        [h] = self.c.hosts()
        self.assertEqual((h["name"], h["pid"]), (me, None))
        with open(os.path.join(self.w, "out.txt")) as f:
            out = f.read()
        self.assertIn("Subject: Job 100: <seven>", out)
        self.assertIn("Exited with exit code 7.", out)
        self.assertIn("to-stdout\nto-stderr\n", out)
        # job file removed at job end by default
        self.assertFalse(os.path.exists(rec["jobfile"]))
        j2 = self.c.bsub(self.u, ["-o", "out.txt", "true"])
        self.assertEqual(j2, 101)
        self.assertEqual(self.c.wait(j2)["stat"], "DONE")
        with open(os.path.join(self.w, "out.txt")) as f:
            self.assertEqual(f.read().count("Subject: Job"), 2)  # appended

    def test_environment_and_job_file(self):
        envfile = os.path.join(self.w, "jobenv")
        j = self.c.bsub(self.u, ["-o", "out.txt", "-e", "err.txt", "-I",
                                 "cat /proc/$$/environ > %s; pwd > %s.cwd" % (envfile, envfile)],
                        extra_env={"MY_VAR": "it's a $value `x`\nline2", "LSB_JOBID": "999",
                                   "TERM": "xterm", "ENABLE_ORUN_CHKPNT": "Y"},
                        cwd=self.c.mkdir(self.u, "sub"))
        rec = self.c.wait(j)
        self.assertEqual(rec["stat"], "DONE", rec)
        env = read_env0(envfile)
        self.assertEqual(env["MY_VAR"], "it's a $value `x`\nline2")
        self.assertEqual(env["ENABLE_ORUN_CHKPNT"], "Y")
        self.assertEqual(env["LSB_JOBID"], str(j))
        self.assertEqual(env["LSB_JOBINDEX"], "0")
        self.assertEqual(env["LSB_QUEUE"], "normal")
        self.assertEqual(env["LSB_INTERACTIVE"], "Y")
        self.assertEqual(env["HOME"], "/home/lcuser1")
        self.assertEqual(env["USER"], "lcuser1")
        self.assertEqual(env["LS_SUBCWD"], os.path.join(self.w, "sub"))
        self.assertEqual(env["LSB_OUTPUTFILE"], os.path.join(self.w, "sub", "out.txt"))
        self.assertEqual(env["LSB_ERRORFILE"], os.path.join(self.w, "sub", "err.txt"))
        self.assertEqual(env["LSF_ENVDIR"], os.path.join(self.c.root, "conf"))
        self.assertEqual(env["LSF_SERVERDIR"], self.c.serverdir)
        self.assertEqual(env["LS_JOBPID"], str(rec["res_pid"]))
        self.assertNotIn("LSB_CHKPNT_DIR", env)
        self.assertNotIn("LSB_RESTART", env)
        for k in ("LSB_JOBNAME", "LSB_HOSTS", "LSB_MCPU_HOSTS", "LSB_SUB_HOST",
                  "LSB_JOBFILENAME", "LSB_CHKFILENAME", "LSF_BINDIR"):
            self.assertIn(k, env)
        with open(envfile + ".cwd") as f:
            self.assertEqual(f.read().strip(), os.path.join(self.w, "sub"))

    def test_process_tree_and_job_file(self):
        j = self.c.bsub(self.u, ["sleep 30"], extra_env={"LSFSIM_UNUSED": "1"})
        rec = self.c.wait(j, "RUN")
        rec = self.c.wait_for(lambda: (lambda r: r if len(r["pids"]) >= 3 else None)(
            self.c.job(j)), what="job processes")
        pgid = rec["pgid"]
        self.assertEqual(pgid, rec["res_pid"])
        self.assertIsNone(rec["cgroup"])  # LSFSIM_JOB_CGROUP defaults to N
        uid = self.c.users[self.u].pw_uid
        st = os.stat("/proc/%d" % pgid)
        self.assertEqual(st.st_uid, uid)
        children = [p for p in rec["pids"] if p != pgid and
                    slurp("/proc/%d/stat" % p).rsplit(")", 1)[1].split()[1] == str(pgid)]
        self.assertEqual(len(children), 1)
        with open("/proc/%d/cmdline" % children[0], "rb") as f:
            argv = f.read().split(b"\0")[:-1]
        self.assertEqual(argv, [b"/bin/sh", rec["jobfile"].encode()])
        with open(rec["jobfile"]) as f:
            text = f.read()
        self.assertIn("# LSBATCH: User input\nsleep 30\n# LSBATCH: End user input\n", text)
        self.assertIn("ExitStat=$?", text)
        self.assertIn("exit $ExitStat", text)
        self.assertIn("LSFSIM_UNUSED=1; export LSFSIM_UNUSED", text)
        # the job file lives in the user's 0700 spool directory
        sp = os.stat(os.path.dirname(rec["jobfile"]))
        self.assertEqual((sp.st_uid, sp.st_mode & 0o777), (uid, 0o700))
        # the job file sets LSF's signal traps before the user command
        self.assertTrue(text.startswith("#! /bin/sh\n\n$LSB_TRAPSIGS\n"), text[:40])
        # res and the job-file shell survive a group SIGTERM; the command dies of
        # it and the shell exits with its status
        self.c.run(self.u, ["bkill", "-s", "TERM", str(j)])
        rec = self.c.wait(j)
        self.assertEqual(rec["stat"], "EXIT")
        self.assertEqual(rec["exit_code"], 128 + signal.SIGTERM)
        self.assertIsNone(rec.get("term_signal"))

    def test_script_on_stdin(self):
        script = "#!/bin/sh\n#BSUB -J fromscript\necho line1\necho line2\nexit 3\n"
        r = self.c.run(self.u, ["bsub", "-o", "s.txt"], stdin=script)
        self.assertEqual(r.returncode, 0, r.stderr)
        j = int(r.stdout.split("<")[1].split(">")[0])
        rec = self.c.wait(j)
        self.assertEqual((rec["stat"], rec["exit_code"], rec["name"]), ("EXIT", 3, "fromscript"))
        with open(os.path.join(self.w, "s.txt")) as f:
            self.assertIn("line1\nline2\n", f.read())

    def test_permissions_and_errors(self):
        j = self.c.bsub(self.u, ["sleep 30"])
        self.c.wait(j, "RUN")
        for cmd in (["bkill", str(j)], ["bchkpnt", str(j)], ["bkill", "-s", "KILL", str(j)]):
            r = self.c.run("lcuser2", cmd)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("User permission denied", r.stderr)
        r = self.c.run(self.u, ["bchkpnt", str(j)])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("not checkpointable", r.stderr)
        r = self.c.run(self.u, ["bsub", "-q", "nosuch", "true"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("No such queue", r.stderr)
        r = self.c.run(self.u, ["bsub", "-k", "/nonexistent/dir", "true"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Job not submitted", r.stderr)
        r = self.c.run(self.u, ["bkill", "99999"])
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(self.c.job(j)["stat"], "RUN")

    def test_bkill_default_sequence(self):
        # the job ignores INT and TERM: bkill's SIGKILL follows after the grace
        j = self.c.bsub(self.u, ["trap '' INT TERM; sleep 30"])
        self.c.wait(j, "RUN")
        time.sleep(0.3)
        t0 = time.time()
        r = self.c.run(self.u, ["bkill", str(j)])
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "Job <%d> is being terminated" % j))
        rec = self.c.wait(j, timeout=10)
        self.assertGreaterEqual(time.time() - t0, 0.9)
        sigs = [e["name"] for e in self.c.events("signal", j)]
        self.assertEqual(sigs, ["SIGINT", "SIGTERM", "SIGKILL"])
        self.assertEqual(rec["stat"], "EXIT")
        self.assertEqual(rec["term_signal"], signal.SIGKILL)


class TestCheckpoint(Base):
    def test_echkpnt_call(self):
        j = self.submit_chk()
        rec = self.c.wait(j, "RUN")
        chkdir = os.path.join(self.base, str(j))
        self.assertEqual(rec["chkpnt_dir"], chkdir)
        st = os.stat(chkdir)
        self.assertEqual((st.st_uid, st.st_mode & 0o777), (self.c.users[self.u].pw_uid, 0o700))
        self.checkpoint(j, ("-k",))
        [n] = self.c.probe_records(self.u, "echkpnt")
        self.assertEqual(read_argv0(n + ".argv"),
                         ["-c", "-k", "-d", "%d.tmp" % j, str(rec["pgid"])])
        with open(n + ".cwd") as f:
            self.assertEqual(f.read().strip(), self.base)
        with open(n + ".uid") as f:
            self.assertEqual(int(f.read()), self.c.users[self.u].pw_uid)
        env = read_env0(n + ".env")
        self.assertEqual(env["LS_EXEC_T"], "CHKPNT")
        self.assertEqual(env["LSB_JOBID"], str(j))
        self.assertEqual(env["LSB_CHKPNT_DIR"], chkdir)
        self.assertEqual(env["LSB_ECHKPNT_METHOD"], "probe")
        self.assertEqual(env["LSF_SERVERDIR"], self.c.serverdir)
        with open(n + ".fds") as f:
            fds = f.read()
        for line in fds.splitlines()[1:]:
            fd, target = line.split()[-3], line.split()[-1]
            if fd in ("0", "2"):  # fd 1 is the probe's own redirection
                self.assertEqual(target, "/dev/null", fds)
            else:  # only the shell's own descriptors may be open
                self.assertFalse(target.startswith(("pipe:", "socket:")) or
                                 target.endswith("sbatchd.log"), fds)
        ev = self.c.events("method_call", j)[-1]
        self.assertEqual(ev["argv"][0], "echkpnt.probe")
        self.assertEqual(ev["stdio"], ["/dev/null"] * 3)
        # .tmp handled, plain file moved, LSF's files present
        self.assertFalse(os.path.exists(os.path.join(self.base, "%d.tmp" % j)))
        self.assertTrue(os.path.isfile(os.path.join(chkdir, "image.1")))
        self.assertTrue(os.path.isfile(os.path.join(chkdir, "chklog")))
        with open(os.path.join(chkdir, ".echkpnt")) as f:
            text = f.read()
        self.assertIn('LSB_ECHKPNT_METHOD="probe"', text)
        self.assertIn('LSB_OLD_JOBID="%d"' % j, text)
        self.assertTrue(os.path.isfile(os.path.join(chkdir, os.path.basename(rec["jobfile"]))))
        # nothing is killed for -k
        time.sleep(0.5)
        self.assertEqual(self.c.job(j)["stat"], "RUN")

    def test_keep_output_and_force(self):
        j = self.submit_chk(extra_env={"LSB_ECHKPNT_KEEP_OUTPUT": "Y"})
        self.c.wait(j, "RUN")
        self.checkpoint(j, ("-f",))
        self.checkpoint(j, ())
        [a, b] = sorted(self.c.probe_records(self.u, "echkpnt"),
                        key=lambda p: float(slurp(p + ".start")))
        self.assertEqual(read_argv0(a + ".argv")[:2], ["-c", "-f"])
        self.assertEqual(read_argv0(b + ".argv")[0], "-d")
        chkdir = os.path.join(self.base, str(j))
        with open(os.path.join(chkdir, "echkpnt.out")) as f:
            self.assertEqual(f.read(), "out-of-echkpnt\nout-of-echkpnt\n")  # O_APPEND
        with open(os.path.join(chkdir, "echkpnt.err")) as f:
            self.assertEqual(f.read(), "err-of-echkpnt\nerr-of-echkpnt\n")

    def test_failed_checkpoint(self):
        j = self.submit_chk(extra_env={"PROBE_MODE": "fail"})
        self.c.wait(j, "RUN")
        self.checkpoint(j, ("-k",), ok=False)
        self.assertFalse(os.path.exists(os.path.join(self.base, "%d.tmp" % j)))
        self.assertEqual(self.c.job(j)["stat"], "RUN")
        self.c.run(self.u, ["bkill", "-s", "KILL", str(j)])
        self.c.wait(j)
        r = self.c.run(self.u, ["brestart", "ck", str(j)])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("not been checkpointed", r.stderr)

    def test_subdirectory_move_fails(self):
        j = self.submit_chk(extra_env={"PROBE_MODE": "subdir"})
        self.c.wait(j, "RUN")
        self.checkpoint(j, (), ok=True)      # first: imgdir/ moved in
        self.assertTrue(os.path.isdir(os.path.join(self.base, str(j), "imgdir")))
        ev = self.checkpoint(j, (), ok=False)  # second: imgdir/ exists -> fails
        self.assertIn("existing directory", ev["error"])
        self.assertFalse(os.path.exists(os.path.join(self.base, "%d.tmp" % j)))
        self.assertEqual(self.c.job(j)["stat"], "RUN")

    def test_chkpnt_killed_job_is_done(self):
        # a method that kills the job on -k: the job ends DONE with status 0
        j = self.submit_chk(extra_env={"PROBE_MODE": "kill"})
        self.c.wait(j, "RUN")
        self.checkpoint(j, ("-k",))
        rec = self.c.wait(j)
        self.assertEqual((rec["stat"], rec["exit_status"]), ("DONE", 0))
        self.assertEqual(rec["real_status"], signal.SIGKILL)

    def test_restart_cycle(self):
        j = self.submit_chk(cmd="echo first-run; sleep 30")
        self.c.wait(j, "RUN")
        self.checkpoint(j, ("-k",))
        self.c.run(self.u, ["bkill", "-s", "KILL", str(j)])
        old = self.c.wait(j)
        self.assertEqual((old["stat"], old["exit_status"]), ("DONE", 0))  # checkpoint kill
        r = self.c.run(self.u, ["brestart", "ck", str(j)])
        self.assertEqual(r.returncode, 0, r.stderr)
        n = int(r.stdout.split("<")[1].split(">")[0])
        self.assertEqual(r.stdout.strip(), "Job <%d> is submitted to queue <normal>." % n)
        self.assertGreater(n, j)
        rec = self.c.wait(n)
        self.assertEqual((rec["stat"], rec["exit_code"]), ("EXIT", 4))
        self.assertEqual(rec["restarted_from"], j)
        newdir = os.path.join(self.base, str(n))
        self.assertTrue(os.path.isdir(newdir) and not os.path.islink(newdir))
        self.assertEqual(os.readlink(os.path.join(self.base, str(j))), str(n))
        self.assertFalse(os.path.exists(os.path.join(newdir, ".restart_cmd")))
        [p] = self.c.probe_records(self.u, "erestart")
        self.assertEqual(read_argv0(p + ".argv"), ["-c", newdir])
        with open(p + ".cwd") as f:
            self.assertEqual(f.read().strip(), self.base)
        env = read_env0(p + ".env")
        self.assertEqual(env["LSB_RESTART"], "Y")
        self.assertEqual(env["LSB_OLD_JOBID"], str(j))
        self.assertEqual(env["LSB_JOBID"], str(n))
        self.assertEqual(env["LSB_CHKPNT_DIR"], newdir)
        self.assertEqual(env["LSB_ERESTART_USRCMD"], "echo first-run; sleep 30")
        self.assertEqual(env["LSB_RESTART_PGID"], str(rec["pgid"]))
        self.assertIn("LSB_STDERR_FD", env)
        self.assertEqual(env["PROBE_DIR"], self.probe)  # original submission env
        with open(os.path.join(self.w, "out.txt")) as f:
            out = f.read()
        self.assertIn("first-run", out)
        self.assertIn("restarted %d\n" % n, out)  # appended to the same -o file
        self.assertEqual(out.count("Subject: Job"), 2)
        # the restarted job's PGID leader is the erestart stand-in
        me = [e for e in self.c.events("state", n) if e["new"] == "RUN"][0]
        self.assertEqual(me["pgid"], me["res_pid"])
        # it ended without a checkpoint of its own: LSF 10.1 refuses to restart
        # it; with the OpenLava switch, its directory's chklog is enough
        r = self.c.run(self.u, ["brestart", "ck", str(n)])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("not been checkpointed", r.stderr)
        with open(os.path.join(self.c.root, "conf", "lsb.params"), "a") as f:
            f.write("LSFSIM_BRESTART_UNCHECKPOINTED = Y\n")
        r = self.c.run(self.u, ["brestart", "ck", str(n)])
        self.assertEqual(r.returncode, 0, r.stderr)
        m = int(r.stdout.split("<")[1].split(">")[0])
        self.assertEqual(self.c.wait(m)["exit_code"], 4)
        self.assertEqual(os.readlink(os.path.join(self.base, str(n))), str(m))
        os.unlink(os.path.join(self.base, str(m), "chklog"))
        r = self.c.run(self.u, ["brestart", "ck", str(m)])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("not been checkpointed", r.stderr)

    def test_restart_rules(self):
        for mode, expect_ok in (("none", True), ("bad", False), ("fail", False)):
            with self.subTest(mode=mode):
                j = self.submit_chk(cmd="echo run-of $LSB_JOBID; sleep 30",
                                    extra_env={"PROBE_RESTART": mode})
                self.c.wait(j, "RUN")
                self.checkpoint(j, ())
                self.c.run(self.u, ["bkill", "-s", "KILL", str(j)])
                self.c.wait(j)
                r = self.c.run(self.u, ["brestart", "ck", str(j)])
                n = int(r.stdout.split("<")[1].split(">")[0])
                if expect_ok:
                    self.c.wait(n, "RUN")
                    self.c.wait_for(lambda: "run-of %d" % n in slurp(
                        os.path.join(self.c.root, "spool", self.u, "%d.out" % n)),
                        what="rerun output")
                    self.assertEqual(os.readlink(os.path.join(self.base, str(j))), str(n))
                    # OpenLava drops the old link after the new job's next checkpoint
                    self.checkpoint(n, ())
                    self.assertFalse(os.path.lexists(os.path.join(self.base, str(j))))
                    self.c.run(self.u, ["bkill", "-s", "KILL", str(n)])
                    rec = self.c.wait(n)
                else:
                    rec = self.c.wait(n)
                    self.assertEqual(rec["stat"], "EXIT")
                    # renamed back, link gone
                    self.assertTrue(os.path.isdir(os.path.join(self.base, str(j))))
                    self.assertFalse(os.path.islink(os.path.join(self.base, str(j))))
                    self.assertFalse(os.path.exists(os.path.join(self.base, str(n))))
                    self.assertFalse(os.path.exists(
                        os.path.join(self.base, str(j), ".restart_cmd")))


QUEUES = """
Begin Queue
QUEUE_NAME = normal
End Queue

Begin Queue
QUEUE_NAME   = ckq
RUNLIMIT     = 1 5
JOB_CONTROLS = TERMINATE["$PROBE_DIR/action.sh"]
POST_EXEC    = "$PROBE_DIR/post.sh"
End Queue

Begin Queue
QUEUE_NAME = plain
RUNLIMIT   = 1 5
POST_EXEC  = "$PROBE_DIR/post.sh"
End Queue
"""

ACTION = r"""#!/bin/sh
# TERMINATE action probe: records its context, then acts per ACTION_MODE.
n="$PROBE_DIR/action.$$"
uname -n > "$n.host"
cat /proc/$$/environ > "$n.env"
pwd > "$n.cwd"
id -u > "$n.uid"
ls -l /proc/$$/fd > "$n.fds"
case ${ACTION_MODE:-record} in
record) : ;;
chkpnt) "$LSF_BINDIR/bchkpnt" -k "$LSB_JOBID" > "$n.bchkpnt" 2>&1
        sleep 1 ;;
kill)   for pg in $LSB_JOBPGIDS; do kill -TERM -"$pg"; done ;;
esac
date +%s.%N > "$n.end"
exit 0
"""

POST = r"""#!/bin/sh
# POST_EXEC probe: records its context and what bjobs says meanwhile.
n="$PROBE_DIR/post.$$"
uname -n > "$n.host"
cat /proc/$$/environ > "$n.env"
pwd > "$n.cwd"
id -u > "$n.uid"
ls -l /proc/$$/fd > "$n.fds"
"$LSF_BINDIR/bjobs" -json "$LSB_JOBID" > "$n.bjobs" 2>&1
if [ "$POST_MODE" = restart ] && [ "$LSB_RESTART" != Y ]; then
    "$LSF_BINDIR/brestart" $BRESTART_OPTS "${LSB_CHKPNT_DIR%/*}" "$LSB_JOBID" > "$n.brestart" 2>&1
fi
exit 0
"""


class Phase2Base(Base):
    queues = QUEUES

    def setUp(self):
        super().setUp()
        for name, text in (("action.sh", ACTION), ("post.sh", POST)):
            p = os.path.join(self.probe, name)
            with open(p, "w") as f:
                f.write(text)
            os.chmod(p, 0o755)

    def records(self, kind):
        return sorted((os.path.join(self.probe, f[:-4]) for f in os.listdir(self.probe)
                       if f.startswith(kind + ".") and f.endswith(".env")),
                      key=lambda p: os.stat(p + ".env").st_mtime)


class TestRunLimit(Phase2Base):
    def test_runlimit_terminate_action(self):
        j = self.c.bsub(self.u, ["-q", "ckq", "sleep 30"], extra_env=self.penv)
        rec = self.c.wait(j, "RUN")
        rec = self.c.wait(j, "SSUSP", timeout=10)  # action left it alive
        self.assertEqual((rec["susp_reasons"], rec["susp_subreasons"]), (131072, 1))
        self.assertTrue(rec["pids"])
        [a] = self.records("action")
        env = read_env0(a + ".env")
        self.assertEqual(env["LS_EXEC_T"], "JOB_CONTROLS")
        self.assertEqual(env["LS_JOBPID"], str(rec["res_pid"]))
        self.assertEqual(env["LSB_JOBPGIDS"], "%d " % rec["pgid"])  # trailing space
        pids = env["LSB_JOBPIDS"].split()
        self.assertIn(str(rec["res_pid"]), pids)
        self.assertIn(str(rec["shell_pid"]), pids)
        self.assertEqual(env["LSB_SUSP_REASONS"], "131072")
        self.assertEqual(env["LSB_SUSP_SUBREASONS"], "1")
        self.assertEqual(env["LSB_JOBID"], str(j))
        self.assertEqual(env["PROBE_DIR"], self.probe)
        self.assertEqual(slurp(a + ".cwd").strip(), self.w)
        self.assertEqual(int(slurp(a + ".uid")), self.c.users[self.u].pw_uid)
        for line in slurp(a + ".fds").splitlines()[1:]:
            fd, target = line.split()[-3], line.split()[-1]
            if fd in ("0", "2"):
                self.assertEqual(target, "/dev/null")
        ev = self.c.events("terminate_action", j)
        self.assertEqual(len(ev), 1)
        self.assertEqual(ev[0]["argv"], ["/bin/sh", "-c", '"$PROBE_DIR/action.sh"'])
        self.assertEqual(ev[0]["stdio"], ["/dev/null"] * 3)
        time.sleep(1.5)  # several limit checks later: not issued again
        self.assertEqual(len(self.c.events("terminate_action", j)), 1)
        self.assertEqual(self.c.job(j)["stat"], "SSUSP")
        # bkill with an action: the action runs with reasons 2/0, kills nothing
        r = self.c.run(self.u, ["bkill", str(j)])
        self.assertEqual(r.returncode, 0)
        self.c.wait_for(lambda: len(self.c.events("terminate_action", j)) == 2, what="action")
        env = read_env0(self.records("action")[-1] + ".env")
        self.assertEqual((env["LSB_SUSP_REASONS"], env["LSB_SUSP_SUBREASONS"]), ("2", "0"))
        self.assertEqual(self.c.job(j)["stat"], "SSUSP")
        self.c.run(self.u, ["bkill", "-s", "KILL", str(j)])
        self.c.wait(j)

    def test_runlimit_without_action(self):
        flag = os.path.join(self.w, "usr2")
        j = self.c.bsub(self.u, ["-q", "plain", "trap 'echo usr2 >> %s' USR2; "
                                 "while :; do sleep 0.1; done" % flag], extra_env=self.penv)
        self.c.wait(j, "RUN")
        rec = self.c.wait(j, timeout=15)
        sigs = self.c.events("signal", j)
        self.assertEqual([s["name"] for s in sigs][:2], ["SIGUSR2", "SIGINT"])
        self.assertGreaterEqual(sigs[1]["time"] - sigs[0]["time"], 0.9)  # warning period
        self.assertTrue(os.path.exists(flag))
        self.assertEqual(rec["stat"], "EXIT")
        self.assertEqual(rec["term_reason"], "TERM_RUNLIMIT")
        self.assertEqual(self.c.events("terminate_action", j), [])

    def test_runlimit_kill_sequence_spacing(self):
        j = self.c.bsub(self.u, ["-q", "plain", "trap '' USR2 INT TERM; "
                                 "while :; do sleep 0.1; done"], extra_env=self.penv)
        rec = self.c.wait(j, timeout=15)
        sigs = [(s["name"], s["time"]) for s in self.c.events("signal", j)]
        self.assertEqual([n for n, _ in sigs], ["SIGUSR2", "SIGINT", "SIGTERM", "SIGKILL"])
        self.assertGreaterEqual(sigs[2][1] - sigs[1][1], 0.45)
        self.assertGreaterEqual(sigs[3][1] - sigs[2][1], 0.45)
        self.assertEqual(rec["term_signal"], signal.SIGKILL)

    def test_bsub_W(self):
        r = self.c.run(self.u, ["bsub", "-q", "ckq", "-W", "6", "true"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("queue's hard limit", r.stderr)
        j = self.c.bsub(self.u, ["-q", "ckq", "-W", "0:02", "true"], extra_env=self.penv)
        self.assertEqual(self.c.job(j)["runlimit_min"], 2)

    def test_reissue_switch_and_combined_reasons(self):
        self.c.set_knobs({"LSFSIM_REISSUE_TERMINATE": "Y",
                          "LSFSIM_RUNLIMIT_REASONS": str(131072 | 64),
                          "LSFSIM_RUNLIMIT_SUBREASONS": "9"})
        j = self.c.bsub(self.u, ["-q", "ckq", "sleep 30"], extra_env=self.penv)
        self.c.wait_for(lambda: len(self.c.events("terminate_action", j)) >= 3,
                        timeout=10, what="re-issued actions")
        env = read_env0(self.records("action")[0] + ".env")
        self.assertEqual((env["LSB_SUSP_REASONS"], env["LSB_SUSP_SUBREASONS"]),
                         (str(131072 | 64), "9"))
        self.c.run(self.u, ["bkill", "-s", "KILL", str(j)])
        self.c.wait(j)


class TestOverrunCycle(Phase2Base):
    def test_action_bchkpnt_postexec_brestart(self):
        # the predecessor's cycle: limit -> action -> bchkpnt -k (queued until the
        # action exits) -> method kills -> DONE/0 -> POST_EXEC -> brestart
        env = dict(self.penv, ACTION_MODE="chkpnt", PROBE_MODE="kill", POST_MODE="restart")
        j = self.c.bsub(self.u, ["-q", "ckq", "-o", "out.txt", "-k", "ck method=probe",
                                 "echo first; sleep 30"], extra_env=env)
        rec = self.c.wait(j, timeout=15)
        self.assertEqual((rec["stat"], rec["exit_status"]), ("DONE", 0))
        [a] = self.records("action")
        self.assertIn("is being checkpointed", slurp(a + ".bchkpnt"))
        [e] = self.c.probe_records(self.u, "echkpnt")
        self.assertGreaterEqual(float(slurp(e + ".start")), float(slurp(a + ".end")))
        self.assertEqual(read_argv0(e + ".argv")[:3], ["-c", "-k", "-d"])
        [p] = self.c.wait_for(lambda: self.records("post"), what="post-exec")
        penv = read_env0(p + ".env")
        self.assertEqual(penv["LS_EXEC_T"], "END")
        self.assertEqual(penv["LSB_JOBEXIT_STAT"], "0")
        self.assertNotIn("LSB_JOBEXIT_INFO", penv)
        n = self.c.wait_for(lambda: [x for x in self.c.events("submit")
                                     if x.get("restarted_from") == j], what="brestart")[0]["jobid"]
        rec = self.c.wait(n)
        self.assertEqual((rec["stat"], rec["exit_code"]), ("EXIT", 4))
        out = slurp(os.path.join(self.w, "out.txt"))
        self.assertIn("first\n", out)
        self.assertIn("restarted %d\n" % n, out)

    def test_sig_chkpnt_switch(self):
        self.c.set_knobs({"LSFSIM_CHKPNT_EXIT": "SIG_CHKPNT"})
        env = dict(self.penv, PROBE_MODE="kill")
        j = self.c.bsub(self.u, ["-q", "plain", "-W", "3", "-k", "ck method=probe", "sleep 30"],
                        extra_env=env)
        self.c.wait(j, "RUN")
        self.checkpoint(j, ("-k",))
        rec = self.c.wait(j)
        self.assertEqual((rec["stat"], rec["exit_info"]), ("EXIT", "SIGNAL -1 SIG_CHKPNT"))
        [p] = self.c.wait_for(lambda: self.records("post"), what="post-exec")
        penv = read_env0(p + ".env")
        self.assertEqual(penv["LSB_JOBEXIT_INFO"], "SIGNAL -1 SIG_CHKPNT")
        self.assertEqual(penv["LSB_JOBEXIT_STAT"], str(signal.SIGKILL))

    def test_kill_after_chkpnt_switch(self):
        self.c.set_knobs({"LSFSIM_KILL_AFTER_CHKPNT": "Y"})
        j = self.submit_chk(cmd="sleep 30")
        self.c.wait(j, "RUN")
        self.checkpoint(j, ("-k",))
        rec = self.c.wait(j)
        self.assertEqual((rec["stat"], rec["exit_status"]), ("DONE", 0))
        self.assertIn("kill after checkpoint", [s["why"] for s in self.c.events("signal", j)])


class TestPostExec(Phase2Base):
    def test_post_exec_context(self):
        j = self.c.bsub(self.u, ["-q", "plain", "-o", "o.txt", "exit 7"], extra_env=self.penv)
        self.c.wait(j)
        [p] = self.c.wait_for(lambda: self.records("post"), what="post-exec")
        self.c.wait_for(lambda: os.path.exists(p + ".bjobs") and slurp(p + ".bjobs"),
                        what="post-exec bjobs")
        env = read_env0(p + ".env")
        self.assertEqual(env["LS_EXEC_T"], "END")
        self.assertEqual(env["LSB_JOBEXIT_STAT"], str(7 << 8))
        self.assertEqual(env["PATH"], "/bin:/usr/bin:/sbin:/usr/sbin")
        self.assertEqual(env["LSB_JOBID"], str(j))
        self.assertEqual(env["LS_JOBPID"], str(self.c.job(j)["res_pid"]))
        self.assertEqual(env["LSB_OUTPUTFILE"], os.path.join(self.w, "o.txt"))
        self.assertEqual(env["PROBE_DIR"], self.probe)
        self.assertEqual(slurp(p + ".cwd").strip(), "/tmp")
        self.assertEqual(int(slurp(p + ".uid")), self.c.users[self.u].pw_uid)
        # DONE/EXIT is reported before post-exec runs
        self.assertEqual(json.loads(slurp(p + ".bjobs"))[0]["stat"], "EXIT")
        [ev] = self.c.wait_for(lambda: self.c.events("post_exec", j), what="post_exec event")
        self.assertEqual(ev["argv"], ["/bin/sh", "-c", '"$PROBE_DIR/post.sh"'])
        self.assertEqual(ev["cwd"], "/tmp")

    def test_include_postproc_and_root(self):
        self.c.set_knobs({"JOB_INCLUDE_POSTPROC": "Y", "LSFSIM_POSTEXEC_AS_ROOT": "Y"})
        j = self.c.bsub(self.u, ["-q", "plain", "true"], extra_env=self.penv)
        self.c.wait(j)
        [p] = self.records("post")
        self.assertEqual(int(slurp(p + ".uid")), 0)
        self.assertEqual(json.loads(slurp(p + ".bjobs"))[0]["stat"], "RUN")


class TestSwitches(Phase2Base):
    def test_output_and_jobfile_switches(self):
        self.c.set_knobs({"LSB_STDOUT_DIRECT": "Y", "LSFSIM_KEEP_JOBFILE": "Y",
                          "LSFSIM_DROP_OUTPUTFILE": "Y"})
        j = self.c.bsub(self.u, ["-o", "d.txt", "echo direct; env > env.txt; sleep 30"])
        self.c.wait(j, "RUN")
        self.c.wait_for(lambda: os.path.exists(os.path.join(self.w, "d.txt")) and
                        "direct" in slurp(os.path.join(self.w, "d.txt")), what="direct output")
        self.c.run(self.u, ["bkill", "-s", "KILL", str(j)])
        rec = self.c.wait(j)
        self.assertTrue(os.path.exists(rec["jobfile"]))
        self.assertNotIn("LSB_OUTPUTFILE=", slurp(os.path.join(self.w, "env.txt")))
        out = slurp(os.path.join(self.w, "d.txt"))
        self.assertTrue(out.startswith("direct\n"))
        self.assertIn("Subject: Job %d" % j, out)

    def test_no_report_and_drop_method(self):
        self.c.set_knobs({"LSFSIM_JOB_REPORT": "N", "LSFSIM_DROP_ECHKPNT_METHOD": "Y"})
        j = self.submit_chk(cmd="echo only-output; sleep 30")
        self.c.wait(j, "RUN")
        self.checkpoint(j, ())
        [e] = self.c.probe_records(self.u, "echkpnt")
        self.assertNotIn("LSB_ECHKPNT_METHOD", read_env0(e + ".env"))
        self.c.run(self.u, ["bkill", "-s", "KILL", str(j)])
        self.c.wait(j)
        self.assertEqual(slurp(os.path.join(self.w, "out.txt")), "only-output\n")



class TestMisc(Phase2Base):
    def test_periodic_checkpoints_and_method_dir(self):
        mdir = self.c.mkdir(self.u, "methods")
        shutil.copy(os.path.join(self.c.serverdir, "echkpnt.probe"), mdir)
        os.chmod(os.path.join(mdir, "echkpnt.probe"), 0o755)
        os.unlink(os.path.join(self.c.serverdir, "echkpnt.probe"))
        j = self.c.bsub(self.u, ["-k", "ck init=1 1 method=probe", "sleep 30"],
                        extra_env=dict(self.penv, LSB_ECHKPNT_METHOD_DIR=mdir))
        self.c.wait_for(lambda: len([e for e in self.c.events("chkpnt_done", j) if e["ok"]]) >= 2,
                        timeout=10, what="periodic checkpoints")
        env = read_env0(self.c.probe_records(self.u, "echkpnt")[0] + ".env")
        self.assertEqual(env["LSB_CHKPNT_PERIOD"], "60")
        self.assertIn('LSB_ECHKPNT_METHOD_DIR="%s"' % mdir,
                      slurp(os.path.join(self.base, str(j), ".echkpnt")))
        r = self.c.run(self.u, ["bchkpnt", "-p", "0", str(j)])  # checkpoint now, period off
        self.assertEqual(r.returncode, 0, r.stderr)
        self.c.run(self.u, ["bkill", "-s", "KILL", str(j)])
        self.c.wait(j)

    def test_queue_chkpnt_and_brestart_options(self):
        with open(os.path.join(self.c.root, "conf", "lsb.queues"), "a") as f:
            f.write("\nBegin Queue\nQUEUE_NAME = cq\nCHKPNT = %s\nEnd Queue\n" % self.base)
        self.c.set_knobs({"LSB_ECHKPNT_METHOD": "probe"})
        j = self.c.bsub(self.u, ["-q", "cq", "sleep 30"], extra_env=self.penv)
        rec = self.c.wait(j, "RUN")
        self.assertEqual(rec["chkpnt_dir"], os.path.join(self.base, str(j)))
        self.checkpoint(j, ())
        self.c.run(self.u, ["bkill", "-s", "KILL", str(j)])
        self.c.wait(j)
        r = self.c.run("lcuser2", ["brestart", self.base, str(j)])
        self.assertNotEqual(r.returncode, 0)
        r = self.c.run(self.u, ["brestart", "-q", "normal", "-W", "7", "-f", self.base, str(j)])
        self.assertEqual(r.returncode, 0, r.stderr)
        n = int(r.stdout.split("<")[1].split(">")[0])
        self.assertIn("queue <normal>", r.stdout)
        rec = self.c.wait(n)
        self.assertEqual(rec["runlimit_min"], 7)
        [p] = self.c.probe_records(self.u, "erestart")
        self.assertEqual(read_argv0(p + ".argv"), ["-f", os.path.join(self.base, str(n))])
        r = self.c.run(self.u, ["brestart", self.base, str(j)])  # already restarted
        self.assertNotEqual(r.returncode, 0)

    def test_stop_leaves_nothing(self):
        pidfile = os.path.join(self.w, "escaped.pid")
        j = self.c.bsub(self.u, ["setsid sh -c 'echo $$ > %s; exec sleep 300' & sleep 300"
                                 % pidfile])
        self.c.wait(j, "RUN")
        self.c.wait_for(lambda: os.path.exists(pidfile) and slurp(pidfile).strip(),
                        what="escaped process")
        escaped = int(slurp(pidfile))
        pgid = self.c.job(j)["pgid"]
        self.c.stop()
        self.assertEqual(simlib_pids(pgid), [])
        st = proc_state(escaped)
        self.assertTrue(st is None or st == "Z", st)


def fd_target(pid, fd):
    return os.readlink("/proc/%d/fd/%d" % (pid, fd))


def fd_flags(pid, fd):
    for line in slurp("/proc/%d/fdinfo/%d" % (pid, fd)).splitlines():
        if line.startswith("flags:"):
            return int(line.split()[1], 8)
    return None


class TestObservedSwitches(Phase2Base):
    """The contract as observed on an OpenLava-derived scheduler (the
    clone), each as a switch of the double; LSF 10.1's documented (or the
    double's long-standing) behaviour stays the default."""

    def restart(self, j, opts=()):
        r = self.c.run(self.u, ["brestart"] + list(opts) + ["ck", str(j)])
        self.assertEqual(r.returncode, 0, r.stderr)
        return int(r.stdout.split("<")[1].split(">")[0])

    def chk_kill(self, j):
        self.checkpoint(j, ())
        self.c.run(self.u, ["bkill", "-s", "KILL", str(j)])
        return self.c.wait(j)

    def shell_of(self, j):
        rec = self.c.wait_for(lambda: (lambda r: r if r.get("shell_pid") else None)(
            self.c.job(j)), what="the job-file shell")
        return rec["shell_pid"]

    def test_erestart_relative_dir_and_absolute_link(self):
        self.c.set_knobs({"LSFSIM_ERESTART_DIR": "relative", "LSFSIM_OLD_LINK": "absolute"})
        j = self.submit_chk(cmd="sleep 30", extra_env={"PROBE_RESTART": "none"})
        self.c.wait(j, "RUN")
        self.chk_kill(j)
        n = self.restart(j)
        self.c.wait(n, "RUN")
        [p] = self.c.probe_records(self.u, "erestart")
        self.assertEqual(read_argv0(p + ".argv"), [str(n)])  # relative ...
        self.assertEqual(slurp(p + ".cwd").strip(), self.base)  # ... to the base
        link = os.path.join(self.base, str(j))
        self.assertEqual(os.readlink(link), os.path.join(self.base, str(n)))
        self.checkpoint(n, ())  # the absolute link goes as the relative one would
        self.assertFalse(os.path.lexists(link))
        self.c.run(self.u, ["bkill", "-s", "KILL", str(n)])
        self.c.wait(n)
        # defaults: absolute directory, relative link
        self.c.set_knobs({"LSFSIM_ERESTART_DIR": "absolute", "LSFSIM_OLD_LINK": "relative"})
        m = self.restart(n)
        self.c.wait(m, "RUN")
        p = [x for x in self.c.probe_records(self.u, "erestart") if x != p][0]
        self.assertEqual(read_argv0(p + ".argv"), [os.path.join(self.base, str(m))])
        self.assertEqual(os.readlink(os.path.join(self.base, str(n))), str(m))
        self.c.run(self.u, ["bkill", "-s", "KILL", str(m)])
        self.c.wait(m)

    def test_jobfile_and_spool_in_chkdir(self):
        self.c.set_knobs({"LSFSIM_JOBFILE_DIR": "chkdir"})
        j = self.submit_chk(cmd="echo in-chkdir; sleep 30", opts=("-e", "err.txt"))
        self.c.wait(j, "RUN")
        shell = self.shell_of(j)
        rec = self.c.job(j)
        chkdir = os.path.join(self.base, str(j))
        name = os.path.basename(rec["jobfile"])
        spool = os.path.join(self.c.root, "spool", self.u)
        self.assertEqual(os.path.dirname(rec["jobfile"]), spool)
        self.assertEqual(os.readlink(rec["jobfile"]), os.path.join(chkdir, name))
        self.assertEqual(rec["chkfile"], os.path.join(chkdir, name))  # one file
        self.assertEqual(rec["spool_out"], os.path.join(chkdir, name + ".out"))
        self.assertEqual(os.readlink(os.path.join(spool, name + ".out")), rec["spool_out"])
        self.assertEqual(os.readlink(os.path.join(spool, name + ".err")),
                         os.path.join(chkdir, name + ".err"))
        self.assertEqual(fd_target(shell, 1), rec["spool_out"])
        self.assertIn("LSBATCH: User input", slurp(os.path.join(chkdir, name)))
        env = read_env0("/proc/%d/environ" % shell)
        self.assertEqual(env["LSB_JOBFILENAME"], rec["jobfile"])
        self.c.run(self.u, ["bkill", "-s", "KILL", str(j)])
        self.c.wait(j)
        self.assertIn("in-chkdir\n", slurp(os.path.join(self.w, "out.txt")))
        # at the end the links go, the job file stays in the checkpoint directory
        self.assertFalse(os.path.lexists(rec["jobfile"]))
        self.assertFalse(os.path.lexists(os.path.join(spool, name + ".out")))
        self.assertFalse(os.path.exists(rec["spool_out"]))
        self.assertTrue(os.path.isfile(os.path.join(chkdir, name)))

    def test_restart_keeps_original_jobfile_and_spool(self):
        self.c.set_knobs({"LSFSIM_RESTART_JOBFILE": "original"})
        j = self.submit_chk(cmd="echo run of $LSB_JOBID; sleep 30",
                            extra_env={"PROBE_RESTART": "none"})
        self.c.wait(j, "RUN")
        first = self.c.job(j)
        self.assertTrue(fd_flags(self.shell_of(j), 1) & os.O_APPEND)
        self.c.wait_for(lambda: "run of" in slurp(first["spool_out"]), what="output")
        self.chk_kill(j)
        self.assertEqual(slurp(first["spool_out"]), "run of %d\n" % j)  # never removed
        n = self.restart(j)
        self.c.wait(n, "RUN")
        shell = self.shell_of(n)
        rec = self.c.job(n)
        self.assertEqual(os.path.basename(rec["jobfile"]), os.path.basename(first["jobfile"]))
        self.assertEqual(rec["spool_out"], first["spool_out"])
        self.assertEqual(fd_target(shell, 1), first["spool_out"])
        self.assertTrue(fd_flags(shell, 1) & os.O_APPEND)
        env = read_env0("/proc/%d/environ" % shell)
        self.assertEqual(env["LSB_JOBFILENAME"], first["jobfile"])
        self.c.wait_for(lambda: "run of %d" % n in slurp(first["spool_out"]), what="output")
        self.c.run(self.u, ["bkill", "-s", "KILL", str(n)])
        self.c.wait(n)
        # the whole spool goes to -o at every end: the first run's line repeats
        out = slurp(os.path.join(self.w, "out.txt"))
        self.assertEqual(out.count("run of %d\n" % j), 2)
        self.assertEqual(out.count("run of %d\n" % n), 1)
        self.assertEqual(slurp(first["spool_out"]), "run of %d\nrun of %d\n" % (j, n))

    def test_outputfile_as_typed(self):
        self.c.set_knobs({"LSFSIM_OUTPUTFILE_ENV": "typed"})
        self.c.mkdir(self.u, "sub")
        j = self.c.bsub(self.u, ["-q", "plain", "-o", "sub/o.%J", "-e", "sub/e.txt",
                                 "echo $LSB_OUTPUTFILE $LSB_ERRORFILE $LS_SUBCWD"],
                        extra_env=self.penv)
        self.c.wait(j)
        out = slurp(os.path.join(self.w, "sub", "o.%d" % j))  # delivered where meant
        self.assertIn("sub/o.%d sub/e.txt %s\n" % (j, self.w), out)
        [p] = self.c.wait_for(lambda: self.records("post"), what="post-exec")
        env = read_env0(p + ".env")
        self.assertEqual((env["LSB_OUTPUTFILE"], env["LS_SUBCWD"]), ("sub/o.%d" % j, self.w))
        self.assertEqual(slurp(p + ".cwd").strip(), "/tmp")

    def test_jobpgids_space_and_jobpids_of_a_restarted_job(self):
        self.c.set_knobs({"LSFSIM_JOBPGIDS_SPACE": "first-run",
                          "LSFSIM_RESTART_JOBPIDS": "leader"})
        env = dict(self.penv, PROBE_RESTART="none")
        j = self.c.bsub(self.u, ["-q", "ckq", "-k", "ck method=probe", "sleep 30"],
                        extra_env=env)
        rec = self.c.wait(j, "SSUSP", timeout=15)
        [a] = self.records("action")
        aenv = read_env0(a + ".env")
        self.assertEqual(aenv["LSB_JOBPGIDS"], "%d " % rec["pgid"])
        self.assertGreater(len(aenv["LSB_JOBPIDS"].split()), 1)
        self.chk_kill(j)
        n = self.restart(j)
        rec = self.c.wait(n, "SSUSP", timeout=15)
        self.assertGreater(len(rec["pids"]), 1)
        [a] = [x for x in self.records("action") if x != a]
        aenv = read_env0(a + ".env")
        self.assertEqual((aenv["LSB_JOBPGIDS"], aenv["LSB_JOBPIDS"]),
                         (str(rec["pgid"]), str(rec["pgid"])))
        self.c.run(self.u, ["bkill", "-s", "KILL", str(n)])
        self.c.wait(n)

    def test_no_jobexit_info(self):
        self.c.set_knobs({"LSFSIM_JOBEXIT_INFO": "N", "LSFSIM_CHKPNT_EXIT": "SIG_CHKPNT"})
        env = dict(self.penv, PROBE_MODE="kill")
        j = self.c.bsub(self.u, ["-q", "plain", "-W", "5", "-k", "ck method=probe",
                                 "sleep 30"], extra_env=env)
        self.c.wait(j, "RUN")
        self.checkpoint(j, ("-k",))
        k = self.c.bsub(self.u, ["-q", "plain", "-W", "5", "sleep 30"], extra_env=self.penv)
        self.c.wait(k, "RUN")
        self.c.run(self.u, ["bkill", str(k)])
        for x in (j, k):
            rec = self.c.wait(x)
            self.assertEqual((rec["stat"], rec["exit_info"]), ("EXIT", None))
        posts = self.c.wait_for(lambda: len(self.records("post")) == 2 and self.records("post"),
                                what="post-execs")
        for p in posts:
            self.assertNotIn("LSB_JOBEXIT_INFO", read_env0(p + ".env"))

    def test_erestart_passes_on_only_the_exit_code(self):
        for mode, expect in (("raw", ("EXIT", 128 + 9, 9)), ("exitcode", ("DONE", 0, None))):
            with self.subTest(mode=mode):
                self.c.set_knobs({"LSFSIM_ERESTART_STATUS": mode})
                j = self.submit_chk(cmd="sleep 30", extra_env={"PROBE_RESTART": "signal"})
                self.c.wait(j, "RUN")
                self.chk_kill(j)
                n = self.restart(j)
                rec = self.c.wait(n)
                self.assertEqual((rec["stat"], rec["exit_code"], rec["term_signal"]), expect)
                self.assertEqual(rec["real_status"], signal.SIGKILL)  # what really happened

    def test_restart_pgid_of_the_old_job(self):
        self.c.set_knobs({"LSFSIM_RESTART_PGID": "old"})
        j = self.submit_chk(cmd="sleep 30", extra_env={"PROBE_RESTART": "none"})
        old = self.c.wait(j, "RUN")
        self.chk_kill(j)
        n = self.restart(j)
        rec = self.c.wait(n, "RUN")
        [p] = self.c.probe_records(self.u, "erestart")
        env = read_env0(p + ".env")
        self.assertEqual((env["LSB_RESTART_PGID"], env["LSB_RESTART_PID"]),
                         (str(old["pgid"]), str(rec["pgid"])))
        self.c.run(self.u, ["bkill", "-s", "KILL", str(n)])
        self.c.wait(n)

    def test_clone_flavour_turns_on_everything(self):
        self.c.set_knobs({"LSFSIM_FLAVOUR": "clone", "LSFSIM_RESTART_PGID": "new"})
        j = self.submit_chk(cmd="echo run of $LSB_JOBID; sleep 30",
                            extra_env={"PROBE_RESTART": "none"})
        first = self.c.wait(j, "RUN")
        shell = self.shell_of(j)
        env = read_env0("/proc/%d/environ" % shell)
        self.assertEqual(env["LSB_OUTPUTFILE"], "out.txt")
        self.assertNotIn("LSB_ECHKPNT_METHOD", env)
        chkdir = os.path.join(self.base, str(j))
        self.assertEqual(os.path.dirname(os.readlink(first["jobfile"])), chkdir)
        self.assertEqual(fd_target(shell, 1), first["spool_out"])
        self.assertTrue(first["spool_out"].startswith(chkdir + "/"))
        self.chk_kill(j)
        n = self.restart(j)
        rec = self.c.wait(n, "RUN")
        [p] = self.c.probe_records(self.u, "erestart")
        self.assertEqual(read_argv0(p + ".argv"), [str(n)])
        renv = read_env0(p + ".env")
        self.assertEqual(renv["LSB_RESTART_PGID"], str(rec["pgid"]))  # explicit knob wins
        self.assertNotIn("LSB_ECHKPNT_METHOD", renv)
        newdir = os.path.join(self.base, str(n))
        self.assertEqual(os.readlink(chkdir), newdir)
        self.assertEqual(os.path.basename(rec["jobfile"]), os.path.basename(first["jobfile"]))
        self.assertEqual(rec["spool_out"], os.path.join(newdir, os.path.basename(
            first["spool_out"])))
        self.c.wait_for(lambda: "run of %d" % n in slurp(rec["spool_out"]), what="output")
        self.c.run(self.u, ["bkill", str(n)])
        rec = self.c.wait(n)
        self.assertIsNone(rec["exit_info"])
        out = slurp(os.path.join(self.w, "out.txt"))
        self.assertEqual(out.count("run of %d\n" % j), 2)


STARTER_QUEUES = """
Begin Queue
QUEUE_NAME = normal
End Queue

Begin Queue
QUEUE_NAME  = js
JOB_STARTER = "$PROBE_DIR/starter.sh" %USRCMD
End Queue

Begin Queue
QUEUE_NAME  = jsplain
JOB_STARTER = "$PROBE_DIR/starter.sh"
End Queue

Begin Queue
QUEUE_NAME  = jstail
JOB_STARTER = "$PROBE_DIR/starter.sh" %USRCMD TAIL
End Queue
"""

STARTER = r"""#!/bin/sh
# JOB_STARTER probe: records how it was called, then runs its arguments
# (a last argument TAIL, from a starter's text after %USRCMD, is not run).
n="$PROBE_DIR/starter.$$"
printf '%s\0' "$@" > "$n.argv"
printf '%s' "$LSB_JOB_STARTER" > "$n.var"
for last; do :; done
[ "$last" = TAIL ] && exit 0
exec "$@"
"""


class TestJobStarter(Base):
    """A queue's JOB_STARTER, put into the job file as OpenLava does; a
    restarted job's restart command is wrapped only with
    LSFSIM_JOB_STARTER_RESTART=Y."""
    queues = STARTER_QUEUES

    def setUp(self):
        super().setUp()
        p = os.path.join(self.probe, "starter.sh")
        with open(p, "w") as f:
            f.write(STARTER)
        os.chmod(p, 0o755)

    def starts(self):
        return sorted((os.path.join(self.probe, f[:-5]) for f in os.listdir(self.probe)
                       if f.startswith("starter.") and f.endswith(".argv")),
                      key=lambda x: os.stat(x + ".argv").st_mtime)

    def test_forms_of_the_starter(self):
        cmd = "sh -c 'echo started $LSB_JOBID'"
        for q, argv in (("js", ["sh", "-c", "echo started $LSB_JOBID"]),
                        ("jsplain", ["sh", "-c", "echo started $LSB_JOBID"]),
                        ("jstail", ["sh", "-c", "echo started $LSB_JOBID", "TAIL"])):
            with self.subTest(queue=q):
                before = self.starts()
                j = self.c.bsub(self.u, ["-q", q, "-o", "%s.txt" % q, cmd],
                                extra_env=self.penv)
                rec = self.c.wait(j)
                self.assertEqual(rec["stat"], "DONE")
                [st] = [x for x in self.starts() if x not in before]
                self.assertEqual(read_argv0(st + ".argv"), argv)
                queue = "\"$PROBE_DIR/starter.sh\"" + {"js": " %USRCMD", "jsplain": "",
                                                        "jstail": " %USRCMD TAIL"}[q]
                self.assertEqual(slurp(st + ".var"), queue)  # LSB_JOB_STARTER
                out = slurp(os.path.join(self.w, "%s.txt" % q))
                self.assertEqual("started %d\n" % j in out, q != "jstail")
                # the report shows the user's command, not the starter
                self.assertIn("# LSBATCH: User input\n%s\n" % cmd, out)
        # a script: the starter goes in front of its first command line only
        script = "#!/bin/sh\n#BSUB -q js\n\necho one $LSB_JOBID\necho two\n"
        r = self.c.run(self.u, ["bsub", "-o", "script.txt"], stdin=script,
                       extra_env=self.penv)
        j = int(r.stdout.split("<")[1].split(">")[0])
        self.assertEqual(self.c.wait(j)["stat"], "DONE")
        st = self.starts()[-1]
        self.assertEqual(read_argv0(st + ".argv"), ["echo", "one", str(j)])
        self.assertIn("one %d\ntwo\n" % j, slurp(os.path.join(self.w, "script.txt")))
        # no starter: nothing changes, no LSB_JOB_STARTER
        j = self.c.bsub(self.u, ["-o", "plain.txt", "echo ${LSB_JOB_STARTER-unset}"])
        self.c.wait(j)
        self.assertIn("\nunset\n", slurp(os.path.join(self.w, "plain.txt")))

    def test_restart_command_wrapped_only_with_the_switch(self):
        for wrap in ("N", "Y"):
            with self.subTest(LSFSIM_JOB_STARTER_RESTART=wrap):
                self.c.set_knobs({"LSFSIM_JOB_STARTER_RESTART": wrap})
                j = self.submit_chk(cmd="sleep 30", opts=("-q", "js"))
                self.c.wait(j, "RUN")
                self.c.wait_for(lambda: self.starts(), what="the starter")
                rec = self.c.job(j)
                line = "\"$PROBE_DIR/starter.sh\" sleep 30"
                self.assertIn("# LSBATCH: User input\n%s\n" % line, slurp(rec["chkfile"]))
                self.checkpoint(j, ())
                self.c.run(self.u, ["bkill", "-s", "KILL", str(j)])
                self.c.wait(j)
                before = self.starts()
                r = self.c.run(self.u, ["brestart", "ck", str(j)])
                n = int(r.stdout.split("<")[1].split(">")[0])
                rec = self.c.wait(n)
                self.assertEqual((rec["stat"], rec["exit_code"]), ("EXIT", 4))
                p = max(self.c.probe_records(self.u, "erestart"),
                        key=lambda x: os.stat(x + ".argv").st_mtime)
                self.assertEqual(read_env0(p + ".env")["LSB_ERESTART_USRCMD"], line)
                new = [x for x in self.starts() if x not in before]
                if wrap == "N":  # OpenLava: the whole first line is replaced
                    self.assertEqual(new, [])
                else:
                    self.assertEqual([read_argv0(x + ".argv") for x in new],
                                     [["echo", "restarted", str(n)]])
                self.assertIn("restarted %d\n" % n, slurp(os.path.join(self.w, "out.txt")))
                for x in self.starts():
                    os.unlink(x + ".argv")


STRESS_QUEUES = """
Begin Queue
QUEUE_NAME = normal
POST_EXEC  = : > "$PROBE_DIR/post.$LSB_JOBID.$$"
End Queue
"""


class TestConcurrency(Base):
    """The double's shared state under many simultaneous jobs: every start,
    checkpoint, end and post-exec is recorded exactly once, whatever the
    interleaving. LSFSIM_SWITCH_INTERVAL makes the daemon's threads switch
    far more often than usual, to widen every race window."""
    queues = STRESS_QUEUES
    knobs = {"LSFSIM_SWITCH_INTERVAL": "0.00001", "LSFSIM_RESTART_DISPATCH_DELAY": "0"}
    N = 12

    def parallel(self, fn, args):
        errs = []

        def call(a):
            try:
                fn(a)
            except BaseException as e:  # noqa: B036 - reported below
                errs.append((a, e))
        threads = [threading.Thread(target=call, args=(a,)) for a in args]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(errs, [])

    def test_many_jobs_start_checkpoint_and_end_at_once(self):
        go = os.path.join(self.w, "go")
        cmd = ("echo start $LSB_JOBID; while [ ! -e %s ]; do sleep 0.05; done; "
               "echo end $LSB_JOBID" % go)
        ids = []
        self.parallel(lambda i: ids.append(self.submit_chk(cmd=cmd, opts=("-J", "s%d" % i))),
                      range(self.N))
        self.assertEqual(len(set(ids)), self.N)
        for j in ids:
            self.c.wait(j, "RUN", timeout=60)
        # one checkpoint of every job at once, then a second round racing the
        # ends of the jobs
        def chk(j):
            r = self.c.run(self.u, ["bchkpnt", str(j)])
            self.assertEqual(r.returncode, 0, r.stderr)
        self.parallel(chk, ids)
        self.c.wait_for(lambda: all(self.c.events("chkpnt_done", j) for j in ids),
                        timeout=60, what="first checkpoints")
        rounds = {}

        def chk_or_end(j):
            if j == ids[self.N // 2]:
                with open(go, "w"):
                    pass
            r = self.c.run(self.u, ["bchkpnt", str(j)])
            rounds[j] = r.returncode
        self.parallel(chk_or_end, ids)
        if not os.path.exists(go):
            open(go, "w").close()
        for j in ids:
            rec = self.c.wait(j, timeout=60)
            self.assertEqual((rec["stat"], rec["exit_code"]), ("DONE", 0), rec)
        self.c.wait_for(lambda: len([f for f in os.listdir(self.probe)
                                     if f.startswith("post.")]) >= self.N,
                        timeout=60, what="every post-exec")
        self.c.wait_for(lambda: len(self.c.events("post_exec")) >= self.N, timeout=30,
                        what="every post_exec event")
        ev = self.c.events()
        for j in ids:
            mine = [e for e in ev if e.get("jobid") == j]
            kinds = [e["type"] for e in mine]
            states = [(e["old"], e["new"]) for e in mine if e["type"] == "state"]
            self.assertEqual(states, [(None, "PEND"), ("PEND", "RUN"), ("RUN", "DONE")], j)
            self.assertEqual(kinds.count("submit"), 1, j)
            self.assertEqual(kinds.count("post_exec"), 1, j)
            posts = [f for f in os.listdir(self.probe) if f.startswith("post.%d." % j)]
            self.assertEqual(len(posts), 1, (j, posts))
            # every accepted bchkpnt ends in exactly one done or dropped checkpoint
            asked = kinds.count("chkpnt_requested")
            self.assertEqual(asked, 1 + (rounds[j] == 0), j)
            self.assertEqual(kinds.count("chkpnt_done") + kinds.count("chkpnt_dropped"),
                             asked, j)
            self.assertEqual(kinds.count("chkpnt_start"), kinds.count("chkpnt_done"), j)
            self.assertEqual(kinds.count("method_call"), kinds.count("chkpnt_done"), j)
        # output delivered once per job, in one block
        out = slurp(os.path.join(self.w, "out.txt"))
        for j in ids:
            self.assertEqual(out.count("\nstart %d\nend %d\n" % (j, j)), 1, j)
            self.assertEqual(out.count("Subject: Job %d:" % j), 1, j)
        # the saved state agrees with what bjobs said, and no thread died
        with open(os.path.join(self.c.root, "work", "state.json")) as f:
            saved = {r["jobid"]: r for r in json.load(f)}
        for j in ids:
            self.assertEqual(saved[j]["stat"], "DONE", j)
            self.assertIsNotNone(saved[j]["post_exec_status"], j)
        log = slurp(os.path.join(self.c.root, "work", "sbatchd.log"))
        for bad in ("Traceback", "unlocked change", "died", "internal error", "failed:"):
            self.assertNotIn(bad, log)


def ns_of(pid, kind):
    return os.stat("/proc/%s/ns/%s" % (pid, kind)).st_ino


class TestMultiHost(Phase2Base):
    """LSFSIM_HOSTS: execution hosts in their own UTS, network and mount
    namespaces, sharing the file systems; every process of a job runs on
    its execution host."""
    knobs = {"LSFSIM_HOSTS": "2", "LSFSIM_DISPATCH_POLICY": "first",
             "LSFSIM_DISPATCH_SEED": "1"}

    def test_hosts_identity_and_environment(self):
        hosts = self.c.hosts()
        self.assertEqual([h["name"] for h in hosts], ["host1", "host2"])
        for h in hosts:  # own namespaces, not the machine's
            for k in ("uts", "net", "mnt"):
                self.assertNotEqual(h["ns"][k], ns_of("self", k))
        self.assertNotEqual(hosts[0]["ns"]["net"], hosts[1]["ns"]["net"])
        probe = ("uname -n; echo $LSB_HOSTS/$LSB_MCPU_HOSTS/$HOSTNAME/$LSB_SUB_HOST; "
                 "readlink /proc/self/ns/net; grep -c : /proc/net/dev; "
                 "/usr/bin/python3 -c 'import socket; s=socket.socket(); "
                 "s.bind((\"127.0.0.1\", 0)); s.listen(); "
                 "socket.create_connection(s.getsockname()); print(\"loopback ok\")'")
        ids = {}
        for h in ("host2", "host1"):
            ids[h] = self.c.bsub(self.u, ["-m", h, "-o", "%s.txt" % h, probe],
                                 extra_env={"HOSTNAME": "submitter-says"})
        me = os.uname().nodename
        for h, j in ids.items():
            rec = self.c.wait(j)
            self.assertEqual((rec["stat"], rec["exec_host"], rec["from_host"]), ("DONE", h, me))
            self.assertEqual(rec["asked_hosts"], [h])
            out = slurp(os.path.join(self.w, "%s.txt" % h))
            body = out.split("The output (if any) follows:\n\n", 1)[1].splitlines()
            net = [x for x in hosts if x["name"] == h][0]["ns"]["net"]
            self.assertEqual(body[:5], [h, "%s/%s 1/%s/%s" % (h, h, h, me),
                                        "net:[%d]" % net, "1", "loopback ok"])
            self.assertIn("Job was executed on host(s) <%s>" % h, out)
            self.assertNotIn("submitter-says", slurp(os.path.join(self.w, "%s.txt" % h)))
        r = self.c.run(self.u, ["bsub", "-m", "nosuchhost", "true"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("nosuchhost: Bad host name", r.stderr)
        # host names are case-insensitive; a list of candidates is allowed
        j = self.c.bsub(self.u, ["-m", "HOST2 host1", "true"])
        self.assertEqual(self.c.wait(j)["exec_host"], "host2")
        # lsfsim exec runs a command on a host, as root or as a user
        r = self.c.on_host("host2", ["sh", "-c", "uname -n; id -un"], user=self.u)
        self.assertEqual((r.returncode, r.stdout), (0, "host2\n%s\n" % self.u))
        self.assertEqual(self.c.on_host("host1", ["sh", "-c", "exit 3"]).returncode, 3)

    def test_every_context_runs_on_the_execution_host(self):
        # first run on host2 (-m); TERMINATE at the limit checkpoints it
        # there; POST_EXEC on host2 restarts it with brestart -m host1
        env = dict(self.penv, ACTION_MODE="chkpnt", PROBE_MODE="kill", POST_MODE="restart",
                   BRESTART_OPTS="-m host1")
        j = self.c.bsub(self.u, ["-q", "ckq", "-m", "host2", "-o", "out.txt", "-k",
                                 "ck method=probe", "echo first; uname -n; sleep 30"],
                        extra_env=env)
        rec = self.c.wait(j, timeout=30)
        self.assertEqual((rec["stat"], rec["exec_host"]), ("DONE", "host2"))
        n = self.c.wait_for(lambda: [x for x in self.c.events("submit")
                                     if x.get("restarted_from") == j], what="brestart")[0]["jobid"]
        rec = self.c.wait(n, timeout=30)
        self.assertEqual((rec["exec_host"], rec["from_host"]), ("host1", "host2"))
        [a] = self.records("action")
        [e] = self.c.probe_records(self.u, "echkpnt")
        [r] = self.c.probe_records(self.u, "erestart")
        posts = self.c.wait_for(lambda: len(self.records("post")) == 2 and self.records("post"),
                                what="both post-execs")
        self.assertEqual([slurp(x + ".host").strip() for x in (a, e)], ["host2"] * 2)
        self.assertEqual(slurp(r + ".host").strip(), "host1")
        self.assertEqual(sorted(slurp(x + ".host").strip() for x in posts), ["host1", "host2"])
        renv = read_env0(r + ".env")
        self.assertEqual((renv["LSB_HOSTS"], renv["LSB_SUB_HOST"]), ("host1", "host2"))
        out = slurp(os.path.join(self.w, "out.txt"))
        self.assertIn("first\nhost2\n", out)
        self.assertIn("Job was executed on host(s) <host1>", out)

    def test_dispatch_policies(self):
        def hosts_of(n, opts=()):
            return [self.c.wait(self.c.bsub(self.u, list(opts) + ["true"]))["exec_host"]
                    for _ in range(n)]
        self.assertEqual(hosts_of(3), ["host1"] * 3)             # first
        self.c.set_knobs({"LSFSIM_DISPATCH_POLICY": "roundrobin"})
        got = hosts_of(4)
        self.assertIn(got, (["host1", "host2"] * 2, ["host2", "host1"] * 2))
        self.assertEqual(hosts_of(2, ("-m", "host2")), ["host2"] * 2)
        # random: either host; repeatable with LSFSIM_DISPATCH_SEED (read at start)
        self.c.set_knobs({"LSFSIM_DISPATCH_POLICY": "random"})
        rnd = random.Random("1")
        self.assertEqual(hosts_of(10), [rnd.choice(["host1", "host2"]) for _ in range(10)])
        # other: a restarted job runs on another host than the run it restarts
        self.c.set_knobs({"LSFSIM_DISPATCH_POLICY": "other"})
        chain = [self.submit_chk(cmd="sleep 30", extra_env={"PROBE_RESTART": "none"})]

        def cycle(opts=()):
            self.c.wait(chain[-1], "RUN")
            self.checkpoint(chain[-1], ())
            self.c.run(self.u, ["bkill", "-s", "KILL", str(chain[-1])])
            self.c.wait(chain[-1])
            r = self.c.run(self.u, ["brestart"] + list(opts) + ["ck", str(chain[-1])])
            self.assertEqual(r.returncode, 0, r.stderr)
            chain.append(int(r.stdout.split("<")[1].split(">")[0]))
            return self.c.wait(chain[-1], "RUN")["exec_host"]
        self.assertEqual([cycle() for _ in range(3)], ["host2", "host1", "host2"])
        self.assertEqual(self.c.job(chain[0])["exec_host"], "host1")
        # brestart -m wins over the policy
        self.assertEqual(cycle(("-m", "host2")), "host2")
        self.c.run(self.u, ["bkill", "-s", "KILL", str(chain[-1])])
        self.c.wait(chain[-1])

    def test_host_local_paths_and_stop(self):
        self.c.mkdir(self.u, "proj")
        proj = self.c.mkdir(self.u, "proj", "sub")
        with open(os.path.join(proj, "data"), "w") as f:
            f.write("shared\n")
        os.chown(os.path.join(proj, "data"), *self.ids())
        # on host2, proj/ is an empty private directory: sub/ is missing there
        r = self.c.lsfsim("hostlocal", "--host", "host2", os.path.dirname(proj))
        stand_in = r.stdout.strip()
        self.assertTrue(stand_in.startswith(os.path.join(self.c.root, "hosts", "host2")))
        self.assertEqual(os.listdir(stand_in), [])
        self.assertEqual(os.stat(stand_in).st_uid, self.ids()[0])
        self.assertEqual(self.c.on_host("host1", ["test", "-d", proj]).returncode, 0)
        self.assertNotEqual(self.c.on_host("host2", ["test", "-d", proj]).returncode, 0)
        self.assertTrue(os.path.isdir(proj))  # the machine is untouched
        # a file made different on host1 (a copy, then changed)
        r = self.c.lsfsim("hostlocal", "--host", "host1", "--copy", os.path.join(proj, "data"))
        with open(r.stdout.strip(), "a") as f:
            f.write("host1 only\n")
        self.assertEqual(self.c.on_host("host1", ["cat", os.path.join(proj, "data")]).stdout,
                         "shared\nhost1 only\n")
        self.assertEqual(slurp(os.path.join(proj, "data")), "shared\n")
        # a job of that directory: at home on host1, its cwd is missing on host2
        ids = [self.c.bsub(self.u, ["-m", h, "-o", os.path.join(self.w, "o." + h),
                                    "pwd; cat data"], cwd=proj)
               for h in ("host1", "host2")]
        for j in ids:
            self.c.wait(j)
        self.assertIn("%s\nshared\nhost1 only\n" % proj, slurp(os.path.join(self.w, "o.host1")))
        self.assertNotIn("shared", slurp(os.path.join(self.w, "o.host2")))
        # lsfsim stop: no process left in any host namespace, whoever started it
        pidfile = os.path.join(self.w, "escaped.pid")
        j = self.c.bsub(self.u, ["-m", "host2", "setsid sh -c 'echo $$ > %s; exec sleep 300' "
                                 "& sleep 300" % pidfile])
        self.c.wait(j, "RUN")
        self.c.wait_for(lambda: os.path.exists(pidfile) and slurp(pidfile).strip(),
                        what="escaped process")
        escaped = int(slurp(pidfile))
        hosts = self.c.hosts()
        bg = subprocess.Popen([PY, LSFSIM, "exec", "--root", self.c.root, "--host", "host1",
                               "--", "sleep", "300"])
        self.addCleanup(bg.wait)
        self.c.wait_for(lambda: proc_state(bg.pid) and ns_of(bg.pid, "uts") ==
                        hosts[0]["ns"]["uts"], what="a process on host1")
        self.c.stop()
        self.assertIn(proc_state(escaped), (None, "Z"))
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                for h in hosts:
                    try:
                        self.assertNotIn(ns_of(pid, "net"), (h["ns"]["net"],), pid)
                        self.assertNotIn(ns_of(pid, "uts"), (h["ns"]["uts"],), pid)
                    except OSError:  # gone, or not ours to look at
                        pass
        self.assertFalse(os.path.exists(os.path.join(self.c.root, "work", "hosts.json")))
        with open("/proc/self/mountinfo") as f:
            self.assertNotIn(self.c.root, f.read())

    def ids(self):
        pw = self.c.users[self.u]
        return pw.pw_uid, pw.pw_gid


class TestHostLocalConfig(Base):
    """LSFSIM_HOST_LOCAL: paths private to every host from the start."""

    def setUp(self):
        self.shared = tempfile.mkdtemp(prefix="lsfsim-hl.", dir="/var/tmp")
        os.chmod(self.shared, 0o1777)
        self.addCleanup(shutil.rmtree, self.shared, True)
        self.knobs = {"LSFSIM_HOSTS": "alpha beta", "LSFSIM_HOST_LOCAL": self.shared}
        super().setUp()

    def test_each_host_has_its_own(self):
        for h in ("alpha", "beta"):
            r = self.c.on_host(h, ["sh", "-c", "echo %s > %s/f; ls %s" % (h, self.shared,
                                                                         self.shared)],
                               user=self.u)
            self.assertEqual((r.returncode, r.stdout), (0, "f\n"), r.stderr)
        for h in ("alpha", "beta"):
            self.assertEqual(self.c.on_host(h, ["cat", self.shared + "/f"]).stdout, h + "\n")
        self.assertEqual(os.listdir(self.shared), [])
        self.assertEqual([x["local"][0]["path"] for x in self.c.hosts()], [self.shared] * 2)


def cgroup2_mount():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split()[:1] == ["cgroup2"]:
                return left.split()[4], left.split()[3]
    return None, None


def cgroup_of(pid):
    try:
        for line in slurp("/proc/%d/cgroup" % pid).splitlines():
            if line.startswith("0::"):
                return line[3:]
    except OSError:
        return None
    return None


class TestJobCgroup(Base):
    knobs = {"LSFSIM_JOB_CGROUP": "Y"}

    def setUp(self):
        self.mnt, self.mroot = cgroup2_mount()
        if not self.mnt:
            self.skipTest("no cgroup2 mount")
        super().setUp()

    def rel(self, path):
        return os.path.normpath(os.path.join(self.mroot, os.path.relpath(path, self.mnt)))

    def pids_in(self, path):
        try:
            return set(int(x) for x in slurp(os.path.join(path, "cgroup.procs")).split())
        except FileNotFoundError:
            return set()

    def check_job_cgroup(self, j, extra=()):
        rec = self.c.wait_for(lambda: (lambda r: r if len(r["pids"]) >= 3 else None)(
            self.c.job(j)), what="job processes")
        cg = rec["cgroup"]
        self.assertEqual(os.path.basename(cg), "job.%d" % j)
        parent = os.path.dirname(cg)
        self.assertEqual(os.path.dirname(parent), self.mnt)
        self.assertTrue(os.path.basename(parent).startswith("lsfsim-"), parent)
        members = self.pids_in(cg)
        for pid in set(rec["pids"]) | {rec["res_pid"]} | set(extra):
            self.assertEqual(cgroup_of(pid), self.rel(cg), "pid %d" % pid)
            self.assertIn(pid, members)
        self.assertNotEqual(cgroup_of(os.getpid()), self.rel(cg))
        [ev] = self.c.events("cgroup", j)
        self.assertEqual((ev["path"], ev["pid"]), (cg, rec["res_pid"]))
        return rec

    def test_job_cgroup_lifecycle(self):
        pidfile = os.path.join(self.w, "escaped.pid")
        cmd = "setsid sh -c 'echo $$ > %s; exec sleep 300' & sleep 300" % pidfile
        # the restart runs the command again (no .restart_cmd)
        j = self.submit_chk(cmd=cmd, extra_env={"PROBE_RESTART": "none"})
        self.c.wait(j, "RUN")
        self.c.wait_for(lambda: os.path.exists(pidfile) and slurp(pidfile).strip(),
                        what="escaped process")
        escaped = int(slurp(pidfile))
        rec = self.check_job_cgroup(j, [escaped])  # a setsid escapee is still in it
        cg = rec["cgroup"]
        parent = os.path.dirname(cg)
        # the job ends while the escapee lives: the cgroup is kept, not killed
        self.checkpoint(j, ("-k",))
        self.c.run(self.u, ["bkill", "-s", "KILL", str(j)])
        self.c.wait(j)
        self.assertEqual(self.c.job(j)["cgroup"], cg)
        self.c.wait_for(lambda: self.c.events("cgroup_busy", j), what="cgroup_busy")
        self.assertEqual(self.pids_in(cg), {escaped})
        self.assertEqual(proc_state(escaped), "S")
        os.kill(escaped, signal.SIGKILL)
        self.c.wait_for(lambda: not os.path.exists(cg), what="the cgroup to be removed")
        self.assertEqual(self.c.events("cgroup_removed", j)[0]["path"], cg)
        # a restarted job gets a new cgroup, led by the erestart stand-in
        r = self.c.run(self.u, ["brestart", "ck", str(j)])
        self.assertEqual(r.returncode, 0, r.stderr)
        n = int(r.stdout.split("<")[1].split(">")[0])
        os.unlink(pidfile)
        self.c.wait(n, "RUN")
        self.c.wait_for(lambda: os.path.exists(pidfile) and slurp(pidfile).strip(),
                        what="escaped process of the restarted job")
        escaped = int(slurp(pidfile))
        rec = self.check_job_cgroup(n, [escaped])
        self.assertEqual(rec["cgroup"], os.path.join(parent, "job.%d" % n))
        # cgroup.kill ends the job, escapee included, and the cgroup goes away
        with open(os.path.join(rec["cgroup"], "cgroup.kill"), "w") as f:
            f.write("1")
        rec = self.c.wait(n)
        self.assertEqual((rec["stat"], rec["term_signal"]), ("EXIT", signal.SIGKILL))
        self.c.wait_for(lambda: proc_state(escaped) in (None, "Z"), what="escapee to die")
        self.c.wait_for(lambda: not os.path.exists(rec["cgroup"]), what="cgroup removal")
        # lsfsim stop kills what is left in a job cgroup and removes the parent
        j3 = self.c.bsub(self.u, ["sleep 300"])
        rec = self.check_job_cgroup(j3)
        self.c.stop()
        self.assertFalse(os.path.exists(parent))
        for pid in rec["pids"]:
            self.assertIn(proc_state(pid), (None, "Z"))


def simlib_pids(pgid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                f = slurp("/proc/%s/stat" % d).rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(f[2]) == pgid and f[0] != "Z":
                out.append(int(d))
    return out


def proc_state(pid):
    try:
        return slurp("/proc/%d/stat" % pid).rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


if __name__ == "__main__":
    unittest.main(verbosity=2)
