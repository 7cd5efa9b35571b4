# SPDX-License-Identifier: GPL-2.0-or-later
"""Execution hosts of the LSF test double (knob LSFSIM_HOSTS).

Without LSFSIM_HOSTS the cluster has one execution host, the machine itself,
and nothing here creates a namespace. With LSFSIM_HOSTS = N (or a list of
names) every host is a set of namespaces held by one small process, the
host's anchor (`hosts.py --anchor`), started by the daemon at start-up:

    unshare --uts --net --mount --propagation slave -- python3 hosts.py --anchor

- UTS: the host's name (`hostname`, `uname -n`);
- network: its own loopback (up), nothing else;
- mount: a copy of the machine's mounts that follows later mounts of the
  machine (slave propagation), so the file systems are shared as a
  cluster shares its home and checkpoint file systems; a path can be made
  host-local by bind-mounting a private directory or file over it in one
  host only (LSFSIM_HOST_LOCAL, `lsfsim hostlocal`). Mounts made inside a
  host never reach the machine or the other hosts.

PIDs, IPC, users and cgroups are the machine's (one PID space for all
hosts). Every process of a job runs inside its execution host's namespaces:
sbatchd starts it with `nsenter --target <anchor> --uts --net --mount
--wdns <cwd> -- setpriv --reuid <uid> --regid <gid> --groups <g,...> --
<argv>`, so the PID sbatchd waits for is the process itself (neither tool
forks). The anchor exits when sbatchd closes its stdin (sbatchd exited) or
is killed; the namespaces disappear with their last process, and the
host-local mounts with them.

Used by the daemon (sbatchd.py, jobs.py, control.py) and by `lsfsim`
(hosts, exec, hostlocal, stop). Standard library only.
"""

import ctypes
import fcntl
import json
import os
import re
import shutil
import socket
import stat
import struct
import subprocess
import sys

UNSHARE = "/usr/bin/unshare"
NSENTER = "/usr/bin/nsenter"
SETPRIV = "/usr/bin/setpriv"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")
NS_KINDS = ("uts", "net", "mnt")


def hosts_file(root):
    return os.path.join(root, "work", "hosts.json")


def parse_hosts(value):
    """LSFSIM_HOSTS -> [names] ([] = the single-host default). A number N
    gives host1 .. hostN; otherwise blank- or comma-separated names."""
    v = (value or "").replace(",", " ").split()
    if not v:
        return []
    if len(v) == 1 and v[0].isdigit():
        n = int(v[0])
        if n < 1 or n > 16:
            raise ValueError("LSFSIM_HOSTS: 1 to 16 hosts, not %d" % n)
        return ["host%d" % i for i in range(1, n + 1)]
    for name in v:
        if not NAME_RE.match(name):
            raise ValueError("LSFSIM_HOSTS: bad host name %r" % name)
    if len(set(n.lower() for n in v)) != len(v):
        raise ValueError("LSFSIM_HOSTS: a host name is repeated")
    return v


def ns_inode(pid, kind):
    try:
        return os.stat("/proc/%s/ns/%s" % (pid, kind)).st_ino
    except OSError:
        return None


