# SPDX-License-Identifier: GPL-2.0-or-later
"""User commands of the LSF test double: bsub, bjobs, bkill, bchkpnt,
brestart. They run as the calling user, find the cluster from LSF_ENVDIR
(lsf.conf) and talk to sbatchd over its unix socket; sbatchd identifies the
caller by SO_PEERCRED, so nothing here is trusted for identity.

Installed in LSF_BINDIR as small wrappers calling main(<name>, argv).
"""

import os
import shlex
import sys

import simlib

# bsub options that take a value and that the double only records or ignores
VALUE_OPTS = {"-n", "-R", "-M", "-G", "-P", "-L", "-b", "-t", "-w", "-E", "-Ep", "-c",
              "-C", "-D", "-F", "-S", "-a", "-app", "-env", "-u", "-i", "-is",
              "-sp", "-v", "-g", "-sla", "-U", "-ext", "-Lp", "-f", "-T", "-We",
              "-jsdl", "-XF", "-ul", "-gpu", "-hl", "-outdir", "-pack",
              "-rn", "-rnc", "-s", "-stage", "-eptl", "-ptl", "-data", "-datagrp",
              "-alloc_flags", "-cn_cu", "-cn_mem", "-core_isolation", "-csm", "-nnodes",
              "-smt", "-step_cgroup", "-freq"}
FLAG_OPTS = {"-B", "-N", "-Ne", "-x", "-r", "-rn", "-H", "-K", "-Is", "-Ip", "-IS", "-ISp",
             "-ISs", "-IX", "-tty", "-ti"}


class Usage(Exception):
    pass


def parse_k(text):
    parts = text.split()
    if not parts:
        raise Usage("-k: checkpoint directory missing")
    k = {"dir": parts[0], "period": None, "init": None, "method": None}
    for p in parts[1:]:
        if p.startswith("init="):
            k["init"] = float(p[5:])
        elif p.startswith("method="):
            k["method"] = p[7:]
        else:
            k["period"] = float(p)
    return k


def parse_bsub_opts(args, restart=False):
    """LSF-style option parsing: options first, then the command (bsub) or
    'checkpoint_dir job_ID' (brestart). Returns (opts, rest)."""
    opts = {}
    i = 0
    while i < len(args):
        a = args[i]
        if not a.startswith("-") or a == "-":
            break
        if a == "--":
            i += 1
            break

        def val():
            if i + 1 >= len(args):
                raise Usage("%s: option requires an argument" % a)
            return args[i + 1]
        if a in ("-q", "-o", "-e", "-oo", "-eo", "-J", "-W", "-cwd", "-Jd", "-m") or \
                (a == "-k" and not restart):
            v = val()
            key = {"-oo": "o", "-eo": "e"}.get(a, a[1:])
            if a == "-m":
                # "host1 host2+2 ...": candidate hosts (preference levels ignored)
                names = [h.split("+", 1)[0] for h in v.split()]
                if not names or not all(names):
                    raise Usage("%s: Bad host specification" % v)
                opts["m"] = opts.get("m", []) + names
            elif a == "-W":
                try:
                    opts["W"] = simlib.parse_minutes(v)
                except ValueError:
                    raise Usage("%s: Bad RUNLIMIT specification" % v)
            elif a == "-k":
                opts["k"] = parse_k(v)
            else:
                opts[key] = v
            i += 2
        elif a == "-I" or a in ("-Is", "-Ip", "-IS", "-ISp", "-ISs", "-IX"):
            opts["I"] = True
            i += 1
        elif a == "-f" and restart:
            opts["f"] = True
            i += 1
        elif a in VALUE_OPTS:
            val()
            opts.setdefault("ignored", []).extend([a, args[i + 1]])
            i += 2
        elif a in FLAG_OPTS:
            opts.setdefault("ignored", []).append(a)
            i += 1
        else:
            raise Usage("%s: illegal option" % a)
    return opts, args[i:]


def bsub_script_opts(script):
    """#BSUB lines at the top of a script (before the first command)."""
    args = []
    for line in script.split("\n"):
        s = line.strip()
        if not s or (s.startswith("#") and not s.startswith("#BSUB")):
            continue
        if s.startswith("#BSUB"):
            args += shlex.split(s[5:], comments=False)
            continue
        break
    return args


def absolutize(opts, cwd):
    for key in ("o", "e"):
        if opts.get(key):
            opts[key + "_typed"] = opts[key]  # LSB_OUTPUTFILE as typed (a switch)
        if opts.get(key) and not opts[key].startswith("/"):
            opts[key] = os.path.normpath(os.path.join(cwd, opts[key]))
    k = opts.get("k")
    if k and not k["dir"].startswith("/"):
        k["dir"] = os.path.normpath(os.path.join(cwd, k["dir"]))


