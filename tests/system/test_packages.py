#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Packages an admin deploys to every host: the release tarball (one version, the
commit inside), the RPM (built here with Debian's rpm; its files and scriptlets
inspected, the scriptlets run), the Debian package (built, installed, a real job
checkpointed and restarted by the installed programs through LSF_SERVERDIR links,
purged), and make install / make uninstall."""

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
with open(os.path.join(TOP, "VERSION")) as _f:
    VERSION = _f.read().strip()
METHOD = ("echkpnt.criu", "erestart.criu", "lsf-criu-restore", "lsf-criu-terminate",
          "lsf-criu-postexec", "lsf-criu-start", "lsf-criu-streamer")
MANPAGES = ("man8/echkpnt.criu.8", "man8/erestart.criu.8", "man8/lsf-criu-restore.8",
            "man8/lsf-criu-terminate.8", "man8/lsf-criu-postexec.8", "man8/lsf-criu-start.8",
            "man8/lsf-criu-streamer.8", "man8/lsf-criu.8", "man5/lsf-criu.conf.5")
# What a host needs, wherever the package puts it.
EXPECTED = (["/usr/bin/lsf-criu", "/etc/lsf-criu.conf", "/var/cache/lsf-criu",
             "/usr/share/doc/lsf-criu/examples/lsf-criu.conf",
             "/usr/share/doc/lsf-criu/examples/lsb.queues"]
            + ["/usr/libexec/lsf-criu/" + p for p in METHOD]
            + ["/usr/share/man/" + m for m in MANPAGES])


def sh(*argv, check=True, **kw):
    p = subprocess.run(list(argv), capture_output=True, text=True, timeout=900, **kw)
    if check and p.returncode != 0:
        raise AssertionError("%r failed (%d): %s %s" % (argv, p.returncode, p.stdout, p.stderr))
    return p


def make(*args):
    return sh("make", "--no-print-directory", "-C", TOP, *args)


def git_id():
    return sh("git", "-C", TOP, "rev-parse", "--short=12", "HEAD").stdout.strip()


def th_line(path):
    """The .TH line of a man page (its title, section, date, source)."""
    with open(path) as f:
        return next((line for line in f if line.startswith(".TH ")), "")


def has_file(listing, path):
    """path, or path.gz (compressed man pages and docs), is in the listing."""
    return path in listing or path + ".gz" in listing


class Tmp(unittest.TestCase):
    def tmpdir(self, name):
        d = tempfile.mkdtemp(prefix="lsfcriu-%s-" % name, dir="/var/tmp")
        self.addCleanup(shutil.rmtree, d, True)
        return d


class Dist(Tmp):
    def test_tarball_builds_outside_git_with_its_version(self):
        make("dist")
        tar = os.path.join(TOP, "build-dist", "lsf-criu-%s.tar.gz" % VERSION)
        names = sh("tar", "tzf", tar).stdout.split()
        top = "lsf-criu-%s/" % VERSION
        self.assertTrue(all(n.startswith(top) for n in names))
        for f in ("VERSION", "GITID", "lsf-criu.spec", "Makefile", "COPYING",
                  "debian/control", "debian/rules", "src/lib/compat.c", "man/lsf-criu.8"):
            self.assertIn(top + f, names)
        self.assertFalse([n for n in names if re.match(r"[^/]+/build", n)], "build trees")
        # Outside git, the version and commit come from the tarball.
        d = self.tmpdir("dist")
        sh("tar", "-C", d, "-xzf", tar)
        src = os.path.join(d, top)
        self.assertFalse(os.path.exists(os.path.join(d, ".git")))
        p = sh("make", "-s", "-C", src, "print-version",
               env=dict(os.environ, GIT_DIR=os.path.join(d, "no-git")))
        self.assertEqual(p.stdout.split(), [VERSION, git_id()])
        with open(os.path.join(src, "lsf-criu.spec")) as f:
            spec = f.read()
        self.assertRegex(spec, r"(?m)^Version: +%s$" % re.escape(VERSION))
        self.assertNotIn("@", re.sub(r"<[^>]*>", "", spec.split("%changelog")[1]))


class Rpm(Tmp):
    @classmethod
    def setUpClass(cls):
        if not shutil.which("rpmbuild"):
            raise unittest.SkipTest("no rpmbuild (scripts/provision.sh installs rpm)")
        make("rpm")
        d = os.path.join(TOP, "build-rpm", "RPMS")
        cls.rpm = [os.path.join(r, n) for r, _, ns in os.walk(d) for n in ns
                   if n.endswith(".rpm")][0]

    def q(self, *args):
        return sh("rpm", "-qp", *args, self.rpm).stdout

    def test_identity(self):
        self.assertEqual(self.q("--qf", "%{NAME} %{VERSION} %{RELEASE} %{LICENSE}"),
                         "lsf-criu %s 1 GPL-2.0-or-later" % VERSION)
        self.assertTrue(os.path.exists(os.path.join(
            TOP, "build-rpm", "SRPMS", "lsf-criu-%s-1.src.rpm" % VERSION)))

    def test_contents(self):
        files = self.q("-l").split()
        for path in EXPECTED:
            self.assertTrue(has_file(files, path), path)
        self.assertTrue([f for f in files if f.endswith("/COPYING")])
        self.assertEqual(self.q("--configfiles").split(), ["/etc/lsf-criu.conf"])
        # No criu in the package: the private capable copy is the admin's (README).
        self.assertFalse([f for f in files if f.endswith("/criu")])
        # The payload: programs that run and report this version, with the package's
        # paths compiled in; man pages of this version.
        d = self.tmpdir("rpm")
        cpio = subprocess.Popen(["rpm2cpio", self.rpm], stdout=subprocess.PIPE)
        sh("cpio", "-idm", "--quiet", cwd=d, stdin=cpio.stdout)
        cpio.wait()
        p = sh(os.path.join(d, "usr/bin/lsf-criu"), "--version")
        self.assertRegex(p.stdout, r"^lsf-criu \(lsf-criu\) %s \([0-9a-f]{12}\)"
                         % re.escape(VERSION))
        p = sh(os.path.join(d, "usr/bin/lsf-criu"), "install", "--help")
        self.assertIn("/usr/libexec/lsf-criu", p.stdout)
        for m in MANPAGES:
            self.assertIn('"lsf-criu %s"' % VERSION, th_line(os.path.join(d, "usr/share/man", m)),
                          m)

    def test_scriptlets(self):
        scripts = self.q("--scripts")
        self.assertIn("preinstall scriptlet", scripts)
        self.assertIn("postinstall scriptlet", scripts)
        self.assertIn("postuninstall scriptlet", scripts)
        self.assertEqual(self.q("--qf", "%{PREUNPROG}").strip(), "(none)")
        pre, post, postun = (self.q("--qf", "%%{%s}" % t) for t in ("PREIN", "POSTIN",
                                                                      "POSTUN"))
        for body in (pre, post, postun):
            sh("sh", "-n", "-c", body)
        # %pre creates the group once and is idempotent; it never fails the install.
        self.assertIn("getent group lsf-criu >/dev/null || groupadd -r lsf-criu", pre)
        for _ in range(2):
            sh("sh", "-c", pre)
        sh("getent", "group", "lsf-criu")
        # %post records criu's version and never fails, even with no lsf-criu there.
        self.assertIn("lsf-criu check --probe criu-version", post)
        self.assertEqual(sh("sh", "-c", post, check=False).returncode, 0)
        # %postun removes the record on erase ($1 = 0) only, not on upgrade ($1 = 1):
        # run for real, on a private tmpfs over the record's directory.
        for arg, gone in (("1", False), ("0", True)):
            test = ("mount -t tmpfs none /var/cache/lsf-criu && "
                    "touch /var/cache/lsf-criu/criu-versions.json && "
                    "sh -c '%s' postun %s && "
                    "if [ -e /var/cache/lsf-criu/criu-versions.json ]; then echo kept; "
                    "else echo gone; fi" % (postun.replace("'", "'\\''"), arg))
            os.makedirs("/var/cache/lsf-criu", exist_ok=True)
            p = sh("unshare", "--mount", "--propagation", "private", "sh", "-c", test)
            self.assertEqual(p.stdout.strip(), "gone" if gone else "kept", arg)


class Deb(ClusterTest):
    """The Debian package: built, installed here, used by a real checkpoint and restart
    through LSF_SERVERDIR links made by the installed lsf-criu, then purged."""

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0 or not shutil.which("dpkg-buildpackage"):
            raise unittest.SkipTest("needs root and dpkg-buildpackage")
        if subprocess.run(["dpkg", "-s", "lsf-criu"], capture_output=True).returncode == 0:
            raise unittest.SkipTest("an lsf-criu package is installed on this host already")
        make("deb")
        cls.deb = os.path.join(TOP, "build-deb", "lsf-criu_%s_%s.deb" % (
            VERSION, sh("dpkg", "--print-architecture").stdout.strip()))

    def test_build_install_use_purge(self):
        listing = sh("dpkg-deb", "-c", self.deb).stdout
        files = [line.split()[-1].lstrip(".").rstrip("/") for line in listing.splitlines()]
        for path in EXPECTED:
            self.assertTrue(has_file(files, path), path)
        self.assertEqual(sh("dpkg-deb", "-f", self.deb, "Version").stdout.strip(), VERSION)
        ctl = self.tmpdir_ctl = tempfile.mkdtemp(prefix="lsfcriu-debctl-", dir="/var/tmp")
        self.addCleanup(shutil.rmtree, ctl, True)
        sh("dpkg-deb", "-e", self.deb, ctl)
        with open(os.path.join(ctl, "conffiles")) as f:
            self.assertEqual(f.read().split(), ["/etc/lsf-criu.conf"])

        self.addCleanup(subprocess.run, ["dpkg", "--purge", "lsf-criu"], capture_output=True)
        sh("dpkg", "-i", self.deb)
        p = sh("/usr/bin/lsf-criu", "--version")
        self.assertIn(" %s " % VERSION, p.stdout)
        sh("getent", "group", "lsf-criu")
        # The installed lsf-criu links the installed programs into LSF_SERVERDIR ...
        p = sh("/usr/bin/lsf-criu", "install", "--serverdir", self.c.serverdir, "--link")
        self.assertIn("from '/usr/libexec/lsf-criu'", p.stdout)
        for name in METHOD:
            self.assertEqual(os.readlink(os.path.join(self.c.serverdir, name)),
                             "/usr/libexec/lsf-criu/" + name)
        # ... and a real job is checkpointed, killed and restarted by them.
        jid, out = self.c.chk_bsub(["/bin/sh", COUNTER, "60", "0.05", "0"])
        self.c.wait_state(jid, ("RUN",))
        wait_for(lambda: len(counts(self.c.job(jid).get("spool_out") or "")) >= 5, 60, 0.1,
                 "counting")
        p = self.c.bchkpnt(jid, kill=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.c.wait_state(jid)
        new, p = self.c.brestart(jid)
        self.assertIsNotNone(new, p.stdout + p.stderr)
        rec = self.c.wait_state(new, timeout=120)
        self.assertEqual(rec["stat"], "DONE", self.c.log_text(new))
        assert_continuous(self, counts(out), 1, 60)
        log = self.c.log_text(new)
        self.assertIn("restored in", log)
        # erestart.criu, run through its link, named the installed restorer.
        self.assertRegex(log, r"wrote \.restart_cmd: .*'/usr/libexec/lsf-criu/lsf-criu-restore' ")
        # Out of LSF_SERVERDIR again, then purged: nothing of the package is left.
        p = sh("/usr/bin/lsf-criu", "install", "--serverdir", self.c.serverdir, "--remove")
        self.assertFalse(set(METHOD) & set(os.listdir(self.c.serverdir)))
        sh("dpkg", "--purge", "lsf-criu")
        for path in ("/usr/bin/lsf-criu", "/usr/libexec/lsf-criu", "/etc/lsf-criu.conf"):
            self.assertFalse(os.path.exists(path), path)


class MakeInstall(Tmp):
    def test_install_and_uninstall(self):
        # The build tree's own paths (PREFIX /usr/local): no rebuild of build/ here.
        root = self.tmpdir("destdir")
        make("install", "DESTDIR=" + root)
        found = set()
        for r, ds, fs in os.walk(root):
            for n in ds + fs:
                found.add(os.path.join(r, n)[len(root):])
        for path in EXPECTED:
            self.assertIn(path.replace("/usr/", "/usr/local/"), found)
        self.assertEqual(os.stat(root + "/usr/local/bin/lsf-criu").st_mode & 0o7777, 0o755)
        for m in MANPAGES:
            self.assertIn('"lsf-criu %s"' % VERSION, th_line(root + "/usr/local/share/man/" + m),
                          m)
        # The installed lsf-criu finds the installed programs.
        p = sh(root + "/usr/local/bin/lsf-criu", "install", "--help")
        self.assertIn("/usr/local/libexec/lsf-criu", p.stdout)
        make("uninstall", "DESTDIR=" + root)
        left = [os.path.join(r, n)[len(root):] for r, ds, fs in os.walk(root) for n in fs]
        self.assertEqual(left, [])
        # A configuration file the admin changed is kept.
        make("install", "DESTDIR=" + root)
        with open(root + "/etc/lsf-criu.conf", "a") as f:
            f.write("pid_wait_seconds = 5\n")
        make("uninstall", "DESTDIR=" + root)
        self.assertTrue(os.path.exists(root + "/etc/lsf-criu.conf"))


if __name__ == "__main__":
    unittest.main()
