# SPDX-License-Identifier: GPL-2.0-or-later
"""sbatchd/mbatchd stand-in of the LSF test double.

One root daemon per cluster tree. It listens on a unix socket
(`<LSB_SHAREDIR>/sbatchd.sock`), identifies every caller with SO_PEERCRED,
keeps the jobs, dispatches them through the per-job helpers (res.py for a
first run, erestart.py for a restarted job), runs checkpoints (echkpnt.py),
the queue's TERMINATE action and POST_EXEC, watches run limits, and records
every call and state change in `work/events.jsonl`.

Threads: the accept loop, one thread per connection, one runner per job
(dispatch, wait, finish), one control worker per running job (checkpoints
and job-control actions, one at a time, in request order) and a ticker
(run limits, kill timers, periodic checkpoints).

Usage: sbatchd.py --root DIR   (normally via `lsfsim start`)
"""

import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import simlib  # noqa: E402
import cgroups  # noqa: E402
import hosts as hostsmod  # noqa: E402
import jobs as jobsmod  # noqa: E402

PY = "/usr/bin/python3"
HOST = socket.gethostname()


class Daemon:
    """The daemon's shared state: `jobs` (id -> Job) and, in every Job, its
    record `rec` (what bjobs shows and state.json keeps) and its runtime
    flags `rt`. Every change to them is made while holding `lock` (an RLock;
    each job's condition variable `cv` is built on it, so waiting on a job
    releases it). Both dicts are `jobs.Guarded`: a change made without the
    lock is logged with its stack ("unlocked change of shared state"), so a
    test finds any lock-discipline violation in any interleaving, not only
    when two threads happen to collide. Whatever is serialised (state.json,
    events, bjobs replies) is copied or encoded under the lock."""

    def __init__(self, root):
        self.root = os.path.abspath(root)
        self.lib = os.path.dirname(os.path.abspath(__file__))
        self.work = os.path.join(self.root, "work")
        self.lock = threading.RLock()
        self.evlock = threading.Lock()
        self.loglock = threading.Lock()
        self.savelock = threading.Lock()
        self.save_seq = 0
        self.saved_seq = 0
        self.unlocked_sites = set()
        self.jobs = {}
        self.stopping = False
        self.logf = open(os.path.join(self.work, "sbatchd.log"), "a", buffering=1)
        os.makedirs(os.path.join(self.work, "jobs"), exist_ok=True)
        self.load_state()
        self.start_hosts()

    # ------------------------------------------------------------ hosts

    def start_hosts(self):
        """The execution hosts, fixed at start: the machine itself
        (single-host default), or one set of namespaces per host of
        LSFSIM_HOSTS (see hosts.py). Raises on a bad configuration."""
        cfg = self.config()
        names = hostsmod.parse_hosts(cfg.get("LSFSIM_HOSTS"))
        self.anchors = {}
        self.rr = 0
        seed = cfg.get("LSFSIM_DISPATCH_SEED", "").strip()
        self.rand = random.Random(seed) if seed else random.Random()
        if not names:
            self.host_names = [HOST]
            self.multi = False
            return
        local = cfg.get("LSFSIM_HOST_LOCAL", "").split()
        for path in local:
            if not path.startswith("/") or not os.path.exists(path):
                raise ValueError("LSFSIM_HOST_LOCAL: %s is not an existing absolute path"
                                 % path)
        started = hostsmod.start(self.root, names, local, self.logf)
        self.anchor_procs = [p for _, p, _ in started]
        self.anchors = {name: rec for name, _, rec in started}
        self.host_names = names
        self.multi = True
        self.log("hosts: %s" % ", ".join("%s (anchor %d)" % (n, self.anchors[n]["pid"])
                                         for n in names))

    def host_name(self, name):
        """The canonical name of a host of the cluster, or None (names are
        case-insensitive, as in LSF)."""
        for n in self.host_names:
            if n.lower() == str(name).lower():
                return n
        return None

    def caller_host(self, pid):
        """The host a client runs on: the host whose UTS namespace it is in,
        else the machine itself (the submission host of the cluster)."""
        if self.multi and pid:
            name = hostsmod.host_identify(self.anchors.values(), pid)
            if name:
                return name
        return HOST

    # ------------------------------------------------------------ logging

    def log(self, msg):
        with self.loglock:
            self.logf.write("%s sbatchd[%d]: %s\n" % (
                time.strftime("%Y-%m-%d %H:%M:%S"), os.getpid(), msg))

    def unlocked_change(self):
        """Called by a Guarded dict changed without the lock: log the call
        site once, with its stack."""
        stack = traceback.extract_stack()[:-3]  # without _check, __setitem__ &c.
        site = (stack[-1].filename, stack[-1].lineno) if stack else None
        with self.loglock:
            if site in self.unlocked_sites:
                return
            self.unlocked_sites.add(site)
        self.log("BUG: unlocked change of shared state at %s:%s\n%s" % (
            site[0] if site else "?", site[1] if site else "?",
            "".join(traceback.format_list(stack[-6:]))))

    def event(self, etype, jobid=None, **kw):
        """Append one event line. One write(2) on an O_APPEND descriptor, so
        concurrent events never interleave; a reader may still see the last
        line half-written, and must ignore a line without its newline."""
        rec = {"time": time.time(), "type": etype}
        if jobid is not None:
            rec["jobid"] = jobid
        rec.update(kw)
        with self.lock:  # what an event shows may be shared state
            data = (json.dumps(rec, sort_keys=False) + "\n").encode()
        with self.evlock:
            fd = os.open(os.path.join(self.work, "events.jsonl"),
                         os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)

    # ------------------------------------------------------------ state

    def load_state(self):
        path = os.path.join(self.work, "state.json")
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError):
            data = []
        with self.lock:
            for rec in data:
                if rec.get("stat") in ("PEND", "RUN", "SSUSP"):
                    # the daemon that ran it is gone: LSF would mark it lost
                    rec["stat"] = "EXIT"
                    rec["term_reason"] = "TERM_ORPHAN_SYSTEM"
                    rec["end_time"] = rec.get("end_time") or time.time()
                self.jobs[rec["jobid"]] = jobsmod.Job(rec, self)

    def save(self):
        """Write state.json: a snapshot encoded under the lock (so no record
        changes while it is encoded), written under its own lock through a
        temporary file; an older snapshot never replaces a newer one."""
        with self.lock:
            self.save_seq += 1
            seq = self.save_seq
            text = json.dumps([j.rec for j in sorted(self.jobs.values(), key=lambda j: j.id)])
        path = os.path.join(self.work, "state.json")
        tmp = path + ".tmp"
        with self.savelock:
            if seq <= self.saved_seq:
                return
            with open(tmp, "w") as f:
                f.write(text)
            os.replace(tmp, path)
            self.saved_seq = seq

    def next_jobid(self):
        path = os.path.join(self.work, "next_jobid")
        with self.lock:
            try:
                with open(path) as f:
                    n = int(f.read().strip())
            except (OSError, ValueError):
                n = 1
            if self.jobs:
                n = max(n, max(self.jobs) + 1)
            with open(path + ".tmp", "w") as f:
                f.write("%d\n" % (n + 1))
            os.replace(path + ".tmp", path)
            return n

    def set_stat(self, job, stat, only_if=None, **kw):
        """Change a job's state, save it and record the event, all under the
        lock, so state events are in the order of the changes. With
        `only_if`, only when the job is in one of those states and its top
        process has not ended; returns whether the change was made."""
        with self.lock:
            old = job.rec.get("stat")
            if only_if is not None and (old not in only_if or job.rt.get("ended")):
                return False
            job.rec["stat"] = stat
            job.rec.update(kw)
            self.save()
            self.event("state", job.id, old=old, new=stat, **kw)
            job.cv.notify_all()
        return True

    def config(self):
        return simlib.load_config(self.root)

    def queues(self):
        return simlib.parse_queues(os.path.join(self.root, "conf", "lsb.queues"))

    # ------------------------------------------------------------ server

    def serve(self):
        sock_path = simlib.socket_path(self.root)
        try:
            os.unlink(sock_path)
        except FileNotFoundError:
            pass
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(sock_path)
        os.chmod(sock_path, 0o666)
        srv.listen(64)
        self.srv = srv
        threading.Thread(target=self.ticker, daemon=True, name="ticker").start()
        self.log("listening on %s" % sock_path)
        while not self.stopping:
            try:
                conn, _ = srv.accept()
            except OSError:
                if self.stopping:
                    break
                continue
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn):
        try:
            conn.settimeout(30)
            cred = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                   struct.calcsize("3i"))
            pid, uid, gid = struct.unpack("3i", cred)
            line = simlib.recv_line(conn)
            req = json.loads(line)
            req["peer_pid"] = pid  # never the client's word for it
            op = req.get("op")
            fn = getattr(self, "op_" + str(op), None)
            if fn is None:
                reply = {"rc": 255, "err": "lsfsim: unknown request %r\n" % op}
            else:
                reply = fn(req, uid, gid)
        except Exception as e:  # never let a client take the daemon down
            self.log("request failed: %s\n%s" % (e, traceback.format_exc()))
            reply = {"rc": 255, "err": "sbatchd: internal error: %s\n" % e}
        try:
            conn.sendall(json.dumps(reply).encode() + b"\n")
        except OSError:
            pass
        finally:
            conn.close()

    # ------------------------------------------------------------ helpers

    def user_popen(self, job, argv, env, cwd="/", stdin=subprocess.PIPE,
                   stdout=subprocess.PIPE, stderr=None, as_root=False, host=None):
        """Start a process of `job` as its user (or root), on `host` (by
        default the job's execution host): in a multi-host cluster inside
        that host's namespaces (the returned Popen is the process itself)."""
        stderr = self.logf if stderr is None else stderr
        anchor = self.anchors.get(host or job.rec.get("exec_host")) if self.multi else None
        if anchor is None:
            kw = {}
            if not as_root:
                kw = dict(user=job.uid, group=job.gid, extra_groups=job.groups())
            if not cwd or not os.path.isdir(cwd):
                cwd = "/"
            return subprocess.Popen(argv, env=env, cwd=cwd, stdin=stdin, stdout=stdout,
                                    stderr=stderr, close_fds=True, **kw)
        if not hostsmod.host_isdir(anchor["pid"], cwd):
            cwd = "/"
        cred = None if as_root else (job.uid, job.gid, job.groups())
        return subprocess.Popen(hostsmod.host_argv(anchor["pid"], argv, cwd, cred), env=env,
                                cwd="/", stdin=stdin, stdout=stdout, stderr=stderr,
                                close_fds=True)

    def helper(self, name):
        return [PY, "-I", os.path.join(self.lib, name)]

    def run_userop(self, job, args, stdin_obj=None, timeout=60, host=None):
        env = {"PATH": "/bin:/usr/bin", "LSF_ENVDIR": os.path.join(self.root, "conf")}
        p = self.user_popen(job, self.helper("userop.py") + args, env, host=host)
        try:
            out, _ = p.communicate(
                json.dumps(stdin_obj).encode() if stdin_obj is not None else b"",
                timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
        return p.returncode, (out or b"").decode(errors="replace")

    def find_job(self, jobid):
        try:
            jid = int(str(jobid).strip())
        except ValueError:
            return None, "%s: Illegal job ID.\n" % jobid
        job = self.jobs.get(jid)
        if job is None:
            return None, "Job <%d>: No matching job found\n" % jid
        return job, None

    @staticmethod
    def may_act(job, uid):
        return uid == 0 or uid == job.uid

    # ------------------------------------------------------------ requests

    def op_ping(self, req, uid, gid):
        return {"rc": 0, "out": "pong\n"}

    def op_shutdown(self, req, uid, gid):
        if uid != 0:
            return {"rc": 255, "err": "User permission denied\n"}
        threading.Thread(target=self.shutdown, daemon=True).start()
        return {"rc": 0, "out": "sbatchd shutting down\n"}

    def op_bsub(self, req, uid, gid):
        return jobsmod.submit(self, req, uid, restart=None)

    def op_brestart(self, req, uid, gid):
        return jobsmod.restart_request(self, req, uid)

    def op_bjobs(self, req, uid, gid):
        return jobsmod.bjobs(self, req, uid)

    def op_bkill(self, req, uid, gid):
        return jobsmod.bkill(self, req, uid)

    def op_bchkpnt(self, req, uid, gid):
        return jobsmod.bchkpnt(self, req, uid)

    # ------------------------------------------------------------ ticker

    def ticker(self):
        while not self.stopping:
            time.sleep(0.1)
            try:
                jobsmod.tick(self)
            except Exception as e:
                self.log("ticker: %s\n%s" % (e, traceback.format_exc()))

    # ------------------------------------------------------------ shutdown

    def shutdown(self):
        self.stopping = True
        self.log("shutting down")
        with self.lock:
            pgids = [j.rec.get("pgid") for j in self.jobs.values() if j.rec.get("pgid")]
        for pg in pgids:
            jobsmod.killpg(pg, signal.SIGKILL)
        if self.multi:  # whatever runs on a host, session or not, anchors last
            kill_host_members(self.anchors.values(), os.getpid())
        kill_session_members(os.getsid(0), os.getpid())
        left = cgroups.cleanup(self.root)  # job cgroups: stragglers die by cgroup.kill
        if left:
            self.log("cgroups left behind: %s" % left)
        try:
            self.srv.close()
        except OSError:
            pass
        try:
            os.unlink(simlib.socket_path(self.root))
        except OSError:
            pass
        os._exit(0)


def kill_host_members(hosts, exclude):
    """SIGKILL every process in the namespaces of the hosts but their
    anchors, then the anchors."""
    anchors = set(h["pid"] for h in hosts)
    for _ in range(20):
        left = [p for p in hostsmod.members(hosts) if p != exclude and p not in anchors]
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if not left:
            break
        time.sleep(0.05)
    for pid in anchors:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def kill_session_members(sid, exclude):
    """SIGKILL every process of the daemon's session except `exclude`."""
    for _ in range(20):
        found = False
        for pid in simlib.all_pids():
            if pid == exclude:
                continue
            st = simlib.proc_stat(pid)
            if st and st[3] == sid and st[0] != "Z":
                found = True
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        if not found:
            return
        time.sleep(0.05)


def main():
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    a = ap.parse_args()
    os.umask(0o022)
    si = simlib.cfg_float(simlib.load_config(a.root), "LSFSIM_SWITCH_INTERVAL")
    if si > 0:
        sys.setswitchinterval(si)  # stress tests: switch threads far more often
    d = Daemon(a.root)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=d.shutdown).start())
    signal.signal(signal.SIGINT, lambda *_: threading.Thread(target=d.shutdown).start())
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)

    def excepthook(args):
        # a thread that dies must say so in the log (a job thread dying used
        # to leave a job DONE without its POST_EXEC and no trace)
        d.log("thread %s died: %s\n%s" % (
            args.thread.name if args.thread else "?", args.exc_value,
            "".join(traceback.format_exception(args.exc_type, args.exc_value,
                                               args.exc_traceback))))
    threading.excepthook = excepthook
    with open(os.path.join(d.work, "sbatchd.pid"), "w") as f:
        f.write("%d %d\n" % (os.getpid(), os.getsid(0)))
    d.serve()


if __name__ == "__main__":
    main()
