# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared helpers of the LSF test double (lsfsim).

Configuration parsing (lsf.conf, lsb.params, lsb.queues), the knob table, the
client side of the daemon protocol, shell quoting and /proc helpers. Standard
library only; run with /usr/bin/python3 -I.
"""

import json
import os
import re
import shlex
import socket

# Every knob of the double with its default. See README.md for what each one
# reproduces and whether it is documented LSF behaviour or the double's choice.
KNOBS = {
    "DEFAULT_QUEUE": "normal",
    "JOB_TERMINATE_INTERVAL": "10",
    "JOB_INCLUDE_POSTPROC": "N",
    "LSB_STDOUT_DIRECT": "N",
    "LSB_ECHKPNT_KEEP_OUTPUT": "",
    "LSB_ECHKPNT_METHOD": "",
    "LSB_ECHKPNT_METHOD_DIR": "",
    "LSFSIM_SECONDS_PER_MINUTE": "60",
    "LSFSIM_LIMIT_CHECK_INTERVAL": "7",
    "LSFSIM_RUNLIMIT_WARNING_PERIOD": "600",
    "LSFSIM_BKILL_GRACE": "20",
    "LSFSIM_DISPATCH_DELAY": "0",
    "LSFSIM_RESTART_DISPATCH_DELAY": "0.5",
    "LSFSIM_REISSUE_TERMINATE": "N",
    "LSFSIM_KILL_AFTER_CHKPNT": "N",
    "LSFSIM_CHKPNT_EXIT": "DONE",
    "LSFSIM_KEEP_JOBFILE": "N",
    "LSFSIM_DROP_ECHKPNT_METHOD": "N",
    "LSFSIM_DROP_OUTPUTFILE": "N",
    "LSFSIM_RUNLIMIT_REASONS": "131072",
    "LSFSIM_RUNLIMIT_SUBREASONS": "1",
    "LSFSIM_BKILL_REASONS": "2",
    "LSFSIM_BKILL_SUBREASONS": "0",
    "LSFSIM_POSTEXEC_AS_ROOT": "N",
    "LSFSIM_JOB_REPORT": "Y",
    "LSFSIM_MOVE_TMP": "Y",
    "LSFSIM_DROP_OLD_LINK": "Y",
    "LSFSIM_BRESTART_UNCHECKPOINTED": "N",
    "LSFSIM_KILL_ORPHANS_AT_END": "N",
    "LSFSIM_JOB_CGROUP": "N",
    "LSFSIM_JOB_CGROUP_VERSION": "2",  # 1: cgroup v1 hierarchies (cgroups.py)
    "LSFSIM_SWITCH_INTERVAL": "0",
    "LSFSIM_HOSTS": "",
    "LSFSIM_HOST_LOCAL": "",
    "LSFSIM_DISPATCH_POLICY": "random",
    "LSFSIM_DISPATCH_SEED": "",
    # the contract as observed on an OpenLava-derived scheduler (LSFSIM_FLAVOUR)
    "LSFSIM_FLAVOUR": "lsf",
    "LSFSIM_ERESTART_DIR": "absolute",
    "LSFSIM_OLD_LINK": "relative",
    "LSFSIM_JOBFILE_DIR": "spool",
    "LSFSIM_RESTART_JOBFILE": "new",
    "LSFSIM_OUTPUTFILE_ENV": "absolute",
    "LSFSIM_JOBPGIDS_SPACE": "always",
    "LSFSIM_RESTART_JOBPIDS": "all",
    "LSFSIM_JOBEXIT_INFO": "Y",
    "LSFSIM_ERESTART_STATUS": "raw",
    "LSFSIM_RESTART_PGID": "new",
    "LSFSIM_JOB_STARTER_RESTART": "N",
}

# LSFSIM_FLAVOUR = clone: every behaviour observed on the OpenLava-derived
# scheduler at once (a knob set explicitly still wins).
CLONE_FLAVOUR = {
    "LSFSIM_ERESTART_DIR": "relative",
    "LSFSIM_OLD_LINK": "absolute",
    "LSFSIM_JOBFILE_DIR": "chkdir",
    "LSFSIM_RESTART_JOBFILE": "original",
    "LSFSIM_OUTPUTFILE_ENV": "typed",
    "LSFSIM_JOBPGIDS_SPACE": "first-run",
    "LSFSIM_RESTART_JOBPIDS": "leader",
    "LSFSIM_JOBEXIT_INFO": "N",
    "LSFSIM_ERESTART_STATUS": "exitcode",
    "LSFSIM_RESTART_PGID": "old",
    "LSFSIM_DROP_ECHKPNT_METHOD": "Y",
}

CLUSTER = "lsfsim"
USRCMD = "%USRCMD"  # where a JOB_STARTER puts the user's command

# Variables LSF sets itself in the job environment; the submitter's values of
# these never reach the job (together with HOME, PWD, USER, TERM, TERMCAP).
LSF_SET_VARS = {
    "LSB_JOBID", "LSB_JOBINDEX", "LSB_QUEUE", "LSB_JOBNAME", "LSB_HOSTS",
    "LSB_MCPU_HOSTS", "LSB_SUB_HOST", "LSB_UNIXGROUP", "LSB_TRAPSIGS",
    "LSB_JOBFILENAME", "LSB_CHKFILENAME", "LSB_OUTPUTFILE", "LSB_ERRORFILE",
    "LS_JOBPID", "LS_SUBCWD", "LSF_ENVDIR", "LSF_SERVERDIR", "LSF_BINDIR",
    "LSF_LIBDIR", "LSB_CHKPNT_DIR", "LSB_CHKPNT_PERIOD", "LSB_INTERACTIVE",
    "LSB_RESTART", "LSB_RESTART_PID", "LSB_RESTART_PGID", "LSB_OLD_JOBID",
    "LSB_ERESTART_USRCMD", "LSB_STDERR_FD", "LS_EXEC_T", "LSB_JOBPGIDS",
    "LSB_JOBPIDS", "LSB_SUSP_REASONS", "LSB_SUSP_SUBREASONS",
    "LSB_JOBEXIT_STAT", "LSB_JOBEXIT_INFO", "LSB_JOBPEND", "LSB_JOBRES_PID",
    "LSB_EXEC_CLUSTER", "LSB_DJOB_HOSTFILE", "LSB_DJOB_NUMPROC",
    "HOME", "PWD", "USER", "LOGNAME", "TERM", "TERMCAP", "HOSTNAME", "LSB_JOB_STARTER",
}

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def truthy(v):
    return str(v).strip().lower() in ("y", "yes", "1", "true")


def unquote(v):
    v = v.strip()
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
        return v[1:-1]
    return v


def parse_kv_file(path):
    """NAME=value lines (lsf.conf) or NAME = value lines (lsb.params)."""
    out = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().split("\n")
    except OSError:
        return out
    for line in lines:
        s = line.strip()
        if not s or s.startswith("#") or s.lower().startswith(("begin ", "end ")):
            continue
        if "=" not in s:
            continue
        k, v = s.split("=", 1)
        k = k.strip()
        if not NAME_RE.match(k):
            continue
        # trailing comments only when preceded by a blank
        v = re.sub(r"\s+#.*$", "", v)
        out[k] = unquote(v)
    return out


def load_config(root):
    """Merged knobs: defaults < the flavour's < lsf.conf < lsb.params."""
    explicit = parse_kv_file(os.path.join(root, "conf", "lsf.conf"))
    explicit.update(parse_kv_file(os.path.join(root, "conf", "lsb.params")))
    cfg = dict(KNOBS)
    if explicit.get("LSFSIM_FLAVOUR", "").strip().lower() == "clone":
        cfg.update(CLONE_FLAVOUR)
    cfg.update(explicit)
    return cfg


