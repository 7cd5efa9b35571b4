# SPDX-License-Identifier: GPL-2.0-or-later
"""Generic `erestart` stand-in of the LSF test double.

Started by sbatchd as the job user for a job submitted by `brestart`, with
the new job's environment (LSB_JOBID and LSB_CHKPNT_DIR of the new job,
LSB_RESTART=Y), cwd = the base directory, fd 1 = the new job's stdout spool,
fd 2 = its stderr spool, fd LSB_STDERR_FD = a copy of the job's stderr, fd 3
= the report pipe to sbatchd. It plays res's role for the restarted job:

1. leads a new process group (that PGID is the job's) and tells sbatchd;
2. renames `<base>/<old>` to `<base>/<new>` and links `<base>/<old>` -> `<new>`;
3. takes the method from `.echkpnt`, the user command from the job file copy
   ($LSB_CHKFILENAME), and runs `erestart.<method> [-c] [-f] <base>/<new>`
   with LSB_ERESTART_USRCMD and LSB_OLD_JOBID added, stdio on /dev/null or
   erestart.out/.err (O_APPEND), fds >= 3 closed; non-zero = restart failed;
4. reads `.restart_cmd` by OpenLava's rules (first line only, leading
   blanks skipped, must start with LSB_RESTART_CMD=, blanks after '=' skipped;
   any other first line fails the restart; deleted once read; no file = run
   the original command again);
5. writes `$LSB_CHKFILENAME.restart` = the job file copy with only the first
   user-command line replaced, mode 0700, and runs it (#! /bin/sh) in
   $LS_SUBCWD with fd 2 from LSB_STDERR_FD; waits, removes it and reports
   its raw wait status as the job's.

On a failed restart the directory is renamed back and the link removed.
With LSFSIM_JOB_CGROUP=Y sbatchd has put it into the new job's cgroup before
it reads its parameters; it checks that before forking anything.
Usage (private to sbatchd): erestart.py '<json parameters>'
"""

import fcntl
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import simlib  # noqa: E402
import cgroups  # noqa: E402

REPORT = 3
STDERR_FD = 4
IGNORED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
           signal.SIGUSR1, signal.SIGUSR2)
MARK = "LSB_RESTART_CMD="


def high_fd(fd):
    new = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return new


def log(msg):
    try:
        os.write(2, ("erestart: %s\n" % msg).encode())
    except OSError:
        pass


def read_echkpnt(chkdir):
    out = {}
    try:
        with open(os.path.join(chkdir, ".echkpnt")) as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    out[k.strip()] = simlib.unquote(v)
    except FileNotFoundError:
        return None
    return out


def is_user_mark(line):
    """OpenLava isUserCmdLineMark: '#', then exactly the words
    'LSBATCH:' 'User' 'input' separated by spaces."""
    s = line.rstrip("\n")
    if not s.startswith("#"):
        return False
    return s[1:].split(" ") and [w for w in s[1:].split(" ") if w] == [
        "LSBATCH:", "User", "input"]


def user_cmd_from_jobfile(path):
    flag = False
    with open(path, errors="replace") as f:
        for line in f:
            s = line.lstrip(" ")
            if s.startswith("#"):
                flag = is_user_mark(s)
            elif s in ("", "\n"):
                continue
            elif flag:
                return s.rstrip("\n")
            else:
                flag = False
    return None


def read_restart_cmd(chkdir):
    """(1, cmd) | (0, None) no file | (-1, reason) bad content."""
    path = os.path.join(chkdir, ".restart_cmd")
    try:
        f = open(path, errors="replace")
    except FileNotFoundError:
        return 0, None
    except OSError as e:
        return -1, str(e)
    with f:
        line = f.readline()
    try:
        os.unlink(path)
    except OSError as e:
        log("cannot delete %s: %s" % (path, e))
    if not line:
        # OpenLava: an empty file reads no line and fails the restart
        return -1, "empty .restart_cmd"
    s = line.lstrip(" ")
    if not s.startswith(MARK):
        return -1, "bad first line in .restart_cmd: %r" % line
    return 1, s[len(MARK):].lstrip(" ")


def build_restart_file(jobfile, cmd, starter=None):
    """<jobfile>.restart: the job file with only its first user-command line
    replaced by `cmd` (OpenLava). With `starter` (LSFSIM_JOB_STARTER_RESTART=Y,
    the restarted job's queue's JOB_STARTER), the command is wrapped by it as
    a first run's command is."""
    new = jobfile + ".restart"
    if cmd is not None and starter:
        if simlib.USRCMD in starter:
            head, tail = starter.split(simlib.USRCMD, 1)
        else:
            head, tail = starter + " ", ""
        cmd = head + cmd.rstrip("\n") + tail
    flag = False
    with open(jobfile, errors="replace") as src, open(new, "w") as dst:
        for line in src:
            s = line.lstrip(" ")
            if s.startswith("#"):
                flag = is_user_mark(s)
            elif s in ("", "\n"):
                pass
            elif flag:
                flag = False
                if cmd is not None:
                    dst.write(cmd)
                    dst.write("\n")
                    continue
            dst.write(line)
    os.chmod(new, 0o700)
    return new


