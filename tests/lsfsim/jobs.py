# SPDX-License-Identifier: GPL-2.0-or-later
"""Jobs of the LSF test double: submission, the job file, the job
environment, dispatch through res.py / erestart.py, the end of a job
(output delivery, DONE/EXIT, POST_EXEC), bjobs and brestart.

Job control (bkill, bchkpnt, TERMINATE actions, run limits) is in control.py.
"""

import grp
import json
import os
import pwd
import queue
import subprocess
import threading
import time
import traceback

import simlib
import cgroups
import control
from control import bkill, bchkpnt, tick, killpg  # noqa: F401 (re-exported)

ACTIVE = ("PEND", "RUN", "SSUSP")


class Guarded(dict):
    """A dict of the daemon's shared state (a job's `rec` or `rt`): every
    change must be made while holding the daemon's lock. A change without it
    is reported (the daemon logs the call site and stack), whatever the
    interleaving. Reads need no lock; whoever iterates or serialises it
    (json, dict()) must hold the lock."""
    __slots__ = ("_lock", "_report")

    def __init__(self, data, lock, report):
        super().__init__(data)
        self._lock = lock
        self._report = report

    def _check(self):
        if not self._lock._is_owned():
            self._report()

    def __setitem__(self, k, v):
        self._check()
        super().__setitem__(k, v)

    def __delitem__(self, k):
        self._check()
        super().__delitem__(k)

    def update(self, *a, **kw):
        self._check()
        super().update(*a, **kw)

    def setdefault(self, k, default=None):
        self._check()
        return super().setdefault(k, default)

    def pop(self, *a):
        self._check()
        return super().pop(*a)

    def popitem(self):
        self._check()
        return super().popitem()

    def clear(self):
        self._check()
        super().clear()


class Job:
    """A job of the daemon `d` (None for a throw-away record). With `d`, rec
    and rt are Guarded by d.lock and cv is a condition on d.lock."""

    def __init__(self, rec, d=None):
        if d is not None:
            self.rec = Guarded(rec, d.lock, d.unlocked_change)
            self.rt = Guarded({}, d.lock, d.unlocked_change)
            self.cv = threading.Condition(d.lock)
        else:
            self.rec = rec
            self.rt = {}
            self.cv = threading.Condition()
        self.ops = queue.Queue()
        self.env = None
        self.cfg = {}
        self.qcfg = {}

    @property
    def id(self):
        return self.rec["jobid"]

    @property
    def uid(self):
        return self.rec["uid"]

    @property
    def gid(self):
        return self.rec["gid"]

    def groups(self):
        try:
            return os.getgrouplist(self.rec["user"], self.gid)
        except OSError:
            return [self.gid]

    def running(self):
        return self.rec.get("stat") in ("RUN", "SSUSP") and not self.rt.get("ended")


# ---------------------------------------------------------------- submission

def resolve_queue(d, name):
    cfg = d.config()
    qname = name or (cfg.get("DEFAULT_QUEUE", "normal").split() or ["normal"])[0]
    qs = d.queues()
    return qname, qs.get(qname)