def call(root, req):
    try:
        rep = simlib.request(root, req)
    except (OSError, ValueError) as e:
        sys.stderr.write("LSF is down; please wait (cannot reach sbatchd: %s)\n" % e)
        return 255
    if rep.get("out"):
        sys.stdout.write(rep["out"])
    if rep.get("err"):
        sys.stderr.write(rep["err"])
    return rep.get("rc", 255)


def cmd_bsub(root, args):
    try:
        opts, rest = parse_bsub_opts(args)
    except Usage as e:
        sys.stderr.write("%s\nUsage: bsub [options] command [arguments]\n" % e)
        return 255
    cwd = os.getcwd()
    script = None
    command = None
    if rest:
        command = simlib.command_from_argv(rest)
    else:
        script = sys.stdin.read()
        if not script.strip():
            sys.stderr.write("No command is specified. Job not submitted.\n")
            return 255
        try:
            sopts, _ = parse_bsub_opts(bsub_script_opts(script))
        except Usage as e:
            sys.stderr.write("%s. Job not submitted.\n" % e)
            return 255
        for k, v in sopts.items():
            opts.setdefault(k, v)
    if opts.get("cwd"):
        cwd = os.path.normpath(os.path.join(cwd, opts["cwd"]))
    absolutize(opts, cwd)
    req = {"op": "bsub", "opts": opts, "command": command, "script": script,
           "cwd": cwd, "env": dict(os.environ)}
    return call(root, req)


def cmd_bjobs(root, args):
    req = {"op": "bjobs", "jobids": []}
    i = 0
    while i < len(args):
        a = args[i]
        if a == "-a":
            req["all"] = True
        elif a == "-l":
            req["long"] = True
        elif a == "-json":
            req["json"] = True
        elif a == "-u":
            i += 1
            req["user"] = args[i] if i < len(args) else None
        elif a in ("-w", "-W", "-r", "-p", "-s", "-d", "-noheader"):
            if a == "-d":
                req["all"] = True
        elif a in ("-o", "-q", "-J", "-m", "-P", "-G", "-g"):
            i += 1
        elif a.startswith("-"):
            sys.stderr.write("%s: illegal option\nUsage: bjobs [-a] [-l] [-json] "
                             "[-u user|all] [jobID ...]\n" % a)
            return 255
        else:
            req["jobids"].append(a)
        i += 1
    return call(root, req)


def cmd_bkill(root, args):
    req = {"op": "bkill", "jobids": []}
    i = 0
    while i < len(args):
        a = args[i]
        if a == "-s":
            i += 1
            if i >= len(args):
                sys.stderr.write("-s: option requires an argument\n")
                return 255
            req["signal"] = args[i]
        elif a in ("-r", "-d", "-C"):
            pass
        elif a.startswith("-"):
            sys.stderr.write("%s: illegal option\nUsage: bkill [-s signal] jobID ...\n" % a)
            return 255
        else:
            req["jobids"].append(a)
        i += 1
    if not req["jobids"]:
        sys.stderr.write("Usage: bkill [-s signal] jobID ...\n")
        return 255
    return call(root, req)


def cmd_bchkpnt(root, args):
    req = {"op": "bchkpnt", "jobids": []}
    i = 0
    while i < len(args):
        a = args[i]
        if a == "-f":
            req["f"] = True
        elif a == "-k":
            req["k"] = True
        elif a == "-p":
            i += 1
            try:
                req["p"] = float(args[i])
            except (IndexError, ValueError):
                sys.stderr.write("-p: bad checkpoint period\n")
                return 255
        elif a.startswith("-"):
            sys.stderr.write("%s: illegal option\nUsage: bchkpnt [-f] [-k] [-p minutes] "
                             "jobID ...\n" % a)
            return 255
        else:
            req["jobids"].append(a)
        i += 1
    if not req["jobids"]:
        sys.stderr.write("Usage: bchkpnt [-f] [-k] [-p minutes] jobID ...\n")
        return 255
    return call(root, req)


def cmd_brestart(root, args):
    usage = "Usage: brestart [bsub_options] [-f] checkpoint_dir job_ID\n"
    try:
        opts, rest = parse_bsub_opts(args, restart=True)
    except Usage as e:
        sys.stderr.write("%s\n%s" % (e, usage))
        return 255
    if len(rest) != 2:
        sys.stderr.write(usage)
        return 255
    base, jobid = rest
    base = os.path.normpath(os.path.join(os.getcwd(), base))
    req = {"op": "brestart", "base": base, "jobid": jobid, "opts": opts,
           "cwd": os.getcwd()}
    return call(root, req)


COMMANDS = {"bsub": cmd_bsub, "bjobs": cmd_bjobs, "bkill": cmd_bkill,
            "bchkpnt": cmd_bchkpnt, "brestart": cmd_brestart}


def main(name, args, where=None):
    root = simlib.find_root(where)
    if root is None:
        sys.stderr.write("%s: cannot find lsf.conf (set LSF_ENVDIR)\n" % name)
        return 255
    try:
        return COMMANDS[name](root, args)
    except KeyboardInterrupt:
        return 255
