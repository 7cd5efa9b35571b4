# SPDX-License-Identifier: GPL-2.0-or-later
"""Job control in the LSF test double: bkill, bchkpnt, the checkpoint
itself (through echkpnt.py), the queue's TERMINATE action, run limits,
periodic checkpoints and POST_EXEC.

Checkpoints and TERMINATE actions of one job run one at a time, in request
order, on that job's control worker; so a `bchkpnt` made while an action
runs is carried out after the action exits (OpenLava/clone behaviour).
"""

import json
import os
import signal
import subprocess
import time

import cgroups
import simlib

RESTRICTED_PATH = "/bin:/usr/bin:/sbin:/usr/sbin"


def killpg(pgid, sig):
    if not pgid or pgid <= 1:
        return False
    try:
        os.killpg(pgid, sig)
        return True
    except OSError:
        return False


def signal_job(d, job, sig, why):
    pg = job.rec.get("pgid")
    ok = killpg(pg, sig)
    d.event("signal", job.id, signal=int(sig), name=simlib.signame(sig), pgid=pg,
            why=why, delivered=ok)
    return ok


def group_alive(job):
    return bool(simlib.pids_in_pgid(job.rec.get("pgid")))


def terminate_control(job):
    """(kind, value) of the queue's TERMINATE job control, or (None, None)."""
    jc = simlib.parse_job_controls(job.qcfg.get("JOB_CONTROLS", ""))
    t = jc.get("TERMINATE")
    if not t:
        return None, None
    if t.upper() == "CHKPNT":
        return "chkpnt", None
    sig = simlib.parse_signal(t)
    if sig is not None:
        return "signal", sig
    return "command", t


# ---------------------------------------------------------------- lifecycle

def job_started(d, job):
    now = time.time()
    cfg = job.cfg
    rec = job.rec
    spm = simlib.cfg_float(cfg, "LSFSIM_SECONDS_PER_MINUTE")
    with d.lock:
        if rec.get("runlimit_min"):
            job.rt["runlimit_s"] = rec["runlimit_min"] * spm
            job.rt["next_limit_check"] = now + simlib.cfg_float(
                cfg, "LSFSIM_LIMIT_CHECK_INTERVAL")
        if rec.get("chkpnt_dir") and rec.get("chkpnt_period_min"):
            first = rec.get("chkpnt_init_min") or rec["chkpnt_period_min"]
            job.rt["next_periodic"] = now + first * spm
        job.rt["term_seq"] = []


def worker(d, job):
    while True:
        op = job.ops.get()
        if op is None:
            return
        kind, args = op
        try:
            if kind == "chkpnt":
                do_chkpnt(d, job, **args)
            elif kind == "action":
                with d.lock:
                    job.rt["actions_queued"] = job.rt.get("actions_queued", 1) - 1
                do_action(d, job, **args)
        except Exception as e:
            import traceback
            d.log("job %d: %s failed: %s\n%s" % (job.id, kind, e, traceback.format_exc()))


def enqueue_action(d, job, reasons, subreasons, why):
    with d.lock:
        job.rt["actions_queued"] = job.rt.get("actions_queued", 0) + 1
    d.event("action_requested", job.id, why=why, reasons=reasons, subreasons=subreasons)
    job.ops.put(("action", {"reasons": reasons, "subreasons": subreasons, "why": why}))


# ---------------------------------------------------------------- checkpoint

def chklog_record(job):
    keys = ("jobid", "user", "uid", "gid", "home", "queue", "name", "command", "script",
            "cwd", "sub_env", "from_host", "submit_time", "outfile", "errfile",
            "outfile_typed", "errfile_typed", "pgid",
            "interactive", "W", "chkpnt_base", "chkpnt_period_min", "chkpnt_init_min",
            "method", "chkfile_base", "restarted_from", "original_jobid", "exec_host")
    r = {k: job.rec.get(k) for k in keys}
    r["checkpoints"] = [{"ok": True, "copy": True}]
    return r