def knob(cfg, name):
    """A word-valued knob, lower case, its default when unset or empty."""
    return (str(cfg.get(name) or "").strip() or KNOBS.get(name, "")).lower()


def cfg_float(cfg, name):
    try:
        return float(cfg.get(name, KNOBS.get(name, "0")))
    except ValueError:
        return float(KNOBS.get(name, "0") or 0)


def parse_queues(path):
    """lsb.queues -> {name: {KEY: value}} (continuation lines honoured)."""
    queues = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            raw = f.read()
    except OSError:
        return queues
    raw = raw.replace("\\\n", " ")
    cur = None
    for line in raw.split("\n"):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        low = s.lower().split()
        if low[:2] == ["begin", "queue"]:
            cur = {}
            continue
        if low[:2] == ["end", "queue"]:
            if cur is not None and cur.get("QUEUE_NAME"):
                queues[cur["QUEUE_NAME"]] = cur
            cur = None
            continue
        if cur is None or "=" not in s:
            continue
        k, v = s.split("=", 1)
        cur[k.strip().upper()] = v.strip()
    return queues


def parse_job_controls(text):
    """JOB_CONTROLS value -> {'SUSPEND': .., 'RESUME': .., 'TERMINATE': ..}.

    The action is the text between the brackets (nested brackets and quotes
    allowed), taken verbatim as a /bin/sh command line.
    """
    out = {}
    i = 0
    n = len(text or "")
    while i < n:
        m = re.compile(r"\s*(SUSPEND|RESUME|TERMINATE)\s*\[").match(text, i)
        if not m:
            i += 1
            continue
        name = m.group(1)
        j = m.end()
        depth = 1
        quote = None
        k = j
        while k < n:
            c = text[k]
            if quote:
                if c == quote:
                    quote = None
            elif c in "\"'":
                quote = c
            elif c == "[":
                depth += 1
            elif c == "]":
                depth -= 1
                if depth == 0:
                    break
            k += 1
        out[name] = text[j:k].strip()
        i = k + 1
    return out