def submit(d, req, uid, restart=None):
    """bsub (and the resubmission half of brestart)."""
    try:
        pw = pwd.getpwuid(uid)
    except KeyError:
        return {"rc": 255, "err": "User unknown to LSF. Job not submitted.\n"}
    opts = req.get("opts", {})
    qname, q = resolve_queue(d, opts.get("q"))
    if q is None:
        return {"rc": 255, "err": "%s: No such queue. Job not submitted.\n" % qname}
    # run limit: bsub -W may not exceed the queue's RUNLIMIT maximum
    try:
        qdef, qmax = simlib.queue_runlimit(q)
    except ValueError:
        qdef = qmax = None
    w = opts.get("W")
    if w is not None and qmax is not None and w > qmax:
        return {"rc": 255, "err": "Cannot exceed queue's hard limit(s). Job not submitted.\n"}
    runlimit = w if w is not None else (qdef if qdef is not None else qmax)
    cwd = req.get("cwd") or pw.pw_dir
    # checkpointing: bsub -k overrides the queue's CHKPNT
    k = opts.get("k")
    base = period = init = None
    method = None
    if k:
        base, period, init, method = k.get("dir"), k.get("period"), k.get("init"), k.get("method")
    elif q.get("CHKPNT"):
        parts = q["CHKPNT"].split()
        base = parts[0]
        if len(parts) > 1:
            try:
                period = float(parts[1])
            except ValueError:
                period = None
    if base and not base.startswith("/"):
        base = os.path.normpath(os.path.join(cwd, base))
    sub_env = req.get("env") or {}
    # bsub -m / brestart -m: the candidate execution hosts
    asked = None
    if opts.get("m"):
        asked = []
        for name in opts["m"]:
            h = d.host_name(name)
            if h is None:
                return {"rc": 255, "err": "%s: Bad host name, host group name or cluster "
                        "name. Job not submitted.\n" % name}
            if h not in asked:
                asked.append(h)
    from_host = d.caller_host(req.get("peer_pid"))
    if base:
        cfg = d.config()
        method = method or sub_env.get("LSB_ECHKPNT_METHOD") or cfg.get("LSB_ECHKPNT_METHOD") or "default"
        fake = Job({"jobid": 0, "uid": uid, "gid": pw.pw_gid, "user": pw.pw_name})
        # checked on the submission host when it is one of the cluster's
        rc, _ = d.run_userop(fake, ["check-chkdir", base],
                             host=from_host if d.multi and d.host_name(from_host) else None)
        if rc != 0:
            return {"rc": 255, "err": "%s: Checkpoint directory does not exist or is not "
                    "writable by the job owner. Job not submitted.\n" % base}
    jobid = d.next_jobid()
    def subst(v):
        return v.replace("%J", str(jobid)).replace("%I", "0") if v else v
    out, err = subst(opts.get("o")), subst(opts.get("e"))
    out_typed, err_typed = subst(opts.get("o_typed")), subst(opts.get("e_typed"))
    command = req.get("command") or ""
    script = req.get("script")
    name = opts.get("J") or (command if command else script_name(script))
    rec = {
        "jobid": jobid, "user": pw.pw_name, "uid": uid, "gid": pw.pw_gid,
        "home": pw.pw_dir, "queue": qname, "name": name, "command": command,
        "script": script, "cwd": cwd, "sub_env": sub_env, "from_host": from_host,
        "outfile_typed": out_typed or out, "errfile_typed": err_typed or err,
        "asked_hosts": asked, "exec_host": None,
        "submit_time": time.time(), "stat": "PEND", "outfile": out, "errfile": err,
        "interactive": bool(opts.get("I")), "runlimit_min": runlimit,
        "W": w, "chkpnt_base": base, "chkpnt_period_min": period,
        "chkpnt_init_min": init, "method": method,
        "chkpnt_dir": os.path.join(base, str(jobid)) if base else None,
        "pgid": None, "pids": [], "exit_status": None, "exit_code": None,
        "term_signal": None, "susp_reasons": 0, "susp_subreasons": 0,
        "restarted_from": None, "start_time": None, "end_time": None,
        "checkpoints": [], "exit_info": None, "term_reason": None, "cgroup": None,
    }
    if restart:
        rec.update(restart)
    job = Job(rec, d)
    with d.lock:
        d.jobs[jobid] = job
        d.save()
        d.event("submit", jobid, user=pw.pw_name, queue=qname, command=command,
                script=script is not None, restart=restart is not None,
                restarted_from=rec.get("restarted_from"))
        d.event("state", jobid, old=None, new="PEND")
    threading.Thread(target=runner, args=(d, job), daemon=True,
                     name="job-%d" % jobid).start()
    return {"rc": 0, "out": "Job <%d> is submitted to queue <%s>.\n" % (jobid, qname),
            "jobid": jobid}


def choose_host(d, job, cfg):
    """The execution host of a job being dispatched: among the hosts of
    `bsub -m`/`brestart -m`, or all hosts, by LSFSIM_DISPATCH_POLICY:
    random (default; LSFSIM_DISPATCH_SEED makes it repeatable), roundrobin
    (hosts in turn, over all dispatches), first (always the first
    candidate), other (a restarted job goes to the candidate after the host
    of the run it restarts, cyclically; a first run to the first candidate).
    Called with the lock held."""
    rec = job.rec
    cands = rec.get("asked_hosts") or d.host_names
    if len(cands) == 1:
        return cands[0]
    policy = (cfg.get("LSFSIM_DISPATCH_POLICY") or "random").strip().lower()
    if policy == "first":
        return cands[0]
    if policy == "roundrobin":
        h = cands[d.rr % len(cands)]
        d.rr += 1
        return h
    if policy == "other":
        prev = rec.get("prev_exec_host")
        if prev in cands:
            return cands[(cands.index(prev) + 1) % len(cands)]
        return cands[0]
    if policy != "random":
        d.log("job %d: unknown LSFSIM_DISPATCH_POLICY %r, dispatching at random"
              % (job.id, policy))
    return d.rand.choice(cands)


def script_name(script):
    for line in (script or "").split("\n"):
        s = line.strip()
        if s and not s.startswith("#"):
            return s[:60]
    return "NONAME"


# ---------------------------------------------------------------- job file

