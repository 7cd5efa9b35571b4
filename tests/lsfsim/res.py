# SPDX-License-Identifier: GPL-2.0-or-later
"""Per-job `res` stand-in of the LSF test double.

Started by sbatchd as the job user with the job environment. It leads the
job's process group (setpgid), ignores the signals LSF sends to the group so
that only the job dies of them, runs `/bin/sh <jobfile>` as its only child
(stdin /dev/null, stdout/stderr on the spool or -o files, default signal
dispositions, fds >= 3 closed), waits for it and reports the child's RAW
wait status to sbatchd on its stdout (a pipe), one JSON object per line.
With LSFSIM_JOB_CGROUP=Y sbatchd has put it into the job's cgroup before it
reads its parameters; it checks that before forking anything.

Usage (private to sbatchd): res.py '<json parameters>'
"""

import json
import os
import shutil
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import simlib  # noqa: E402
import cgroups  # noqa: E402

IGNORED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
           signal.SIGUSR1, signal.SIGUSR2)


def open_out(path, append, direct):
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    return os.open(path, flags, 0o644 if direct else 0o600)


def main():
    p = simlib.read_params()
    report = 1
    if p.get("cgroup"):
        # sbatchd moved us into the job's cgroup before sending the parameters;
        # nothing has been forked yet, so every job process will inherit it
        cg = cgroups.proc_cgroup()
        if cg != p["cgroup"]:
            simlib.emit(report, {"event": "setup_failed",
                                 "error": "in cgroup %r, not %r" % (cg, p["cgroup"])})
            return 1
    os.setpgid(0, 0)
    for s in IGNORED:
        signal.signal(s, signal.SIG_IGN)
    env = dict(os.environ)
    env["LS_JOBPID"] = str(os.getpid())
    simlib.emit(report, {"event": "res", "pid": os.getpid(), "pgid": os.getpgrp()})
    try:
        chk = env.get("LSB_CHKPNT_DIR")
        if chk and p.get("make_chkdir"):
            try:
                os.mkdir(chk, 0o700)
            except FileExistsError:
                pass
            os.chmod(chk, 0o700)
            if p.get("copy_jobfile"):
                dst = env["LSB_CHKFILENAME"]
                shutil.copyfile(env["LSB_JOBFILENAME"], dst)
                os.chmod(dst, 0o700)
        append = p.get("direct") or p.get("spool_append")
        out = open_out(p["stdout"], append, p.get("direct"))
        err = open_out(p["stderr"], append, p.get("direct")) if p.get("stderr") else out
        # LSFSIM_JOBFILE_DIR=chkdir: job file and spool in the checkpoint
        # directory, links from the spool directory
        e = simlib.place_in_chkdir(p.get("chkdir_links", []))
        if e:
            raise OSError(e)
    except OSError as e:
        simlib.emit(report, {"event": "setup_failed", "error": str(e)})
        return 1
    jobfile = env["LSB_JOBFILENAME"]
    cwd = p.get("cwd") if p.get("cwd") and os.path.isdir(p["cwd"]) else "/"
    pid = simlib.spawn("/bin/sh", ["/bin/sh", jobfile], env, cwd=cwd,
                       fds=(None, out, err))
    os.close(out)
    if err != out:
        os.close(err)
    simlib.emit(report, {"event": "started", "shell_pid": pid})
    raw = simlib.wait_raw(pid)
    simlib.emit(report, {"event": "exited", "status": raw})
    return 0


if __name__ == "__main__":
    sys.exit(main())