def parse_minutes(text):
    """'[hh:]mm' -> minutes (float). Raises ValueError."""
    t = text.strip()
    if "/" in t:
        t = t.split("/", 1)[0]
    if ":" in t:
        h, m = t.split(":", 1)
        val = int(h) * 60 + int(m)
    else:
        val = float(t)
    if val <= 0:
        raise ValueError("limit must be positive")
    return val


def queue_runlimit(q):
    """(default, max) minutes from RUNLIMIT = [default] max; None if unset."""
    v = (q or {}).get("RUNLIMIT", "").split()
    if not v:
        return None, None
    if len(v) == 1:
        return None, parse_minutes(v[0])
    return parse_minutes(v[0]), parse_minutes(v[1])


def quote(s):
    return shlex.quote(s)


def command_from_argv(args):
    """bsub joins its command arguments with single spaces and no quoting
    (OpenLava bsub); the job file's shell then parses the line, so
    `bsub "a; b"` runs two commands, as with LSF."""
    return " ".join(args)


# ---------------------------------------------------------------- /proc

def proc_stat(pid):
    """(state, ppid, pgid, sid) or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rfind(")") + 2:].split()
    return rest[0], int(rest[1]), int(rest[2]), int(rest[3])


def all_pids():
    for d in os.listdir("/proc"):
        if d.isdigit():
            yield int(d)


def pids_in_pgid(pgid):
    out = []
    if not pgid:
        return out
    for pid in all_pids():
        st = proc_stat(pid)
        if st and st[2] == pgid and st[0] != "Z":
            out.append(pid)
    return sorted(out)


def proc_environ(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return {}
    env = {}
    for item in data.split(b"\0"):
        if b"=" in item:
            k, v = item.split(b"=", 1)
            env[k.decode(errors="replace")] = v.decode(errors="replace")
    return env


# ---------------------------------------------------------------- client

def root_from_envdir(envdir):
    return os.path.dirname(os.path.abspath(envdir.rstrip("/")))


def socket_path(root):
    conf = parse_kv_file(os.path.join(root, "conf", "lsf.conf"))
    share = conf.get("LSB_SHAREDIR") or os.path.join(root, "work")
    return os.path.join(share, "sbatchd.sock")


def find_root(fallback_file=None):
    envdir = os.environ.get("LSF_ENVDIR")
    if envdir and os.path.isfile(os.path.join(envdir, "lsf.conf")):
        return root_from_envdir(envdir)
    if fallback_file:
        d = os.path.dirname(os.path.dirname(os.path.realpath(fallback_file)))
        if os.path.isfile(os.path.join(d, "conf", "lsf.conf")):
            return d
    return None


def recv_line(sock, limit=64 << 20):
    buf = bytearray()
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
        if b"\n" in chunk:
            break
        if len(buf) > limit:
            raise ValueError("message too large")
    return bytes(buf).split(b"\n", 1)[0]


def request(root, obj, timeout=60):
    """Send one request to the daemon, return its reply dict."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(socket_path(root))
        s.sendall(json.dumps(obj).encode() + b"\n")
        line = recv_line(s)
    finally:
        s.close()
    if not line:
        raise OSError("empty reply from sbatchd")
    return json.loads(line)


def wait_status_str(raw):
    if raw is None:
        return "-"
    if os.WIFEXITED(raw):
        return "exit %d" % os.WEXITSTATUS(raw)
    if os.WIFSIGNALED(raw):
        return "signal %d" % os.WTERMSIG(raw)
    return "raw %d" % raw


# ---------------------------------------------------------------- child spawning
# Used only by the single-threaded per-job helpers (res, the generic echkpnt
# and erestart), never by the threaded daemon.