def jobfile_text(job):
    rec = job.rec
    # As in OpenLava's job file: $LSB_TRAPSIGS ("trap # 15 10 12 2 1") makes the
    # job-file shell survive the signals LSF sends to the job's process group
    # (its handler is the no-op command "#"), while the user command, which
    # execs with default dispositions, gets them.
    lines = ["#! /bin/sh", "", "$LSB_TRAPSIGS",
             "# LSBATCH: job file of job %d, submitted by %s from %s" % (
                 job.id, rec["user"], rec["from_host"])]
    for k in sorted(rec["sub_env"]):
        if not simlib.NAME_RE.match(k) or k in simlib.LSF_SET_VARS:
            continue
        lines.append("%s=%s; export %s" % (k, simlib.quote(rec["sub_env"][k]), k))
    lines.append("cd %s" % simlib.quote(rec["cwd"]))
    lines.append("# LSBATCH: User input")
    if rec.get("script") is not None:
        body = rec["script"]
        body = body[:-1] if body.endswith("\n") else body
    else:
        body = rec["command"]
    lines.append(apply_job_starter((job.qcfg or {}).get("JOB_STARTER"), body))
    lines += ["# LSBATCH: End user input", "ExitStat=$?", "wait",
              "exit $ExitStat", ""]
    return "\n".join(lines)


def apply_job_starter(starter, body):
    """The queue's JOB_STARTER put into the user input as OpenLava's mbatchd
    does (instrJobStarter1): the text before %USRCMD (or the whole starter
    and a blank, without %USRCMD) goes in front of the first command line,
    the text after %USRCMD at the end of the input. Comment and blank lines
    before the first command (a script's #! and #BSUB lines) stay in front."""
    starter = (starter or "").strip()
    if not starter:
        return body
    if simlib.USRCMD in starter:
        head, tail = starter.split(simlib.USRCMD, 1)
    else:
        head, tail = starter + " ", ""
    lines = body.split("\n")
    for i, line in enumerate(lines):
        s = line.strip()
        if s and not s.startswith("#"):
            lines[i] = head + line.lstrip(" ")
            break
    else:
        return body
    return "\n".join(lines) + tail


def user_cmd_text(job):
    rec = job.rec
    return rec["script"] if rec.get("script") is not None else rec["command"] + "\n"


# ---------------------------------------------------------------- environment

def build_env(d, job, cfg):
    rec = job.rec
    env = {}
    for k, v in rec["sub_env"].items():
        if k in simlib.LSF_SET_VARS:
            continue
        env[k] = v
    env["HOME"] = rec["home"]
    env["USER"] = rec["user"]
    env["LOGNAME"] = rec["user"]
    env.setdefault("PATH", "/bin:/usr/bin")
    if rec.get("interactive") and rec["sub_env"].get("TERM"):
        env["TERM"] = rec["sub_env"]["TERM"]
    try:
        group = grp.getgrgid(rec["gid"]).gr_name
    except KeyError:
        group = str(rec["gid"])
    env.update({
        "LSB_JOBID": str(job.id), "LSB_JOBINDEX": "0", "LSB_QUEUE": rec["queue"],
        "LSB_JOBNAME": rec["name"], "LSB_HOSTS": rec["exec_host"],
        "LSB_MCPU_HOSTS": "%s 1" % rec["exec_host"], "LSB_SUB_HOST": rec["from_host"],
        "HOSTNAME": rec["exec_host"],
        "LSB_UNIXGROUP": group, "LSB_TRAPSIGS": "trap # 15 10 12 2 1",
        "LSB_JOBFILENAME": rec["jobfile"], "LSB_CHKFILENAME": rec["chkfile"],
        "LS_SUBCWD": rec["cwd"], "LSB_EXEC_CLUSTER": simlib.CLUSTER,
        "LSF_ENVDIR": os.path.join(d.root, "conf"),
        "LSF_SERVERDIR": os.path.join(d.root, "serverdir"),
        "LSF_BINDIR": os.path.join(d.root, "bin"),
        "LSF_LIBDIR": os.path.join(d.root, "lib"),
    })
    # the clone passes -o/-e as typed, relative to LS_SUBCWD (LSFSIM_OUTPUTFILE_ENV)
    typed = simlib.knob(cfg, "LSFSIM_OUTPUTFILE_ENV") == "typed"
    if rec.get("outfile") and not simlib.truthy(cfg.get("LSFSIM_DROP_OUTPUTFILE")):
        env["LSB_OUTPUTFILE"] = rec.get("outfile_typed") if typed and rec.get(
            "outfile_typed") else rec["outfile"]
    if rec.get("errfile"):
        env["LSB_ERRORFILE"] = rec.get("errfile_typed") if typed and rec.get(
            "errfile_typed") else rec["errfile"]
    if rec.get("chkpnt_dir"):
        env["LSB_CHKPNT_DIR"] = rec["chkpnt_dir"]
        env["LSB_CHKPNT_PERIOD"] = str(int((rec.get("chkpnt_period_min") or 0) * 60))
        if simlib.truthy(cfg.get("LSFSIM_DROP_ECHKPNT_METHOD")):
            env.pop("LSB_ECHKPNT_METHOD", None)
        else:
            env["LSB_ECHKPNT_METHOD"] = rec["method"]
    if rec.get("interactive"):
        env["LSB_INTERACTIVE"] = "Y"
    if (job.qcfg or {}).get("JOB_STARTER", "").strip():
        env["LSB_JOB_STARTER"] = job.qcfg["JOB_STARTER"].strip()  # as OpenLava's sbatchd
    if rec.get("restarted_from"):
        env["LSB_RESTART"] = "Y"
    return env


