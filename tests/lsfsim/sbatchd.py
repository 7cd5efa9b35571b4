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
import jobs as jobsmod  # noqa: E402

PY = "/usr/bin/python3"
HOST = socket.gethostname()


class Daemon:
    def __init__(self, root):
        self.root = os.path.abspath(root)
        self.lib = os.path.dirname(os.path.abspath(__file__))
        self.work = os.path.join(self.root, "work")
        self.lock = threading.RLock()
        self.evlock = threading.Lock()
        self.jobs = {}
        self.stopping = False
        self.logf = open(os.path.join(self.work, "sbatchd.log"), "a", buffering=1)
        os.makedirs(os.path.join(self.work, "jobs"), exist_ok=True)
        self.load_state()

    # ------------------------------------------------------------ logging

    def log(self, msg):
        self.logf.write("%s sbatchd[%d]: %s\n" % (
            time.strftime("%Y-%m-%d %H:%M:%S"), os.getpid(), msg))

    def event(self, etype, jobid=None, **kw):
        rec = {"time": time.time(), "type": etype}
        if jobid is not None:
            rec["jobid"] = jobid
        rec.update(kw)
        line = json.dumps(rec, sort_keys=False) + "\n"
        with self.evlock:
            with open(os.path.join(self.work, "events.jsonl"), "a") as f:
                f.write(line)

    # ------------------------------------------------------------ state

    def load_state(self):
        path = os.path.join(self.work, "state.json")
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError):
            data = []
        for rec in data:
            job = jobsmod.Job(rec)
            if rec.get("stat") in ("PEND", "RUN", "SSUSP"):
                # the daemon that ran it is gone: LSF would mark it lost
                rec["stat"] = "EXIT"
                rec["term_reason"] = "TERM_ORPHAN_SYSTEM"
                rec["end_time"] = rec.get("end_time") or time.time()
            self.jobs[rec["jobid"]] = job

    def save(self):
        with self.lock:
            data = [j.rec for j in sorted(self.jobs.values(), key=lambda j: j.id)]
        path = os.path.join(self.work, "state.json")
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f)
        os.replace(tmp, path)

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

    def set_stat(self, job, stat, **kw):
        with self.lock:
            old = job.rec.get("stat")
            job.rec["stat"] = stat
            job.rec.update(kw)
            self.save()
        self.event("state", job.id, old=old, new=stat, **kw)
        with job.cv:
            job.cv.notify_all()

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
                   stdout=subprocess.PIPE, stderr=None, as_root=False):
        kw = {}
        if not as_root:
            kw = dict(user=job.uid, group=job.gid, extra_groups=job.groups())
        if not cwd or not os.path.isdir(cwd):
            cwd = "/"
        return subprocess.Popen(argv, env=env, cwd=cwd, stdin=stdin, stdout=stdout,
                                stderr=self.logf if stderr is None else stderr,
                                close_fds=True, **kw)

    def helper(self, name):
        return [PY, "-I", os.path.join(self.lib, name)]

    def run_userop(self, job, args, stdin_obj=None, timeout=60):
        env = {"PATH": "/bin:/usr/bin", "LSF_ENVDIR": os.path.join(self.root, "conf")}
        p = self.user_popen(job, self.helper("userop.py") + args, env)
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
    d = Daemon(a.root)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=d.shutdown).start())
    signal.signal(signal.SIGINT, lambda *_: threading.Thread(target=d.shutdown).start())
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    with open(os.path.join(d.work, "sbatchd.pid"), "w") as f:
        f.write("%d %d\n" % (os.getpid(), os.getsid(0)))
    d.serve()


if __name__ == "__main__":
    main()