def do_chkpnt(d, job, kill=False, force=False, stop=False, why="bchkpnt"):
    with job.cv:
        if not job.running():
            d.event("chkpnt_dropped", job.id, why=why, reason="job not running")
            return
        job.rt["chkpnt_running"] = True
    try:
        run_chkpnt(d, job, kill, force, stop, why)
    finally:
        # the job's end waits for this: never leave it set
        with job.cv:
            job.rt["chkpnt_running"] = False
            job.cv.notify_all()


def run_chkpnt(d, job, kill, force, stop, why):
    rec = job.rec
    cfg = job.cfg
    env = dict(job.env)
    env["LS_EXEC_T"] = "CHKPNT"
    keep = job.env.get("LSB_ECHKPNT_KEEP_OUTPUT") or cfg.get("LSB_ECHKPNT_KEEP_OUTPUT", "")
    mdir = job.env.get("LSB_ECHKPNT_METHOD_DIR") or cfg.get("LSB_ECHKPNT_METHOD_DIR", "")
    with d.lock:
        chklog = chklog_record(job)
    params = {"jobid": job.id, "pgid": rec["pgid"], "kill": kill, "force": force,
              "stop": stop, "method": rec.get("method") or "default", "method_dir": mdir,
              "keep": keep, "serverdir": os.path.join(d.root, "serverdir"),
              "move_tmp": simlib.truthy(cfg.get("LSFSIM_MOVE_TMP", "Y")),
              "chklog": chklog, "cwd": rec["chkpnt_base"],
              "chkdir": rec["chkpnt_dir"],
              "old_link": rec.get("restarted_from")
              if simlib.truthy(cfg.get("LSFSIM_DROP_OLD_LINK", "Y")) else None}
    d.event("chkpnt_start", job.id, kill=kill, force=force, why=why)
    rep = None
    p = None
    try:
        p = d.user_popen(job, d.helper("echkpnt.py"), env, cwd=rec["chkpnt_base"])
        out, _ = p.communicate(json.dumps(params).encode())
        for line in out.decode(errors="replace").splitlines():
            try:
                rep = json.loads(line)
            except ValueError:
                pass
    except Exception as e:
        rep = {"ok": False, "error": "cannot run echkpnt: %s" % e}
    if rep is None:
        rep = {"ok": False, "error": "generic echkpnt died (status %s)" % (
            p.returncode if p is not None else None)}
    rep.pop("event", None)
    rep.pop("jobid", None)
    d.event("method_call", job.id, **rep)
    entry = {"time": time.time(), "ok": bool(rep.get("ok")), "kill": kill, "force": force,
             "copy": bool(kill or force), "error": rep.get("error"), "why": why}
    with d.lock:
        rec["checkpoints"] = list(rec.get("checkpoints") or []) + [entry]
        if entry["ok"]:
            rec["last_chkpnt_time"] = entry["time"]
            if kill:
                job.rt["chkpnt_killed"] = True
        d.save()
        d.event("chkpnt_done", job.id, ok=entry["ok"], error=entry["error"], kill=kill)
    if entry["ok"] and kill and simlib.truthy(cfg.get("LSFSIM_KILL_AFTER_CHKPNT")):
        signal_job(d, job, signal.SIGKILL, "kill after checkpoint")


# ---------------------------------------------------------------- TERMINATE