# ---------------------------------------------------------------- dispatch

def prepare(d, job, cfg):
    """Spool directory, job file, spool names; returns the helper params.

    LSFSIM_JOBFILE_DIR=chkdir (checkpointable jobs): the job file and the
    spool live in the checkpoint directory, with links from the spool
    directory (the double's ~/.lsbatch); the job's helper moves them there.
    LSFSIM_RESTART_JOBFILE=original (checkpointable jobs): a restarted job
    keeps the original job file name and reuses the original spool file,
    which is opened in append mode and never removed (first run included)."""
    rec = job.rec
    upd = {}
    spool = os.path.join(d.root, "spool", rec["user"])
    if not os.path.isdir(spool):
        os.makedirs(spool, exist_ok=True)
    os.chown(spool, job.uid, job.gid)
    os.chmod(spool, 0o700)
    ckpt = bool(rec.get("chkpnt_dir"))
    restarted = bool(rec.get("restarted_from"))
    in_chkdir = ckpt and simlib.knob(cfg, "LSFSIM_JOBFILE_DIR") == "chkdir"
    original = ckpt and simlib.knob(cfg, "LSFSIM_RESTART_JOBFILE") == "original"
    if original and restarted and rec.get("chkfile_base"):
        name = rec["chkfile_base"]
        spool_id = rec.get("original_jobid") or rec["restarted_from"]
    else:
        name = "%d.%d" % (int(rec["submit_time"]), job.id)
        spool_id = job.id
    jf = os.path.join(spool, name)
    if os.path.islink(jf):  # a link left by an earlier run of the chain
        os.unlink(jf)
    fd = os.open(jf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o700)
    with os.fdopen(fd, "w") as f:
        f.write(jobfile_text(job))
    os.chown(jf, job.uid, job.gid)
    os.chmod(jf, 0o700)
    upd["jobfile"] = jf
    if restarted:
        upd["chkfile"] = os.path.join(rec["chkpnt_dir"], rec["chkfile_base"])
    elif ckpt:
        upd["chkfile_base"] = name
        upd["chkfile"] = os.path.join(rec["chkpnt_dir"], name)
    else:
        upd["chkfile"] = jf
    direct = simlib.truthy(cfg.get("LSB_STDOUT_DIRECT")) and bool(rec.get("outfile"))
    upd["direct"] = direct
    links = []
    if in_chkdir:
        links.append((os.path.join(rec["chkpnt_dir"], name), jf))
    if direct:
        out = rec["outfile"]
        if os.path.isdir(out):
            out = os.path.join(out, "%d.out" % job.id)
        err = rec.get("errfile")
        if err and os.path.isdir(err):
            err = os.path.join(err, "%d.err" % job.id)
    elif in_chkdir:
        out = os.path.join(rec["chkpnt_dir"], name + ".out")
        links.append((out, os.path.join(spool, name + ".out")))
        err = None
        if rec.get("errfile"):
            err = os.path.join(rec["chkpnt_dir"], name + ".err")
            links.append((err, os.path.join(spool, name + ".err")))
    else:
        out = os.path.join(spool, "%d.out" % spool_id)
        err = os.path.join(spool, "%d.err" % spool_id) if rec.get("errfile") else None
    upd["spool_out"], upd["spool_err"] = out, err
    upd["spool_links"] = [link for _, link in links[1 if in_chkdir else 0:]]
    upd["spool_kept"] = original and not direct
    with d.lock:
        rec.update(upd)
    return {"jobid": job.id, "stdout": out, "stderr": err, "direct": direct,
            "cwd": rec["cwd"], "spool_append": original and not direct,
            "jobfile_in_chkdir": in_chkdir, "chkdir_links": links}


class NotDispatched(Exception):
    """The job left PEND before its dispatch (bkill) or the daemon stops."""


def runner(d, job):
    """The job's thread: dispatch, follow the helper's reports, then finish
    the job. Whatever goes wrong in here is logged and the job still ends
    exactly once, with its output delivered and its POST_EXEC run."""
    reason = None
    try:
        raw, reason = run_job(d, job)
    except NotDispatched:
        return
    except Exception as e:  # a bug of the double: never lose the job silently
        d.log("job %d: internal error: %s\n%s" % (job.id, e, traceback.format_exc()))
        raw, reason = None, "lsfsim internal error: %s" % e
        proc = getattr(job, "proc", None)
        if proc is not None and proc.poll() is None:
            control.killpg(job.rec.get("pgid"), 9)
            proc.kill()
            proc.wait()
    with job.cv:
        job.rt["ended"] = True
        job.cv.notify_all()
    finish(d, job, raw, reason=reason)