def main():
    p = simlib.read_params()
    os.setpgid(0, 0)
    for s in IGNORED:
        signal.signal(s, signal.SIG_IGN)
    # fd 1 arrives as the report pipe: move it to fd 3, then put the job's
    # stdout/stderr spool files on 1 and 2 and a copy of stderr on
    # LSB_STDERR_FD.
    os.dup2(1, REPORT)
    if p.get("cgroup"):
        # sbatchd moved us into the job's cgroup before sending the parameters;
        # nothing has been forked yet, so every job process will inherit it
        cg = cgroups.proc_cgroup()
        if cg != p["cgroup"]:
            simlib.emit(REPORT, {"event": "setup_failed",
                                 "error": "in cgroup %r, not %r" % (cg, p["cgroup"])})
            return 1
    base = p["base"]
    old, new = str(p["old_jobid"]), str(p["jobid"])
    olddir, newdir = os.path.join(base, old), os.path.join(base, new)
    renamed = False
    in_chkdir = p.get("jobfile_in_chkdir")

    def open_spool():
        """The job's stdout/stderr spool on fds 1 and 2 (and a copy of
        stderr on LSB_STDERR_FD); None or an error text."""
        append = p.get("direct") or p.get("spool_append")
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
        mode = 0o644 if p.get("direct") else 0o600
        try:
            out = high_fd(os.open(p["stdout"], flags, mode))
            err = high_fd(os.open(p["stderr"], flags, mode)) if p.get("stderr") else out
        except OSError as e:
            return str(e)
        os.dup2(out, 1)
        os.dup2(err, 2)
        os.dup2(err, STDERR_FD)
        for f in {out, err}:
            os.close(f)
        os.environ["LSB_STDERR_FD"] = str(STDERR_FD)
        return None

    # the spool in the checkpoint directory (LSFSIM_JOBFILE_DIR=chkdir) is
    # opened once the directory has its new name, below
    if not in_chkdir:
        e = open_spool()
        if e:
            simlib.emit(REPORT, {"event": "setup_failed", "error": e})
            return 1
    try:
        os.chdir(base)
    except OSError as e:
        log("cannot change to %s: %s" % (base, e))
    os.environ["LSB_RESTART_PID"] = str(os.getpid())
    # the clone gives the old job's group here (LSFSIM_RESTART_PGID=old)
    os.environ["LSB_RESTART_PGID"] = str(p.get("restart_pgid") or os.getpgrp())
    os.environ["LS_JOBPID"] = str(os.getpid())
    simlib.emit(REPORT, {"event": "res", "pid": os.getpid(), "pgid": os.getpgrp()})

    def fail(reason, code=255):
        if renamed:
            try:
                if os.path.islink(olddir):
                    os.unlink(olddir)
                os.rename(newdir, olddir)
            except OSError as e:
                log("cannot rename %s back to %s: %s" % (newdir, olddir, e))
        log("restart of job %s as job %s failed: %s" % (old, new, reason))
        simlib.emit(REPORT, {"event": "restart_failed", "reason": reason,
                             "renamed_back": renamed})
        simlib.emit(REPORT, {"event": "exited", "status": (code & 0xff) << 8})
        return code & 0xff

    try:
        os.rename(olddir, newdir)
        renamed = True
        # OpenLava links the old name to the new one (relative target); the
        # clone's link is absolute (LSFSIM_OLD_LINK)
        os.symlink(newdir if p.get("old_link_absolute") else new, olddir)
    except OSError as e:
        return fail("cannot rename %s to %s: %s" % (olddir, newdir, e))
    simlib.emit(REPORT, {"event": "renamed", "from": olddir, "to": newdir,
                         "link": os.readlink(olddir)})
    if in_chkdir:
        e = open_spool()
        if e is None:
            e = simlib.place_in_chkdir(p.get("chkdir_links", []))
        if e:
            return fail("cannot set up the job file and spool in %s: %s" % (newdir, e))
    env = dict(os.environ)

    ech = read_echkpnt(newdir)
    if ech is None:
        method, mdir, keep, oldid = "default", "", "", None
        log(".echkpnt does not exist in %s" % newdir)
    else:
        method = ech.get("LSB_ECHKPNT_METHOD") or "default"
        mdir = ech.get("LSB_ECHKPNT_METHOD_DIR", "")
        keep = ech.get("LSB_ECHKPNT_KEEP_OUTPUT", "")
        oldid = ech.get("LSB_OLD_JOBID")
    if not mdir.startswith("/"):
        mdir = env.get("LSF_SERVERDIR", "")
    path = os.path.join(mdir, "erestart." + method)
    jobfile = env.get("LSB_CHKFILENAME")
    if not jobfile:
        return fail("LSB_CHKFILENAME is not set")
    try:
        usercmd = user_cmd_from_jobfile(jobfile)
    except OSError as e:
        return fail("cannot read job file %s: %s" % (jobfile, e))
    if usercmd is None:
        return fail("no user command in job file %s" % jobfile)
    if not oldid:
        return fail("LSB_OLD_JOBID is missing from .echkpnt")
    menv = dict(env)
    menv["LSB_ERESTART_USRCMD"] = usercmd
    menv["LSB_OLD_JOBID"] = oldid
    argv = ["erestart." + method]
    if p.get("copy"):
        argv.append("-c")
    if p.get("force"):
        argv.append("-f")
    # the clone passes the directory relative to the base (LSFSIM_ERESTART_DIR)
    argv.append(new if p.get("relative_dir") else newdir)
    rec = {"event": "method_call", "kind": "erestart", "argv": argv, "path": path,
           "env": menv, "cwd": os.getcwd(), "uid": os.getuid(), "gid": os.getgid(),
           "groups": os.getgroups()}
    if keep in ("y", "Y"):
        o, e = os.path.join(newdir, "erestart.out"), os.path.join(newdir, "erestart.err")
        try:
            out = os.open(o, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            err = os.open(e, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as ex:
            return fail("cannot open keep-output files: %s" % ex)
        rec["stdio"] = ["/dev/null", o, e]
    else:
        out = err = None
        rec["stdio"] = ["/dev/null", "/dev/null", "/dev/null"]
    if not os.access(path, os.X_OK):
        rec.update(status=None, error="missing or not executable")
        simlib.emit(REPORT, rec)
        return fail("method program %s is missing or not executable" % path)
    rec["start"] = time.time()
    pid = simlib.spawn(path, argv, menv, fds=(None, out, err))
    for f in (out, err):
        if f is not None:
            os.close(f)
    raw = simlib.wait_raw(pid)
    rec.update(end=time.time(), status=raw,
               exit_code=os.WEXITSTATUS(raw) if os.WIFEXITED(raw) else None,
               term_signal=os.WTERMSIG(raw) if os.WIFSIGNALED(raw) else None)
    simlib.emit(REPORT, rec)
    if not (os.WIFEXITED(raw) and os.WEXITSTATUS(raw) == 0):
        code = os.WEXITSTATUS(raw) if os.WIFEXITED(raw) else 255
        return fail("erestart.%s failed (%s)" % (method, simlib.wait_status_str(raw)), code)

    kind, val = read_restart_cmd(newdir)
    if kind < 0:
        return fail(val)
    simlib.emit(REPORT, {"event": "restart_cmd", "found": kind == 1, "command": val})
    try:
        newfile = build_restart_file(jobfile, val, p.get("job_starter"))
    except OSError as e:
        return fail("cannot build the restart job file: %s" % e)
    jenv = dict(env)
    stderr_fd = int(env.get("LSB_STDERR_FD", "2"))
    jenv.pop("LSB_STDERR_FD", None)
    cwd = env.get("LS_SUBCWD") or "/"
    if not os.path.isdir(cwd):
        log("cannot change to %s" % cwd)
        cwd = None
    pid = simlib.spawn(newfile, [os.path.basename(newfile)], jenv, cwd=cwd,
                       fds=(None, 1, stderr_fd))
    simlib.emit(REPORT, {"event": "started", "shell_pid": pid, "jobfile": newfile})
    raw = simlib.wait_raw(pid)
    try:
        os.unlink(newfile)
    except OSError as e:
        log("cannot delete %s: %s" % (newfile, e))
    status = raw
    if p.get("exit_code_only") and raw is not None:
        # OpenLava's erestart exits with WEXITSTATUS of the job: a death by a
        # signal becomes exit 0 (LSFSIM_ERESTART_STATUS=exitcode)
        status = (os.WEXITSTATUS(raw) if os.WIFEXITED(raw) else 0) << 8
    simlib.emit(REPORT, {"event": "exited", "status": status, "real": raw})
    return 0


if __name__ == "__main__":
    sys.exit(main())