CATCHABLE = [s for s in range(1, 65)
             if s not in (9, 19, 32, 33)]  # not KILL, STOP, glibc-internal


def reset_signals():
    import signal
    for s in CATCHABLE:
        try:
            signal.signal(s, signal.SIG_DFL)
        except (OSError, ValueError, RuntimeError):
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def spawn(path, argv, env, cwd=None, fds=(None, None, None), keep=None):
    """fork + execve with stdio from fds (open fds or None = /dev/null),
    every other fd >= 3 closed except keep {target_fd: source_fd}, default
    signal dispositions and an empty signal mask. Returns the child pid."""
    pid = os.fork()
    if pid:
        return pid
    try:
        devnull = os.open("/dev/null", os.O_RDWR)
        src = [devnull if f is None else f for f in fds]
        # move sources out of the way first so dup2 order cannot clobber them
        moved = [os.dup(f) for f in src]
        kmoved = {t: os.dup(s) for t, s in (keep or {}).items()}
        for i, f in enumerate(moved):
            os.dup2(f, i)
        for t, s in kmoved.items():
            os.dup2(s, t)
        os.closerange(3, 65536) if not kmoved else _close_except(set(kmoved))
        for i in (0, 1, 2):
            os.set_inheritable(i, True)
        for t in kmoved:
            os.set_inheritable(t, True)
        if cwd:
            os.chdir(cwd)
        reset_signals()
        os.execve(path, argv, env)
    except BaseException as e:  # noqa: B036 - we are a forked child
        try:
            os.write(2, ("lsfsim: cannot execute %s: %s\n" % (path, e)).encode())
        except OSError:
            pass
    os._exit(127)


def _close_except(keep):
    lo = 3
    for t in sorted(keep):
        if t > lo:
            os.closerange(lo, t)
        lo = t + 1
    os.closerange(lo, 65536)


def place_in_chkdir(pairs):
    """LSFSIM_JOBFILE_DIR=chkdir, in the job's helper (as the user): for each
    (real, link), the real file lives in the checkpoint directory and `link`
    (in the spool directory, the double's ~/.lsbatch) becomes a symbolic
    link to it. A regular file at `link` (the job file sbatchd wrote) is
    moved there first, replacing what `real` held. None or an error text."""
    try:
        for real, link in pairs:
            if os.path.isfile(link) and not os.path.islink(link):
                tmp = real + ".new"
                with open(link, "rb") as src, open(tmp, "wb") as dst:
                    dst.write(src.read())
                os.chmod(tmp, 0o700)
                os.rename(tmp, real)
            tmp = link + ".lnk"
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            os.symlink(real, tmp)
            os.rename(tmp, link)
    except OSError as e:
        return str(e)
    return None


def wait_raw(pid):
    while True:
        try:
            _, st = os.waitpid(pid, 0)
            return st
        except InterruptedError:
            continue
        except ChildProcessError:
            return None


def open_devnull():
    return os.open("/dev/null", os.O_RDWR)


def emit(fd, obj):
    """Write one JSON report line on a pipe to the daemon; ignore a gone reader."""
    if fd is None:
        return
    try:
        os.write(fd, (json.dumps(obj) + "\n").encode())
    except OSError:
        pass


def read_params():
    """Parameters from sbatchd arrive as JSON on stdin; stdin is then
    replaced by /dev/null."""
    chunks = []
    while True:
        b = os.read(0, 1 << 16)
        if not b:
            break
        chunks.append(b)
    fd = os.open("/dev/null", os.O_RDONLY)
    os.dup2(fd, 0)
    os.close(fd)
    return json.loads(b"".join(chunks) or b"{}")


def signame(sig):
    import signal
    try:
        return signal.Signals(int(sig)).name
    except ValueError:
        return str(sig)


def parse_signal(text):
    """'KILL', 'SIGKILL', '9' -> 9; None if not a signal."""
    import signal
    t = str(text).strip().upper()
    if t.isdigit():
        n = int(t)
        return n if 0 < n < 65 else None
    if not t.startswith("SIG"):
        t = "SIG" + t
    try:
        return int(signal.Signals[t])
    except KeyError:
        return None


def popen_raw(p):
    """Wait for a subprocess.Popen child and return its raw wait status."""
    while True:
        try:
            _, st = os.waitpid(p.pid, 0)
            break
        except InterruptedError:
            continue
        except ChildProcessError:
            return None
    p.returncode = os.waitstatus_to_exitcode(st)
    return st