def run_job(d, job):
    """Dispatch the job and wait for its top process; returns (raw wait
    status or None, reason or None)."""
    rec = job.rec
    cfg = d.config()
    delay = simlib.cfg_float(cfg, "LSFSIM_RESTART_DISPATCH_DELAY" if rec.get(
        "restarted_from") else "LSFSIM_DISPATCH_DELAY")
    if delay > 0:
        time.sleep(delay)
    with d.lock:
        if rec["stat"] != "PEND" or d.stopping:
            raise NotDispatched()
        job.rt["dispatching"] = True
        cfg = d.config()
        job.cfg = cfg
        job.qcfg = d.queues().get(rec["queue"], {})
        rec["exec_host"] = choose_host(d, job, cfg)
    try:
        params = prepare(d, job, cfg)
        job.env = build_env(d, job, cfg)
        if rec.get("restarted_from"):
            params.update(base=rec["chkpnt_base"], old_jobid=rec["restarted_from"],
                          copy=rec.get("restart_copy"), force=rec.get("restart_force"),
                          relative_dir=simlib.knob(cfg, "LSFSIM_ERESTART_DIR") == "relative",
                          old_link_absolute=simlib.knob(cfg, "LSFSIM_OLD_LINK") == "absolute",
                          exit_code_only=simlib.knob(cfg, "LSFSIM_ERESTART_STATUS") == "exitcode",
                          restart_pgid=rec.get("restart_old_pgid")
                          if simlib.knob(cfg, "LSFSIM_RESTART_PGID") == "old" else None,
                          job_starter=job.qcfg.get("JOB_STARTER", "").strip()
                          if simlib.truthy(cfg.get("LSFSIM_JOB_STARTER_RESTART")) else None)
            helper = "erestart.py"
            cwd = rec["chkpnt_base"]
        else:
            params.update(make_chkdir=bool(rec.get("chkpnt_dir")),
                          copy_jobfile=bool(rec.get("chkpnt_dir"))
                          and not params["jobfile_in_chkdir"])
            helper = "res.py"
            cwd = rec["cwd"]
        if simlib.truthy(cfg.get("LSFSIM_JOB_CGROUP")):
            cg = cgroups.create_job(d.root, job.id)
            with d.lock:
                rec["cgroup"] = cg
        proc = d.user_popen(job, d.helper(helper), job.env, cwd=cwd)
    except Exception as e:
        d.log("job %d: dispatch failed: %s" % (job.id, e))
        return None, "dispatch failed: %s" % e
    job.proc = proc
    if rec.get("cgroup"):
        # The helper blocks reading its parameters (stdin until EOF) before it
        # does anything else, forks included: they are the "go" signal. So it
        # is in the job's cgroup before any job process exists.
        try:
            cgroups.enter(rec["cgroup"], proc.pid)
            params["cgroup"] = cgroups.rel(rec["cgroup"])
        except OSError as e:
            d.log("job %d: cannot move pid %d into %s: %s" % (job.id, proc.pid,
                                                             rec["cgroup"], e))
            proc.kill()
            proc.stdin.close()
            proc.stdout.close()
            proc.wait()
            return None, "dispatch failed: cgroup: %s" % e
        d.event("cgroup", job.id, path=rec["cgroup"], pid=proc.pid)
    try:
        proc.stdin.write(json.dumps(params).encode())
        proc.stdin.close()
    except OSError:
        pass
    raw = real = None
    for line in proc.stdout:
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        kind = ev.pop("event", None)
        if kind == "res":
            now = time.time()
            with d.lock:
                # every later context starts from the job's environment, which
                # has the res (or erestart) stand-in's PID (a new dict: other
                # threads copy the old one without the lock)
                job.env = dict(job.env, LS_JOBPID=str(ev["pid"]))
                d.set_stat(job, "RUN", start_time=now, pgid=ev["pgid"], res_pid=ev["pid"],
                           exec_host=rec["exec_host"])
                control.job_started(d, job)
            threading.Thread(target=control.worker, args=(d, job), daemon=True,
                             name="ctl-%d" % job.id).start()
        elif kind == "started":
            with d.lock:
                rec["shell_pid"] = ev.get("shell_pid")
        elif kind == "exited":
            raw = ev.get("status")
            if ev.get("real") is not None and ev["real"] != raw:
                real = ev["real"]  # what the restarted job really returned
        elif kind == "method_call":
            d.event("method_call", job.id, **ev)
        else:
            d.event(kind or "res_report", job.id, **ev)
    proc.stdout.close()
    rc = proc.wait()
    if raw is None:
        raw = (-rc) if rc < 0 else (rc & 0xff) << 8
    left = simlib.pids_in_pgid(rec.get("pgid"))
    if left:
        # processes that outlived the job's top process (e.g. a detached restore)
        d.event("orphans", job.id, pgid=rec.get("pgid"), pids=left)
        if simlib.truthy(job.cfg.get("LSFSIM_KILL_ORPHANS_AT_END")):
            control.killpg(rec.get("pgid"), 9)
    try:
        with open(os.path.join(d.work, "jobs", "%d.status" % job.id), "w") as f:
            f.write("%d\n" % raw)
    except OSError:
        pass
    if real is not None:
        with d.lock:
            job.rt["real_status"] = real
    return raw, None


# ---------------------------------------------------------------- job end