def load(root):
    """The hosts of a running multi-host cluster: [{name, pid, ns}], or []."""
    try:
        with open(hosts_file(root)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return []


def find(root, name):
    for h in load(root):
        if h["name"].lower() == str(name).lower():
            return h
    return None


def local_dir(root, host):
    return os.path.join(root, "hosts", host, "local")


# ---------------------------------------------------------------- exec

def host_argv(pid, argv, cwd=None, cred=None):
    """argv that runs `argv` inside the namespaces of the anchor `pid`,
    in `cwd` (entered inside the host, as root), as cred = (uid, gid,
    [groups]) or as root when cred is None. Neither tool forks."""
    pre = [NSENTER, "--target", str(pid), "--uts", "--net", "--mount"]
    if cwd:
        pre.append("--wdns=" + cwd)
    pre.append("--")
    if cred is not None:
        uid, gid, groups = cred
        pre += [SETPRIV, "--reuid=%d" % uid, "--regid=%d" % gid]
        pre.append("--groups=" + ",".join(str(g) for g in groups) if groups
                   else "--clear-groups")
        pre.append("--")
    return pre + list(argv)


def host_isdir(pid, path):
    """Is `path` a directory as the host of anchor `pid` sees it?"""
    return bool(path) and path.startswith("/") and os.path.isdir(
        "/proc/%d/root%s" % (pid, path))


def members(hosts):
    """Live (non-zombie) PIDs in the UTS or network namespace of one of the
    hosts, anchors included."""
    inos = set()
    for h in hosts:
        inos.update((k, h["ns"].get(k)) for k in ("uts", "net"))
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        if any((k, ns_inode(d, k)) in inos for k in ("uts", "net")):
            try:
                with open("/proc/%s/stat" % d) as f:
                    if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                        continue
            except (OSError, IndexError):
                continue
            out.append(int(d))
    return sorted(out)


def host_identify(hosts, pid):
    """Name of the host whose UTS namespace process `pid` is in, or None."""
    ino = ns_inode(pid, "uts")
    if ino is None:
        return None
    for h in hosts:
        if h["ns"].get("uts") == ino:
            return h["name"]
    return None


# ---------------------------------------------------------------- host-local

def make_private(root, host, path, copy=False):
    """Create the host's private stand-in for `path` (a directory or a
    file) under DIR/hosts/<host>/local/, owned and moded like `path`;
    with copy, a copy of its content. Returns the stand-in's path."""
    st = os.stat(path)
    base = local_dir(root, host)
    os.makedirs(base, mode=0o755, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", path.strip("/")) or "root"
    src = os.path.join(base, name)
    n = 1
    while os.path.lexists(src):
        n += 1
        src = os.path.join(base, "%s.%d" % (name, n))
    if stat.S_ISDIR(st.st_mode):
        if copy:
            shutil.copytree(path, src, symlinks=True)
        else:
            os.mkdir(src)
    elif stat.S_ISREG(st.st_mode):
        if copy:
            shutil.copy2(path, src)
        else:
            open(src, "w").close()
    else:
        raise OSError("%s: only a directory or a regular file can be made host-local" % path)
    os.chown(src, st.st_uid, st.st_gid)
    os.chmod(src, stat.S_IMODE(st.st_mode))
    return src


MS_BIND = 4096


def bind(src, dst):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(src.encode(), dst.encode(), None, MS_BIND, None) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "mount --bind %s %s: %s" % (src, dst, os.strerror(e)))


def hostlocal(root, host, path, copy=False):
    """Make `path` host-local on `host` of a running cluster, now: bind a
    private stand-in over it inside the host's mount namespace. Returns the
    stand-in (visible from the machine, where a test can fill it)."""
    h = find(root, host)
    if h is None:
        raise OSError("no host %r in this cluster" % host)
    path = os.path.realpath(path)
    src = make_private(root, h["name"], path, copy)
    r = subprocess.run([NSENTER, "--target", str(h["pid"]), "--mount", "--",
                        sys.executable, "-I", os.path.abspath(__file__), "--bind", src, path],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise OSError("cannot bind %s over %s on %s: %s" % (src, path, host,
                                                            r.stderr.strip()))
    return src


# ---------------------------------------------------------------- anchor

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def loopback_up():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        ifr = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, SIOCGIFFLAGS, ifr))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))
    finally:
        s.close()


def anchor(name, binds):
    """Runs inside the new namespaces: name the host, bring up its
    loopback, make the host-local paths, report, then hold the namespaces
    until stdin reaches EOF."""
    try:
        socket.sethostname(name)
        loopback_up()
        for src, dst in binds:
            bind(src, dst)
    except OSError as e:
        sys.stdout.write(json.dumps({"ok": False, "error": str(e)}) + "\n")
        sys.stdout.flush()
        return 1
    sys.stdout.write(json.dumps({"ok": True, "pid": os.getpid(),
                                 "ns": {k: ns_inode("self", k) for k in NS_KINDS}}) + "\n")
    sys.stdout.flush()
    fd = os.open("/dev/null", os.O_WRONLY)
    os.dup2(fd, 1)
    os.close(fd)
    os.chdir("/")
    while os.read(0, 4096):
        pass
    return 0


def start(root, names, local_paths, log):
    """Start one anchor per host (called by the daemon, as root). Returns
    [(name, Popen, record)]; raises OSError when a host cannot be made."""
    out = []
    me = os.path.abspath(__file__)
    try:
        for name in names:
            binds = []
            for path in local_paths:
                rp = os.path.realpath(path)
                binds.append([make_private(root, name, rp), rp])
            p = subprocess.Popen([UNSHARE, "--uts", "--net", "--mount", "--propagation",
                                  "slave", "--", sys.executable, "-I", me, "--anchor",
                                  name, json.dumps(binds)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=log, close_fds=True, cwd="/")
            line = p.stdout.readline()
            p.stdout.close()
            try:
                rep = json.loads(line)
            except ValueError:
                rep = {"ok": False, "error": "anchor exited (status %s)" % p.wait()}
            if not rep.get("ok"):
                p.kill()
                p.wait()
                raise OSError("host %s: %s" % (name, rep.get("error")))
            out.append((name, p, {"name": name, "pid": p.pid, "ns": rep["ns"],
                                  "local": [{"path": d, "private": s} for s, d in binds]}))
    except BaseException:
        for _, p, _ in out:
            p.kill()
            p.wait()
        raise
    tmp = hosts_file(root) + ".tmp"
    with open(tmp, "w") as f:
        json.dump([r for _, _, r in out], f, indent=1)
    os.replace(tmp, hosts_file(root))
    return out


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--anchor":
        sys.exit(anchor(sys.argv[2], json.loads(sys.argv[3])))
    if len(sys.argv) == 4 and sys.argv[1] == "--bind":
        try:
            bind(sys.argv[2], sys.argv[3])
        except OSError as e:
            sys.stderr.write("%s\n" % e)
            sys.exit(1)
        sys.exit(0)
    sys.stderr.write("usage (private to sbatchd and lsfsim): hosts.py --anchor NAME BINDS"
                     " | --bind SRC DST\n")
    sys.exit(2)
