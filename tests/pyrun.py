#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Runs one unittest file verbosely and ends with a machine-readable line:
RESULT passed=N failed=N skipped=N"""
import importlib.util
import os
import sys
import time
import unittest

path = os.path.abspath(sys.argv[1])
sys.path.insert(0, os.path.dirname(path))
spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
suite = unittest.defaultTestLoader.loadTestsFromModule(mod)
if len(sys.argv) > 2:
    names = sys.argv[2:]
    flat = []

    def walk(s):
        for t in s:
            if isinstance(t, unittest.TestSuite):
                walk(t)
            elif any(n in t.id() for n in names):
                flat.append(t)
    walk(suite)
    suite = unittest.TestSuite(flat)


class TimedResult(unittest.TextTestResult):
    """Notes how long every test took, for the slowest-tests line at the end."""
    durations = []

    def startTest(self, test):
        self._t0 = time.monotonic()
        super().startTest(test)

    def stopTest(self, test):
        super().stopTest(test)
        self.durations.append((time.monotonic() - self._t0, test.id().split(".", 1)[-1]))


res = unittest.TextTestRunner(verbosity=2, stream=sys.stdout, resultclass=TimedResult).run(suite)
slow = sorted(TimedResult.durations, reverse=True)[:5]
if slow:
    print("slowest: " + ", ".join("%s %.0fs" % (name, secs) for secs, name in slow))
failed = len(res.failures) + len(res.errors) + len(res.unexpectedSuccesses)
skipped = len(res.skipped)
print("RESULT passed=%d failed=%d skipped=%d" % (res.testsRun - failed - skipped, failed, skipped))
sys.exit(1 if failed else 0)