def fmt_time(t):
    return time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(t or time.time()))


def report_header(job, stat, status, end):
    rec = job.rec
    verdict = "Done" if stat == "DONE" else "Exited"
    if stat == "DONE":
        result = "Successfully completed."
    elif status is not None and os.WIFSIGNALED(status):
        result = "Exited with signal termination: %s." % simlib.signame(os.WTERMSIG(status))
    elif status is not None:
        result = "Exited with exit code %d." % os.WEXITSTATUS(status)
    else:
        result = "Exited."
    start = rec.get("start_time") or end
    lines = [
        "Sender: LSF System <lsfadmin@%s>" % rec.get("exec_host"),
        "Subject: Job %d: <%s> in cluster <%s> %s" % (job.id, rec["name"], simlib.CLUSTER, verdict),
        "",
        "Job <%s> was submitted from host <%s> by user <%s> in cluster <%s> at %s" % (
            rec["name"], rec["from_host"], rec["user"], simlib.CLUSTER, fmt_time(rec["submit_time"])),
        "Job was executed on host(s) <%s>, in queue <%s>, as user <%s> in cluster <%s> at %s" % (
            rec.get("exec_host"), rec["queue"], rec["user"], simlib.CLUSTER, fmt_time(start)),
        "<%s> was used as the home directory." % rec["home"],
        "<%s> was used as the working directory." % rec["cwd"],
        "Started at %s" % fmt_time(start),
        "Terminated at %s" % fmt_time(end),
        "Results reported at %s" % fmt_time(end),
        "", "Your job looked like:", "",
        "-" * 60,
        "# LSBATCH: User input",
    ]
    body = user_cmd_text(job)
    text = "\n".join(lines) + "\n" + body + ("" if body.endswith("\n") else "\n")
    text += "-" * 60 + "\n\n" + result + "\n\n"
    text += "Resource usage summary:\n\n"
    text += "    Run time :%47d sec.\n" % int(end - start)
    text += "    Turnaround time :%40d sec.\n\n" % int(end - rec["submit_time"])
    text += "The output (if any) follows:\n\n"
    if rec.get("errfile"):
        trailer = "\n\nPS:\n\nRead file <%s> for stderr output of this job.\n\n" % rec["errfile"]
    else:
        trailer = ""
    return text, trailer


def deliver_output(d, job, stat, status, end):
    rec = job.rec
    report = simlib.truthy(job.cfg.get("LSFSIM_JOB_REPORT", "Y"))
    header, trailer = report_header(job, stat, status, end) if report else ("", "")
    if not rec.get("outfile") and not rec.get("errfile"):
        return
    if rec.get("direct"):
        if report and rec.get("outfile"):
            p = {"jobid": job.id, "dest": rec["spool_out"], "header": "\n" + header + trailer}
            d.run_userop(job, ["deliver"], p)
        return
    if rec.get("outfile"):
        p = {"jobid": job.id, "dest": rec["outfile"], "header": header, "trailer": trailer,
             "spool": rec["spool_out"], "remove_spool": not rec.get("spool_kept"),
             "links": [x for x in rec.get("spool_links") or [] if x.endswith(".out")]}
        rc, out = d.run_userop(job, ["deliver"], p)
        if rc != 0:
            d.log("job %d: output stays in %s" % (job.id, rec["spool_out"]))
        else:
            with d.lock:
                rec["outfile_written"] = out.strip()
    if rec.get("errfile") and rec.get("spool_err"):
        p = {"jobid": job.id, "dest": rec["errfile"], "suffix": "err",
             "spool": rec["spool_err"], "remove_spool": not rec.get("spool_kept"),
             "links": [x for x in rec.get("spool_links") or [] if x.endswith(".err")]}
        d.run_userop(job, ["deliver"], p)


