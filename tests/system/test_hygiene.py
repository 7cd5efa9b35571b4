#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Code hygiene in make check: make lint (forbidden and too-new calls, log format,
shellcheck on every shell script) and make analyze (cppcheck) pass, and each of them
fails on a planted defect; the formatter configuration is valid and the tree is formatted
by it (make format-check finds nothing to change)."""

import os
import shutil
import subprocess
import tempfile
import unittest

import cluster

TOP = cluster.TOP


def make(*args):
    return subprocess.run(["make", "--no-print-directory", "-s", "-C", TOP] + list(args),
                          capture_output=True, text=True, timeout=600)


class Hygiene(unittest.TestCase):
    def tmp(self):
        d = tempfile.mkdtemp(prefix="lsfcriu-hygiene-", dir="/var/tmp")
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def test_lint(self):
        p = make("lint")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertRegex(p.stdout, r"lint: ok \((1\d|[2-9]\d) shell scripts checked\)")

    def test_lint_fails_on_a_shell_defect(self):
        bad = os.path.join(self.tmp(), "bad.sh")
        with open(bad, "w") as f:
            f.write("#!/bin/sh\nfor f in $(ls *.txt); do rm $f; done\n")
        p = make("lint", "SHELL_SCRIPTS=" + bad)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("SC2045", p.stdout + p.stderr)

    def test_analyze(self):
        p = make("analyze")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("analyze: ok", p.stdout)

    def test_analyze_fails_on_a_c_defect(self):
        d = self.tmp()
        with open(os.path.join(d, "bad.c"), "w") as f:
            f.write("int f(void);\nint f(void)\n{\n\tint a[4];\n\n\ta[4] = 1;\n"
                    "\treturn a[0];\n}\n")
        p = make("analyze", "ANALYZE_SRC=" + d)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("arrayIndexOutOfBounds", p.stdout + p.stderr)

    def test_formatter_configuration(self):
        p = subprocess.run(["clang-format", "--style=file", "--dump-config",
                            os.path.join(TOP, "src", "lib", "util.c")], capture_output=True,
                           text=True, cwd=TOP)
        self.assertEqual(p.returncode, 0, p.stderr)
        for k, v in (("UseTab", "Always"), ("IndentWidth", "8"), ("ColumnLimit", "100"),
                     ("BreakBeforeBraces", "Linux"), ("SortIncludes", "Never"),
                     ("AllowShortFunctionsOnASingleLine", "None")):
            self.assertRegex(p.stdout, r"(?m)^%s:\s+%s$" % (k, v))
        self.assertTrue(os.path.exists(os.path.join(TOP, ".editorconfig")))
        p = make("format-check")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("format-check: 0 line(s) would change", p.stdout)

    def test_format_check_fails_on_a_misformatted_file(self):
        d = self.tmp()
        src = os.path.join(d, "bad.c")
        with open(src, "w") as f:
            f.write("int  main(void){return 0;}\n")
        shutil.copy(os.path.join(TOP, ".clang-format"), d)
        p = subprocess.run(["make", "--no-print-directory", "-s", "-f",
                            os.path.join(TOP, "mk", "hygiene.mk"), "format-check",
                            "C_SOURCES=bad.c"], capture_output=True, text=True, cwd=d,
                           timeout=120)
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertRegex(p.stdout, r"bad\.c: [1-9]\d* line\(s\) would change")


if __name__ == "__main__":
    unittest.main()