def do_action(d, job, reasons, subreasons, why):
    if not job.running():
        d.event("action_dropped", job.id, why=why)
        return
    kind, val = terminate_control(job)
    if kind == "signal":
        signal_job(d, job, val, "TERMINATE[%s] (%s)" % (simlib.signame(val), why))
        return
    if kind == "chkpnt":
        do_chkpnt(d, job, kill=True, why="TERMINATE[CHKPNT] (%s)" % why)
        return
    if kind != "command":
        return
    rec = job.rec
    cfg = job.cfg
    restarted = bool(rec.get("restarted_from"))
    pids = simlib.pids_in_pgid(rec["pgid"])
    if restarted and simlib.knob(cfg, "LSFSIM_RESTART_JOBPIDS") == "leader":
        pids = [rec["pgid"]]  # the clone lists only the group leader
    # the clone's trailing space only on a first run (LSFSIM_JOBPGIDS_SPACE)
    space = not (restarted and simlib.knob(cfg, "LSFSIM_JOBPGIDS_SPACE") == "first-run")
    env = dict(job.env)
    env.update({"LS_EXEC_T": "JOB_CONTROLS",
                "LSB_JOBPGIDS": "%d%s" % (rec["pgid"], " " if space else ""),
                "LSB_JOBPIDS": " ".join(str(p) for p in pids),
                "LSB_SUSP_REASONS": str(reasons), "LSB_SUSP_SUBREASONS": str(subreasons)})
    argv = ["/bin/sh", "-c", val]
    cwd = rec["cwd"] if os.path.isdir(rec["cwd"]) else "/"
    with d.lock:
        job.rt["action_running"] = True
    start = time.time()
    try:
        p = d.user_popen(job, argv, env, cwd=cwd, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        raw = simlib.popen_raw(p)
    except Exception as e:
        raw = None
        d.log("job %d: TERMINATE action failed to start: %s" % (job.id, e))
    end = time.time()
    with d.lock:
        job.rt["action_running"] = False
    ok = raw == 0
    d.event("terminate_action", job.id, argv=argv, env=env, cwd=cwd, uid=job.uid,
            gid=job.gid, groups=job.groups(), stdio=["/dev/null"] * 3, status=raw,
            exit_code=os.WEXITSTATUS(raw) if raw is not None and os.WIFEXITED(raw) else None,
            start=start, end=end, why=why, action_state="DONE" if ok else "FAILED")
    with d.lock:
        rec["last_action"] = {"why": why, "status": raw, "state": "DONE" if ok else "FAILED"}
    if why == "RUNLIMIT":
        # only a job still running (a job that ended meanwhile keeps its end)
        d.set_stat(job, "SSUSP", only_if=("RUN",), susp_reasons=reasons,
                   susp_subreasons=subreasons)


# ---------------------------------------------------------------- POST_EXEC

def post_exec(d, job, status, exit_info):
    cmd = (job.qcfg or {}).get("POST_EXEC")
    if not cmd or job.env is None:
        return
    cfg = job.cfg
    as_root = simlib.truthy(cfg.get("LSFSIM_POSTEXEC_AS_ROOT"))
    env = dict(job.env)
    env.update({"LS_EXEC_T": "END", "PATH": RESTRICTED_PATH,
                "LSB_JOBEXIT_STAT": str(status if status is not None else 0)})
    if exit_info:
        env["LSB_JOBEXIT_INFO"] = exit_info
    argv = ["/bin/sh", "-c", cmd]
    start = time.time()
    try:
        p = d.user_popen(job, argv, env, cwd="/tmp", stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         as_root=as_root)
        raw = simlib.popen_raw(p)
    except Exception as e:
        raw = None
        d.log("job %d: POST_EXEC failed to start: %s" % (job.id, e))
    d.event("post_exec", job.id, argv=argv, env=env, cwd="/tmp",
            uid=0 if as_root else job.uid, gid=0 if as_root else job.gid,
            stdio=["/dev/null"] * 3, status=raw, start=start, end=time.time())
    with d.lock:
        job.rec["post_exec_status"] = raw
        d.save()


# ---------------------------------------------------------------- job cgroup

def release_cgroup(d, job):
    """rmdir the job's cgroup once it is empty. Processes that outlived the
    job keep it (event cgroup_busy); the ticker retries until they are gone,
    and `lsfsim stop` kills them. True once the directory is gone."""
    path = job.rec.get("cgroup")
    with d.lock:
        if not path or job.rt.get("cgroup_removed"):
            return True
    if cgroups.remove(path):
        with d.lock:
            if job.rt.get("cgroup_removed"):
                return True  # the ticker got there first
            job.rt["cgroup_removed"] = True
            job.rt.pop("cgroup_pending", None)
            d.event("cgroup_removed", job.id, path=path)
        return True
    with d.lock:
        first = not job.rt.get("cgroup_pending")
        job.rt["cgroup_pending"] = True
    if first:
        d.event("cgroup_busy", job.id, path=path, pids=cgroups.procs(path))
    return False


# ---------------------------------------------------------------- ticker

def tick(d):
    """Run limits, kill timers and periodic checkpoints. What is due is
    decided and recorded under the lock; signals (and the /proc reads they
    need) are sent afterwards, in order."""
    now = time.time()
    todo = []
    with d.lock:
        jobs = [j for j in d.jobs.values() if j.running()]
        kept = [j for j in d.jobs.values() if j.rt.get("cgroup_pending")]
        for job in jobs:
            rt = job.rt
            cfg = job.cfg
            if rt.get("kill_at") and now >= rt["kill_at"]:
                rt["kill_at"] = None
                todo.append((job, signal.SIGKILL, "bkill grace expired", None))
            if rt.get("runlimit_s") and now >= rt.get("next_limit_check", 0):
                rt["next_limit_check"] = now + simlib.cfg_float(cfg, "LSFSIM_LIMIT_CHECK_INTERVAL")
                if now - job.rec["start_time"] >= rt["runlimit_s"]:
                    runlimit_hit(d, job, now, todo)
            seq = rt.get("term_seq") or []
            if seq and now >= rt.get("term_next", 0):
                _, sig, why = seq[0]
                rest = seq[1:]
                rt["term_seq"] = rest
                # spacing counts from the signal actually sent (set below)
                rt["term_next"] = float("inf") if rest else 0
                todo.append((job, sig, why, rest[0][0] if rest else None))
            if rt.get("next_periodic") and now >= rt["next_periodic"]:
                spm = simlib.cfg_float(cfg, "LSFSIM_SECONDS_PER_MINUTE")
                period = job.rec.get("chkpnt_period_min")
                rt["next_periodic"] = now + period * spm if period else None
                job.ops.put(("chkpnt", {"why": "periodic"}))
    for job in kept:
        if not cgroups.populated(job.rec["cgroup"]):
            release_cgroup(d, job)
    for job, sig, why, then in todo:
        if sig == signal.SIGUSR2 or group_alive(job):
            signal_job(d, job, sig, why)
        if then is not None:
            with d.lock:
                job.rt["term_next"] = time.time() + then


def runlimit_hit(d, job, now, todo):
    """Called with the lock held; signals go into `todo`."""
    rt = job.rt
    cfg = job.cfg
    kind, _ = terminate_control(job)
    if not rt.get("limit_hit"):
        rt["limit_hit"] = True
        rt["term_reason"] = "TERM_RUNLIMIT"
        d.event("runlimit", job.id, limit_s=rt["runlimit_s"],
                run_s=now - job.rec["start_time"], action=kind is not None)
        if kind is not None:
            enqueue_action(d, job, int(cfg.get("LSFSIM_RUNLIMIT_REASONS", "131072")),
                           int(cfg.get("LSFSIM_RUNLIMIT_SUBREASONS", "1")), "RUNLIMIT")
        else:
            warn = simlib.cfg_float(cfg, "LSFSIM_RUNLIMIT_WARNING_PERIOD")
            iv = simlib.cfg_float(cfg, "JOB_TERMINATE_INTERVAL")
            rt["term_seq"] = [(warn, signal.SIGINT, "RUNLIMIT kill"),
                              (iv, signal.SIGTERM, "RUNLIMIT kill"),
                              (iv, signal.SIGKILL, "RUNLIMIT kill")]
            rt["term_next"] = float("inf")
            todo.append((job, signal.SIGUSR2, "RUNLIMIT warning", warn))
    elif kind is not None and simlib.truthy(cfg.get("LSFSIM_REISSUE_TERMINATE")):
        if not rt.get("action_running") and rt.get("actions_queued", 0) <= 0:
            enqueue_action(d, job, int(cfg.get("LSFSIM_RUNLIMIT_REASONS", "131072")),
                           int(cfg.get("LSFSIM_RUNLIMIT_SUBREASONS", "1")), "RUNLIMIT")


# ---------------------------------------------------------------- requests

def _jobs_for(d, req, uid):
    ids = req.get("jobids") or []
    if ids == ["0"] or ids == [0]:
        with d.lock:
            return [j for j in d.jobs.values() if (uid == 0 or j.uid == uid)
                    and j.rec["stat"] in ("PEND", "RUN", "SSUSP")], []
    found, errs = [], []
    for i in ids:
        job, err = d.find_job(i)
        if err:
            errs.append(err)
        else:
            found.append(job)
    return found, errs


def bkill(d, req, uid):
    jobs, errs = _jobs_for(d, req, uid)
    out = []
    sig = None
    if req.get("signal"):
        sig = simlib.parse_signal(req["signal"])
        if sig is None:
            return {"rc": 255, "err": "%s: Illegal signal value\n" % req["signal"]}
    for job in jobs:
        if not d.may_act(job, uid):
            errs.append("Job <%d>: User permission denied\n" % job.id)
            continue
        with d.lock:
            stat = job.rec["stat"]
            if stat == "PEND" and not job.rt.get("dispatching"):
                job.rt["term_reason"] = "TERM_OWNER"
                d.set_stat(job, "EXIT", end_time=time.time(), term_reason="TERM_OWNER")
                out.append("Job <%d> is being terminated\n" % job.id)
                continue
        if stat in ("DONE", "EXIT") or job.rt.get("ended"):
            errs.append("Job <%d>: Job has already finished\n" % job.id)
            continue
        if not job.running():
            errs.append("Job <%d>: Job has not started yet; try again\n" % job.id)
            continue
        if sig is not None:
            signal_job(d, job, sig, "bkill -s")
            out.append("Job <%d> is being signaled\n" % job.id)
            continue
        with d.lock:
            job.rt.setdefault("term_reason", "TERM_OWNER")
            # LSF reports a job its owner killed with LSB_JOBEXIT_INFO="SIGNAL -14
            # SIG_TERM_USER" (documented for LSF 6.2); kept even when the kill
            # request is held behind a checkpoint and then dropped because the
            # job is gone.
            job.rt["user_killed"] = True
        kind, _ = terminate_control(job)
        if kind is not None:
            cfg = job.cfg
            enqueue_action(d, job, int(cfg.get("LSFSIM_BKILL_REASONS", "2")),
                           int(cfg.get("LSFSIM_BKILL_SUBREASONS", "0")), "BKILL")
        else:
            signal_job(d, job, signal.SIGINT, "bkill")
            signal_job(d, job, signal.SIGTERM, "bkill")
            with d.lock:
                job.rt["kill_at"] = time.time() + simlib.cfg_float(job.cfg,
                                                                    "LSFSIM_BKILL_GRACE")
        out.append("Job <%d> is being terminated\n" % job.id)
    return {"rc": 255 if errs else 0, "out": "".join(out), "err": "".join(errs)}


def bchkpnt(d, req, uid):
    jobs, errs = _jobs_for(d, req, uid)
    out = []
    for job in jobs:
        if not d.may_act(job, uid):
            errs.append("Job <%d>: User permission denied\n" % job.id)
            continue
        stat = job.rec["stat"]
        if stat in ("DONE", "EXIT") or job.rt.get("ended"):
            errs.append("Job <%d>: Job has already finished\n" % job.id)
            continue
        if not job.rec.get("chkpnt_dir"):
            errs.append("Job <%d>: Job is not checkpointable\n" % job.id)
            continue
        if not job.running():
            errs.append("Job <%d>: Job has not started yet\n" % job.id)
            continue
        if req.get("p") is not None:
            p = float(req["p"])
            with d.lock:
                job.rec["chkpnt_period_min"] = p or None
                spm = simlib.cfg_float(job.cfg, "LSFSIM_SECONDS_PER_MINUTE")
                job.rt["next_periodic"] = time.time() + p * spm if p else None
                d.save()
        d.event("chkpnt_requested", job.id, kill=bool(req.get("k")), force=bool(req.get("f")),
                action_running=bool(job.rt.get("action_running")))
        job.ops.put(("chkpnt", {"kill": bool(req.get("k")), "force": bool(req.get("f"))}))
        out.append("Job <%d> is being checkpointed\n" % job.id)
    return {"rc": 255 if errs else 0, "out": "".join(out), "err": "".join(errs)}