def finish(d, job, raw, reason=None):
    """The end of a job, exactly once: output, job file, cgroup, DONE/EXIT
    and POST_EXEC. A failing step is logged and never skips the others."""
    rec = job.rec
    with job.cv:
        if job.rt.get("finishing"):
            d.log("job %d: finish called twice" % job.id)
            return
        job.rt["finishing"] = True
        while job.rt.get("chkpnt_running"):
            job.cv.wait(1.0)
        chkpnt_killed = job.rt.get("chkpnt_killed")
        term_reason = job.rt.get("term_reason")
        user_killed = job.rt.get("user_killed")
    cfg = job.cfg or d.config()
    end = time.time()
    fields = {"end_time": end, "real_status": job.rt.get("real_status", raw)}
    if chkpnt_killed:
        fields["term_reason"] = "TERM_CHKPNT"
        if cfg.get("LSFSIM_CHKPNT_EXIT", "DONE").upper() == "SIG_CHKPNT":
            stat, status = "EXIT", raw
            fields["exit_info"] = "SIGNAL -1 SIG_CHKPNT"
        else:
            stat, status = "DONE", 0
    else:
        stat = "DONE" if raw == 0 else "EXIT"
        status = raw
        if term_reason:
            fields["term_reason"] = term_reason
    if user_killed:
        fields["exit_info"] = "SIGNAL -14 SIG_TERM_USER"
    if not simlib.truthy(cfg.get("LSFSIM_JOBEXIT_INFO", "Y")):
        fields.pop("exit_info", None)  # the clone never set LSB_JOBEXIT_INFO
    if reason:
        fields["exit_reason"] = reason
    fields["exit_status"] = status
    if status is not None:
        if os.WIFSIGNALED(status):
            fields["term_signal"] = os.WTERMSIG(status)
            fields["exit_code"] = 128 + os.WTERMSIG(status)
        else:
            fields["exit_code"] = os.WEXITSTATUS(status)

    def step(what, fn, *args, **kw):
        try:
            fn(*args, **kw)
        except Exception as e:
            d.log("job %d: %s failed: %s\n%s" % (job.id, what, e, traceback.format_exc()))

    step("output delivery", deliver_output, d, job, stat, status, end)
    if rec.get("jobfile") and not simlib.truthy(cfg.get("LSFSIM_KEEP_JOBFILE")):
        try:
            os.unlink(rec["jobfile"])
        except OSError:
            pass
    step("cgroup release", control.release_cgroup, d, job)
    include = simlib.truthy(cfg.get("JOB_INCLUDE_POSTPROC"))
    if include:
        step("POST_EXEC", control.post_exec, d, job, status, fields.get("exit_info"))
    step("end state", d.set_stat, job, stat, **fields)
    if not include:
        step("POST_EXEC", control.post_exec, d, job, status, fields.get("exit_info"))
    job.ops.put(None)
    with job.cv:
        job.rt["finished"] = True
        job.cv.notify_all()


# ---------------------------------------------------------------- brestart

def restart_request(d, req, uid):
    base = req.get("base") or ""
    try:
        old = int(str(req.get("jobid")).strip())
    except ValueError:
        return {"rc": 255, "err": "%s: Illegal job ID.\n" % req.get("jobid")}
    olddir = os.path.join(base, str(old))
    with d.lock:
        job = d.jobs.get(old)
        src = json.loads(json.dumps(job.rec)) if job is not None else None
    def chklog():
        """The chklog in <base>/<old> if it belongs to its job's owner."""
        try:
            st = os.stat(os.path.join(olddir, "chklog"))
            with open(os.path.join(olddir, "chklog")) as f:
                rec = json.load(f)
            return rec if st.st_uid == rec.get("uid") else None
        except (OSError, ValueError):
            return None
    if job is not None:
        ok = any(c.get("ok") for c in src.get("checkpoints", []))
        if not ok and src.get("restarted_from") and chklog() is not None and \
                simlib.truthy(d.config().get("LSFSIM_BRESTART_UNCHECKPOINTED", "N")):
            # a restarted job that ended before a checkpoint of its own (its
            # restore failed, say): its directory still holds the chain's
            # last checkpoint and chklog, which is what OpenLava's brestart
            # reads, so it can be restarted again (a switch: LSF 10.1
            # documents "only a successfully checkpointed job can be restarted")
            ok = True
            src["checkpoints"] = [{"ok": True, "copy": True}]
    else:
        src = chklog()
        ok = src is not None
    if not src or not ok:
        return {"rc": 255, "err": "Job <%d>: Job has not been checkpointed successfully. "
                "Job not submitted.\n" % old}
    if uid != 0 and uid != src.get("uid"):
        return {"rc": 255, "err": "Job <%d>: User permission denied. Job not submitted.\n" % old}
    if os.path.islink(olddir) or not os.path.isdir(olddir):
        return {"rc": 255, "err": "%s: No checkpoint directory for job <%d> (already "
                "restarted?). Job not submitted.\n" % (olddir, old)}
    last = [c for c in src.get("checkpoints", []) if c.get("ok")]
    opts = dict(req.get("opts") or {})
    sub = {"op": "bsub", "cwd": src["cwd"], "env": src["sub_env"],
           "command": src["command"], "script": src.get("script"),
           "peer_pid": req.get("peer_pid"),
           "opts": {"q": opts.get("q") or src["queue"], "W": opts.get("W"), "m": opts.get("m"),
                    "o": src.get("outfile"), "e": src.get("errfile"),
                    "o_typed": src.get("outfile_typed"), "e_typed": src.get("errfile_typed"),
                    "J": src.get("name"), "I": src.get("interactive"),
                    "k": {"dir": base, "period": src.get("chkpnt_period_min"),
                          "init": src.get("chkpnt_init_min"), "method": src.get("method")}}}
    restart = {"restarted_from": old, "chkfile_base": src.get("chkfile_base"),
               "restart_force": bool(opts.get("f")),
               "restart_copy": bool(last and last[-1].get("copy")),
               "original_jobid": src.get("original_jobid") or old,
               "prev_exec_host": src.get("exec_host"),
               "restart_old_pgid": src.get("pgid")}
    return submit(d, sub, src["uid"], restart=restart)


