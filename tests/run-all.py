#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Runs every test of lsf-criu and ends with "N passed, N failed, N skipped".

  unit tests             build-asan/unit/test_* (TAP, ASan+UBSan), one after the other
  exclusive files        tests that change the host for every program on it (test_packages
                         installs and purges a system package with /etc/lsf-criu.conf), alone
  everything else        the LSF test double's own tests, the system tests (real criu, jobs
                         of a non-root user, each with its own cluster of the double), the
                         fault suite's bounded subset and the fuzzing, in LC_TEST_LANES lanes
                         (default 2), longest first

A file's output is printed whole when it ends, with how long it took; a file that runs
past LC_TEST_TIMEOUT seconds (default 900) is killed with its process group and fails.

  LC_TESTS="pattern ..."  only python tests whose names contain a pattern (the fault
                          subset with "faults", the fuzzing with "fuzz")
  LC_TEST_LANES=1         everything one after the other
  LC_FAULT_JOBS           cases of the fault subset at once (default 2)
  LC_FUZZ_SECONDS         seconds of fuzzing per target (default 5)
"""

import concurrent.futures
import glob
import os
import re
import signal
import subprocess
import sys
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = "/usr/bin/python3"
EXCLUSIVE = {"tests/system/test_packages.py"}
# Seconds each took on the development VM: only the order in which lanes take them.
HINT = {"tests/system/test_coverage.py": 140, "tests/system/test_overrun.py": 146,
        "tests/lsfsim/test_lsfsim.py": 133, "tests/system/test_contract.py": 121,
        "faults": 200, "tests/system/test_security.py": 90,
        "tests/system/test_namespaces.py": 88, "tests/system/test_output.py": 80}

out_lock = threading.Lock()


def env_int(name, default):
    try:
        return max(1, int(os.environ.get(name, "")))
    except ValueError:
        return default


def run(argv, timeout):
    """Output and exit status of argv, killed with its process group after timeout."""
    p = subprocess.Popen(argv, cwd=TOP, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = p.communicate(timeout=timeout)
        return out.decode(errors="replace"), p.returncode
    except subprocess.TimeoutExpired:
        for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 30)):
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                out, _ = p.communicate(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                out = b""
        return (out.decode(errors="replace")
                + "\nkilled after %d s (LC_TEST_TIMEOUT)\n" % timeout), None


def count(pattern, text):
    return len(re.findall(pattern, text, re.M))


def unit(path):
    out, rc = run([path], 300)
    skip = count(r"^ok .*# SKIP", out)
    ok = count(r"^ok ", out) - skip
    bad = count(r"^not ok", out)
    if rc != 0 and bad == 0:
        bad = 1
    return out, (ok, bad, skip)


def result_line(out):
    m = re.findall(r"^RESULT passed=(\d+) failed=(\d+)(?: skipped=(\d+))?", out, re.M)
    if not m:
        return None
    p, f, s = m[-1]
    return int(p), int(f), int(s or 0)


def python_file(path, patterns, timeout):
    out, rc = run([PY, "tests/pyrun.py", path] + patterns, timeout)
    res = result_line(out)
    if res is None:
        return out + "%s: no result (exit %s)\n" % (path, rc), (0, 1, 0)
    return out, res


def faults(timeout):
    out, rc = run([PY, "tests/faults/faults.py", "--subset", "check",
                   "--jobs", str(env_int("LC_FAULT_JOBS", 2))], timeout)
    res = result_line(out)
    return out, res if res else (0, 1, 0)


def fuzz(_timeout):
    secs = str(env_int("LC_FUZZ_SECONDS", 5))
    out1, _ = run(["make", "-s", "fuzz-replay"], 600)
    out2, _ = run(["make", "-s", "fuzz", "FUZZ_SECONDS=" + secs], 1200)
    out = out1 + out2
    return out, (count(r"^fuzz-replay: ok$|^fuzz: [a-z_]+ ok:", out), count(r"FAILED", out), 0)


class Totals:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0
        self.failing = []

    def add(self, name, out, res, secs):
        p, f, s = res
        with out_lock:
            sys.stdout.write("=== %s\n%s" % (name, out if out.endswith("\n") or not out
                                             else out + "\n"))
            sys.stdout.write("--- %s: %d s\n" % (name, secs))
            sys.stdout.flush()
            self.passed += p
            self.failed += f
            self.skipped += s
            if f:
                self.failing.append(name)


def timed(totals, name, fn, *args):
    t0 = time.monotonic()
    try:
        out, res = fn(*args)
    except Exception as e:  # a runner bug must fail the run, not hide the file
        out, res = "runner error: %r\n" % e, (0, 1, 0)
    totals.add(name, out, res, time.monotonic() - t0)


def main():
    os.chdir(TOP)
    t_start = time.monotonic()
    patterns = os.environ.get("LC_TESTS", "").split()
    timeout = env_int("LC_TEST_TIMEOUT", 900)
    lanes = env_int("LC_TEST_LANES", 2)
    totals = Totals()

    for t in sorted(glob.glob("build-asan/unit/test_*")):
        if os.access(t, os.X_OK):
            timed(totals, t, unit, t)

    files = sorted(glob.glob("tests/lsfsim/test_*.py")) + sorted(glob.glob("tests/system/test_*.py"))
    for f in files:
        if f in EXCLUSIVE:
            timed(totals, f, python_file, f, patterns, timeout)

    jobs = [(f, python_file, f, patterns, timeout) for f in files if f not in EXCLUSIVE]
    if not patterns or any("faults" in p for p in patterns):
        jobs.append(("faults", faults, 1800))
    if os.access("build-fuzz/replay/fuzz_meta", os.X_OK) and (
            not patterns or any("fuzz" in p for p in patterns)):
        jobs.append(("fuzz", fuzz, 0))
    jobs.sort(key=lambda j: -HINT.get(j[0], 60))
    with concurrent.futures.ThreadPoolExecutor(max_workers=lanes) as pool:
        for fut in [pool.submit(timed, totals, *j) for j in jobs]:
            fut.result()

    if totals.failing:
        print("failing files:\n" + "\n".join("  " + f for f in totals.failing))
    print("all tests: %d s in %d lane(s)" % (time.monotonic() - t_start, lanes))
    print("%d passed, %d failed, %d skipped" % (totals.passed, totals.failed, totals.skipped))
    return 1 if totals.failed else 0


if __name__ == "__main__":
    sys.exit(main())
