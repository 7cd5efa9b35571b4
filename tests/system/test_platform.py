#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Runs where LSF runs: the build with gcc and clang under -Werror with probed
flags, a cross build for aarch64, no call newer than glibc 2.28, and the
programs on an old kernel (the build-compat tree, which takes every fallback
of src/lib/compat.c and answers as Linux 4.18 would) checkpointing and
restarting real jobs. The fallbacks themselves are tested against a kernel
that really refuses the newer system calls (seccomp) in tests/unit/test_compat.c."""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

import cluster
from cluster import ClusterTest, WORKLOADS, assert_continuous, counts, wait_for

TOP = cluster.TOP
COUNTER = os.path.join(WORKLOADS, "counter.sh")
PROGRAMS = cluster.PROGRAMS + ("lsf-criu",)
CROSS_CC = "aarch64-linux-gnu-gcc"


def make(*args, env=None, timeout=900):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run(["make", "--no-print-directory", "-C", TOP] + list(args),
                          capture_output=True, text=True, timeout=timeout, env=e)


def flags(build, *args):
    """print-flags of a build tree, as a dict."""
    p = make("-s", "print-flags", "BUILD=" + build, *args)
    if p.returncode != 0:
        raise AssertionError(p.stdout + p.stderr)
    out = {}
    for line in p.stdout.splitlines():
        k, _, v = line.partition(":")
        out[k.strip()] = v.split()
    return out


class Compilers(unittest.TestCase):
    def assert_tree(self, build, machine):
        for name in PROGRAMS:
            path = os.path.join(TOP, build, name)
            self.assertTrue(os.access(path, os.X_OK), path)
            p = subprocess.run(["readelf", "-h", path], capture_output=True, text=True)
            self.assertRegex(p.stdout, r"Machine:\s+%s" % machine, path)

    def test_clang_builds_warning_free(self):
        p = make("clang")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertNotRegex(p.stdout + p.stderr, r"warning:|error:")
        self.assert_tree("build-clang", "Advanced Micro Devices X86-64")
        v = subprocess.run([os.path.join(TOP, "build-clang", "lsf-criu"), "--version"],
                           capture_output=True, text=True)
        self.assertEqual(v.returncode, 0)
        self.assertRegex(v.stdout, r"^lsf-criu \(lsf-criu\) \d+\.\d+\.\d+ ")

    def test_flags_are_probed(self):
        gcc = flags("build")
        clang = flags("build-clang", "CC=clang")
        # gcc's snprintf truncation warning: silenced for gcc only; clang has no such option.
        self.assertIn("-Wno-format-truncation", gcc["warnings"])
        self.assertNotIn("-Wno-format-truncation", clang["warnings"])
        for f in (gcc, clang):
            self.assertIn("-Werror", f["warnings"])
            self.assertIn("-D_FORTIFY_SOURCE=3", f["hardening"])  # glibc 2.36 here
            self.assertIn("-fcf-protection", f["hardening"])       # x86-64
            self.assertNotIn("-mbranch-protection=standard", f["hardening"])
            self.assertIn("-Wl,-z,now", f["link"])
        # A C library like glibc 2.34 with gcc 11 warns that level 3 is treated like 2
        # (under -Werror an error): modelled by a features.h in front of the real one
        # that adds glibc's own #warning. The probe settles on 2.
        tmp = tempfile.mkdtemp(prefix="lsfcriu-flags-", dir="/var/tmp")
        self.addCleanup(shutil.rmtree, tmp, True)
        inc = os.path.join(tmp, "old-glibc")
        os.mkdir(inc)
        with open(os.path.join(inc, "features.h"), "w") as f:
            f.write("#include_next <features.h>\n"
                    "#if defined _FORTIFY_SOURCE && _FORTIFY_SOURCE > 2\n"
                    "# warning _FORTIFY_SOURCE > 2 is treated like 2 on this platform\n"
                    "#endif\n")
        old = flags(os.path.join(tmp, "old"), "CFLAGS=-O2 -g -I" + inc)
        self.assertIn("-D_FORTIFY_SOURCE=2", old["hardening"])
        self.assertNotIn("-D_FORTIFY_SOURCE=3", old["hardening"])
        self.assertIn("-fstack-protector-strong", old["hardening"])
        # The code compiles with it, warning-free.
        p = make("BUILD=" + os.path.join(tmp, "old"), "CFLAGS=-O2 -g -I" + inc,
                 os.path.join(tmp, "old", "obj", "lib", "util.o"))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertNotRegex(p.stdout + p.stderr, r"warning:|error:")
        # An unknown compiler option is probed away, not passed on.
        fake = os.path.join(tmp, "cc-no-cf")
        with open(fake, "w") as f:
            f.write("#!/bin/sh\nfor a; do case $a in -fcf-protection*) "
                    "echo \"cc: error: unrecognized option '$a'\" >&2; exit 1;; esac; done\n"
                    "exec gcc \"$@\"\n")
        os.chmod(fake, 0o755)
        nocf = flags(os.path.join(tmp, "nocf"), "CC=" + fake)
        self.assertNotIn("-fcf-protection", nocf["hardening"])
        self.assertIn("-fstack-clash-protection", nocf["hardening"])

    @unittest.skipUnless(shutil.which(CROSS_CC), "no %s (scripts/provision.sh)" % CROSS_CC)
    def test_cross_build_aarch64(self):
        p = make("cross")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertNotRegex(p.stdout + p.stderr, r"warning:|error:")
        self.assert_tree("build-aarch64", "AArch64")
        f = flags("build-aarch64", "CC=" + CROSS_CC)
        self.assertNotIn("-fcf-protection", f["hardening"])
        self.assertIn("-mbranch-protection=standard", f["hardening"])
        # Linked against the target's libraries.
        d = subprocess.run(["aarch64-linux-gnu-readelf", "-d",
                            os.path.join(TOP, "build-aarch64", "lsf-criu")],
                           capture_output=True, text=True).stdout
        for lib in ("libjansson.so", "libmount.so", "libcap.so", "libc.so"):
            self.assertIn(lib, d)
        # And its objects stay within glibc 2.28 too, checked against the arm64 C library.
        objs = sorted(os.path.join(r, n) for r, _, ns in
                      os.walk(os.path.join(TOP, "build-aarch64", "obj")) for n in ns)
        p = subprocess.run([os.path.join(TOP, "scripts", "glibc-floor.sh"), "-l",
                            "/usr/lib/aarch64-linux-gnu/libc.so.6"] + objs,
                           capture_output=True, text=True,
                           env=dict(os.environ, NM="aarch64-linux-gnu-nm",
                                    OBJDUMP="aarch64-linux-gnu-objdump"))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("glibc-floor: ok", p.stdout)


class GlibcFloor(unittest.TestCase):
    def test_programs_gcc_and_clang(self):
        for args in ((), ("BUILD=build-clang", "CC=clang")):
            p = make("glibc-floor", *args)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertIn("glibc-floor: ok: no call newer than glibc 2.28", p.stdout)
            # The documented exceptions are named, not hidden.
            self.assertRegex(p.stdout, r"exempt: stat \(GLIBC_2\.33")

    def test_newer_calls_are_found(self):
        # The check can fail: calls of glibc 2.32, 2.34 and 2.36 in an object.
        tmp = tempfile.mkdtemp(prefix="lsfcriu-floor-", dir="/var/tmp")
        self.addCleanup(shutil.rmtree, tmp, True)
        src = os.path.join(tmp, "new.c")
        with open(src, "w") as f:
            f.write("#define _GNU_SOURCE\n#include <signal.h>\n#include <string.h>\n"
                    "#include <unistd.h>\n#include <sys/stat.h>\n"
                    "int f(int s, struct stat *st) { close_range(3, ~0U, 0);\n"
                    "  stat(\"/\", st); return sigabbrev_np(s) != 0; }\n")
        obj = os.path.join(tmp, "new.o")
        subprocess.run(["cc", "-c", src, "-o", obj], check=True)
        p = subprocess.run([os.path.join(TOP, "scripts", "glibc-floor.sh"), obj],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("new.o: close_range (GLIBC_2.34)", p.stdout)
        self.assertIn("new.o: sigabbrev_np (GLIBC_2.32)", p.stdout)
        self.assertNotIn("new.o: stat ", p.stdout)
        self.assertIn("FAILED: 2 call(s) newer than glibc 2.28", p.stdout)
        # Against a later floor both are fine.
        p = subprocess.run([os.path.join(TOP, "scripts", "glibc-floor.sh"), "-f", "2.34", obj],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout)


class CriuRecord(ClusterTest):
    """criu's version is learnt once per binary (root's lsf-criu check records it),
    not by running 'criu --version' on every checkpoint."""

    def spy(self):
        """A criu that counts its --version calls and runs the real criu for the rest
        (a spy, not a stand-in: every dump is the real criu's, with its capabilities)."""
        d = tempfile.mkdtemp(prefix="lsfcriu-spy-", dir="/var/tmp")
        self.addCleanup(shutil.rmtree, d, True)
        os.chmod(d, 0o755)
        count = os.path.join(d, "version-calls")
        with open(count, "w"):
            pass
        os.chmod(count, 0o666)
        path = os.path.join(d, "criu")
        with open(path, "w") as f:
            f.write("#!/bin/sh\n[ \"$1\" = --version ] && echo x >>%s\nexec %s \"$@\"\n"
                    % (count, cluster.criu_path()))
        os.chmod(path, 0o755)
        return path, lambda: len(open(count).read().split())

    def checkpoint(self, jid):
        before = self.c.log_text(jid).count("left running")
        p = self.c.bchkpnt(jid)
        self.assertEqual(p.returncode, 0, p.stderr)
        wait_for(lambda: self.c.log_text(jid).count("left running") > before, 60, 0.2,
                 "checkpoint of job %s" % jid)

    def test_version_asked_once_per_binary(self):
        criu, calls = self.spy()
        admin = os.path.join(TOP, "build", "lsf-criu")
        p = subprocess.run([admin, "check", "--json", "--criu", criu, "--probe",
                            "criu-version"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("recorded for the other programs", p.stdout)
        self.assertEqual(calls(), 1)
        # A job owner's check, and two checkpoints: criu is not asked again.
        p = self.c.run([admin, "check", "--criu", criu, "--probe", "criu-version"])
        self.assertIn("from root's record, criu not run", p.stdout)
        self.c.lsf_criu_conf("criu = %s\n" % criu)
        jid, out = self.c.chk_bsub(["/bin/sh", COUNTER, "100000", "0.05", "0"])
        self.c.wait_state(jid, ("RUN",))
        wait_for(lambda: counts(self.c.job(jid).get("spool_out") or ""), 60, 0.1, "counting")
        self.checkpoint(jid)
        self.checkpoint(jid)
        self.assertEqual(calls(), 1, self.c.log_text(jid))
        # Another binary at that path (here: a new mtime) is asked again, and every time
        # until root records it.
        os.utime(criu)
        self.checkpoint(jid)
        self.assertEqual(calls(), 2)
        self.checkpoint(jid)
        self.assertEqual(calls(), 3)
        self.c.bkill(jid)
        self.c.wait_state(jid)


class OldKernel(ClusterTest):
    """The build-compat programs (every fallback of compat.c, Linux 4.18's answers)
    checkpoint and restart real jobs."""

    def setUp(self):
        p = make("compat-build")
        if p.returncode != 0:
            raise AssertionError(p.stdout + p.stderr)
        self.build = os.path.join(TOP, "build-compat")
        saved = cluster.BUILD
        cluster.BUILD = self.build
        self.addCleanup(setattr, cluster, "BUILD", saved)
        super().setUp()

    def spool_counts(self, jid):
        return counts(self.c.job(jid).get("spool_out") or "")

    def wait_counting(self, jid, n):
        wait_for(lambda: len(self.spool_counts(jid)) >= n, 60, 0.1,
                 "job %s to count to %d" % (jid, n))

    def cycle(self, jid):
        p = self.c.bchkpnt(jid, kill=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.c.wait_state(jid)
        self.assertIn("checkpoint of job %s done" % jid, self.c.log_text(jid))
        new, p = self.c.brestart(jid)
        self.assertIsNotNone(new, p.stdout + p.stderr)
        self.c.wait_state(new, ("RUN",))
        return new

    def test_checkpoint_restart_with_fallbacks(self):
        jid, out = self.c.chk_bsub(["/bin/sh", COUNTER, "100", "0.05", "0"])
        self.c.wait_state(jid, ("RUN",))
        self.wait_counting(jid, 5)
        j2 = self.cycle(jid)
        self.wait_counting(j2, 3)
        j3 = self.cycle(j2)
        rec = self.c.wait_state(j3, timeout=120)
        self.assertEqual(rec["stat"], "DONE", self.c.log_text(j3))
        assert_continuous(self, counts(out), 1, 100)

    def test_starter_without_cap_checkpoint_restore_uses_host_pids(self):
        # Before Linux 5.9 criu cannot be given CAP_CHECKPOINT_RESTORE in the job's
        # namespaces: the starter says so, runs the job with host PIDs, and the job
        # is still checkpointed and restarted.
        jid, out = self.c.chk_bsub([os.path.join(self.c.serverdir, "lsf-criu-start"),
                                    "/bin/sh", COUNTER, "60", "0.05", "0"])
        self.c.wait_state(jid, ("RUN",))
        self.wait_counting(jid, 5)
        log = self.c.log_text(jid)
        self.assertIn("CAP_CHECKPOINT_RESTORE (Linux 5.9 or newer needed", log)
        self.assertIn("running job %s with host PIDs" % jid, log)
        self.assertFalse(os.path.exists(os.path.join(self.c.chkdir(jid), "lsf-criu.starter")))
        j2 = self.cycle(jid)
        rec = self.c.wait_state(j2, timeout=120)
        self.assertEqual(rec["stat"], "DONE", self.c.log_text(j2))
        assert_continuous(self, counts(out), 1, 60)


if __name__ == "__main__":
    unittest.main()