# ---------------------------------------------------------------- bjobs

PUBLIC = ("jobid", "user", "stat", "queue", "name", "pgid", "pids", "exit_status",
          "exit_code", "term_signal", "susp_reasons", "susp_subreasons", "chkpnt_dir",
          "restarted_from", "start_time", "end_time", "outfile", "errfile", "command",
          "cwd", "submit_time", "from_host", "exec_host", "res_pid", "shell_pid",
          "runlimit_min", "method", "chkpnt_period_min", "jobfile", "chkfile",
          "spool_out", "spool_err", "checkpoints", "last_chkpnt_time", "exit_info",
          "term_reason", "real_status", "post_exec_status", "last_action", "interactive",
          "original_jobid", "cgroup", "asked_hosts")


def public_record(job):
    """A copy of the public fields (call with the daemon's lock held); the
    live PIDs are filled in by bjobs after the lock is released."""
    rec = job.rec
    r = json.loads(json.dumps({k: rec.get(k) for k in PUBLIC}))
    r["exec_host"] = rec.get("exec_host") if rec.get("start_time") else None
    r["pids"] = None if job.running() else []
    return r


def fmt_submit(t):
    return time.strftime("%b %d %H:%M", time.localtime(t))


def bjobs(d, req, uid):
    ids = req.get("jobids") or []
    user = req.get("user")
    errs = []
    with d.lock:
        if ids:
            sel = []
            for i in ids:
                job, err = d.find_job(i)
                if err:
                    errs.append("Job <%s> is not found\n" % i)
                else:
                    sel.append(job)
        else:
            sel = []
            for job in sorted(d.jobs.values(), key=lambda j: j.id):
                if user == "all" or (user is None and uid == 0):
                    pass
                elif user is not None:
                    if job.rec["user"] != user:
                        continue
                elif job.uid != uid:
                    continue
                if not req.get("all") and job.rec["stat"] not in ACTIVE:
                    continue
                sel.append(job)
        recs = [public_record(j) for j in sel]
    for r in recs:  # /proc is read without holding the lock
        if r["pids"] is None:
            r["pids"] = simlib.pids_in_pgid(r.get("pgid"))
    if req.get("json"):
        return {"rc": 255 if errs else 0, "out": json.dumps(recs, indent=1) + "\n",
                "err": "".join(errs)}
    if not recs:
        if not errs:
            errs.append("No %sjob found\n" % ("" if req.get("all") else "unfinished "))
        return {"rc": 255, "out": "", "err": "".join(errs)}
    if req.get("long"):
        out = "".join(long_format(r) for r in recs)
    else:
        out = "%-7s %-7s %-5s %-10s %-11s %-11s %-10s %s\n" % (
            "JOBID", "USER", "STAT", "QUEUE", "FROM_HOST", "EXEC_HOST", "JOB_NAME", "SUBMIT_TIME")
        for r in recs:
            out += "%-7d %-7s %-5s %-10s %-11s %-11s %-10s %s\n" % (
                r["jobid"], r["user"], r["stat"], r["queue"], r["from_host"],
                r["exec_host"] or "", (r["name"] or "")[:10], fmt_submit(r["submit_time"]))
    return {"rc": 255 if errs else 0, "out": out, "err": "".join(errs)}


def long_format(r):
    lines = ["", "Job <%d>, Job Name <%s>, User <%s>, Queue <%s>, Status <%s>, Command <%s>" % (
        r["jobid"], r["name"], r["user"], r["queue"], r["stat"],
        r["command"] or "(script)")]
    lines.append("%s: Submitted from host <%s>, CWD <%s>%s%s;" % (
        fmt_time(r["submit_time"]), r["from_host"], r["cwd"],
        ", Output File <%s>" % r["outfile"] if r["outfile"] else "",
        ", Checkpoint directory <%s>" % r["chkpnt_dir"] if r["chkpnt_dir"] else ""))
    if r["runlimit_min"]:
        lines.append(" RUNLIMIT\n %.1f min" % r["runlimit_min"])
    if r["start_time"]:
        lines.append("%s: Started on <%s>, Execution Home <%s>, Execution CWD <%s>;" % (
            fmt_time(r["start_time"]), r["exec_host"], "", r["cwd"]))
    if r["pgid"]:
        lines.append(" PGID: %s; PIDs: %s" % (r["pgid"], " ".join(str(p) for p in r["pids"])))
    if r["restarted_from"]:
        lines.append(" Restarted from job <%s>" % r["restarted_from"])
    if r["stat"] == "SSUSP":
        lines.append(" SUSPENDING REASONS: %s/%s" % (r["susp_reasons"], r["susp_subreasons"]))
    if r["end_time"]:
        if r["stat"] == "DONE":
            lines.append("%s: Done successfully." % fmt_time(r["end_time"]))
        else:
            lines.append("%s: Exited with exit code %s." % (fmt_time(r["end_time"]),
                                                          r["exit_code"]))
    return "\n".join(lines) + "\n"
