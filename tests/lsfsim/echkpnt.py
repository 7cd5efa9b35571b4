# SPDX-License-Identifier: GPL-2.0-or-later
"""Generic `echkpnt` stand-in of the LSF test double, with the part of the
checkpoint sbatchd does as the job user.

Run by sbatchd as the job user, cwd = the base directory, environment = job
environment + LS_EXEC_T=CHKPNT. It

1. makes `<jobid>.tmp` (mode 0700) in the base directory;
2. writes `.echkpnt` in LSB_CHKPNT_DIR (method, method dir, keep-output flag);
3. runs `echkpnt.<method> [-c] [-f] [-k] [-s] -d <jobid>.tmp <PGID>` from
   LSB_ECHKPNT_METHOD_DIR (absolute) or LSF_SERVERDIR with stdio on /dev/null
   or echkpnt.out/.err (O_APPEND) in LSB_CHKPNT_DIR, fds >= 3 closed;
4. on exit 0 adds LSB_OLD_JOBID to `.echkpnt`, moves the entries of
   `<jobid>.tmp/` into LSB_CHKPNT_DIR one by one (overwriting files, failing
   on an existing subdirectory of the same name), removes the tmp directory
   and writes `chklog`; on failure removes the tmp directory.

It reports one JSON object on stdout (a pipe to sbatchd): the method call as
LSF ran it and the outcome.

Usage (private to sbatchd): echkpnt.py '<json parameters>'
"""

import json
import os
import shutil
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import simlib  # noqa: E402


def keep_output(v):
    return v in ("y", "Y")


def method_path(env, method, cfg_dir, serverdir):
    d = env.get("LSB_ECHKPNT_METHOD_DIR") or cfg_dir
    if not d or not d.startswith("/"):
        d = serverdir
    return os.path.join(d, "echkpnt." + method), d


def write_echkpnt(chkdir, method, mdir, keep, old_jobid=None):
    path = os.path.join(chkdir, ".echkpnt")
    if old_jobid is None:
        text = ('LSB_ECHKPNT_METHOD="%s"\nLSB_ECHKPNT_METHOD_DIR="%s"\n'
                'LSB_ECHKPNT_KEEP_OUTPUT="%s"\n' % (method, mdir, keep))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    else:
        text = 'LSB_OLD_JOBID="%s"\n' % old_jobid
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def move_entries(tmp, chkdir):
    """OpenLava's move: entry by entry, files overwritten, an existing
    subdirectory of the same name fails the whole checkpoint."""
    moved = []
    for name in sorted(os.listdir(tmp)):
        src = os.path.join(tmp, name)
        dst = os.path.join(chkdir, name)
        try:
            st = os.lstat(dst)
            if stat.S_ISDIR(st.st_mode):
                return moved, "cannot move %s: %s is an existing directory" % (src, dst)
        except FileNotFoundError:
            pass
        try:
            os.rename(src, dst)
        except OSError as e:
            return moved, "cannot move %s to %s: %s" % (src, dst, e)
        moved.append(name)
    return moved, None


def main():
    p = simlib.read_params()
    report = 1
    try:
        os.chdir(p["cwd"])
    except OSError as e:
        simlib.emit(report, {"event": "method_call", "kind": "echkpnt", "ok": False,
                             "jobid": p["jobid"], "error": "cannot change to %s: %s" % (p["cwd"], e)})
        return 1
    env = dict(os.environ)
    jobid = env.get("LSB_JOBID", str(p["jobid"]))
    chkdir = env.get("LSB_CHKPNT_DIR") or p["chkdir"]
    method = p["method"] or "default"
    keep = p.get("keep", "")
    res = {"event": "method_call", "kind": "echkpnt", "jobid": int(jobid)}
    tmp = "%s.tmp" % jobid
    try:
        if os.path.lexists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        os.mkdir(tmp, 0o700)
        os.chmod(tmp, 0o700)
    except OSError as e:
        res.update(ok=False, error="cannot create %s: %s" % (tmp, e))
        simlib.emit(report, res)
        return 1
    path, mdir = method_path(env, method, p.get("method_dir", ""), env.get(
        "LSF_SERVERDIR", p.get("serverdir", "")))
    argv = ["echkpnt." + method]
    if p.get("kill") or p.get("force"):
        argv.append("-c")
    if p.get("force"):
        argv.append("-f")
    if p.get("kill"):
        argv.append("-k")
    if p.get("stop"):
        argv.append("-s")
    argv += ["-d", tmp, str(p["pgid"])]
    res.update(argv=argv, path=path, env=env, cwd=os.getcwd(),
               uid=os.getuid(), gid=os.getgid(), groups=os.getgroups())
    try:
        write_echkpnt(chkdir, method, mdir, keep)
        if keep_output(keep):
            o = os.path.join(chkdir, "echkpnt.out")
            e = os.path.join(chkdir, "echkpnt.err")
            out = os.open(o, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            err = os.open(e, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            res["stdio"] = ["/dev/null", o, e]
        else:
            out = err = None
            res["stdio"] = ["/dev/null", "/dev/null", "/dev/null"]
        if not os.access(path, os.X_OK):
            raise OSError("method program %s is missing or not executable" % path)
    except OSError as ex:
        shutil.rmtree(tmp, ignore_errors=True)
        res.update(ok=False, error=str(ex), status=None)
        simlib.emit(report, res)
        return 1
    res["start"] = time.time()
    pid = simlib.spawn(path, argv, env, fds=(None, out, err))
    for f in (out, err):
        if f is not None:
            os.close(f)
    raw = simlib.wait_raw(pid)
    res.update(end=time.time(), status=raw,
               exit_code=os.WEXITSTATUS(raw) if os.WIFEXITED(raw) else None,
               term_signal=os.WTERMSIG(raw) if os.WIFSIGNALED(raw) else None)
    ok = os.WIFEXITED(raw) and os.WEXITSTATUS(raw) == 0
    error = None
    if ok:
        try:
            write_echkpnt(chkdir, method, mdir, keep, old_jobid=jobid)
        except OSError as ex:
            error = "cannot update .echkpnt: %s" % ex
        if p.get("move_tmp", True) and error is None:
            moved, error = move_entries(tmp, chkdir)
            res["moved"] = moved
        if error is None:
            try:
                fd = os.open(os.path.join(chkdir, "chklog"),
                             os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as f:
                    json.dump(p.get("chklog", {}), f, indent=1)
                    f.write("\n")
            except OSError as ex:
                error = "cannot write chklog: %s" % ex
    else:
        error = "echkpnt.%s failed (%s)" % (method, simlib.wait_status_str(raw))
    if error is None and p.get("old_link"):
        # OpenLava drops the old ID's link after the new job's next checkpoint
        link = os.path.join(os.getcwd(), str(p["old_link"]))
        try:  # a relative link, or the clone's absolute one
            if os.path.islink(link) and os.readlink(link) in (
                    jobid, os.path.join(os.getcwd(), jobid), chkdir):
                os.unlink(link)
                res["dropped_link"] = link
        except OSError:
            pass
    if not ok or p.get("move_tmp", True):
        shutil.rmtree(tmp, ignore_errors=True)
    res.update(ok=error is None, error=error)
    simlib.emit(report, res)
    return 0 if error is None else 1


if __name__ == "__main__":
    sys.exit(main())
