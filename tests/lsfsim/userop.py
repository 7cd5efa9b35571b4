# SPDX-License-Identifier: GPL-2.0-or-later
"""File operations sbatchd does as the job user (LSF's sbatchd forks and
switches to the user for these): checking a checkpoint base directory and
appending a job's spooled output, with the job report, to its -o/-e files.

Usage (private to sbatchd): userop.py check-chkdir DIR
                            userop.py deliver < '<json parameters>'
"""

import json
import os
import sys


def deliver(p):
    dest = p["dest"]
    if os.path.isdir(dest):
        dest = os.path.join(dest, "%s.%s" % (p["jobid"], p.get("suffix", "out")))
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
    with os.fdopen(fd, "wb") as out:
        if p.get("header"):
            out.write(p["header"].encode())
        spool = p.get("spool")
        if spool:
            try:
                with open(spool, "rb") as f:
                    while True:
                        b = f.read(1 << 16)
                        if not b:
                            break
                        out.write(b)
            except FileNotFoundError:
                pass
        if p.get("trailer"):
            out.write(p["trailer"].encode())
    if spool and p.get("remove_spool"):
        for path in [spool] + list(p.get("links") or []):
            try:
                os.unlink(path)
            except OSError:
                pass
    print(dest)
    return 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "check-chkdir":
        d = sys.argv[2]
        ok = os.path.isdir(d) and os.access(d, os.W_OK | os.X_OK)
        return 0 if ok else 1
    if len(sys.argv) == 2 and sys.argv[1] == "deliver":
        try:
            return deliver(json.loads(sys.stdin.read()))
        except OSError as e:
            print("lsfsim: cannot deliver output: %s" % e, file=sys.stderr)
            return 1
    print("usage: userop.py check-chkdir DIR | deliver < JSON", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
