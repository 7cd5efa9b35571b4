#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""lsf-criu, the administrator's tool: `check` on the real criu (as root and as
the non-root test user) and on broken variants (criu missing, too old, without
capabilities, with too many, on a nosuid mount; foreign and world-writable
checkpoint directories), `status` of a chain made by a real run-limit cycle and
of a corrupt ledger, `install` into a server directory, and the command line."""

import json
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import unittest

import test_overrun as overrun
from cluster import (BUILD, OTHER_USER, USER, ClusterTest, counts, criu_path, ensure_users,
                     wait_for)

ADMIN = os.path.join(BUILD, "lsf-criu")
FAULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "faults")
PROGRAMS_INSTALLED = ("echkpnt.criu", "erestart.criu", "lsf-criu-restore", "lsf-criu-terminate",
       "lsf-criu-postexec", "lsf-criu-start", "lsf-criu-streamer", "lsf-criu")
REQUIRED = ("criu-path", "criu-version", "criu-check", "criu-caps", "criu-mount")
TRY = "Try 'lsf-criu --help' for more information."


def run(args, user=None, env=None):
    """Runs lsf-criu as root, or as user through runuser, with a clean environment."""
    e = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}
    e.update(env or {})
    cmd = [ADMIN] + list(args)
    if user:
        cmd = ["runuser", "-u", user, "--"] + cmd
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=e, cwd="/")


def sane(tc, p):
    """No crash, no sanitizer report, no traceback: whatever the verdict."""
    tc.assertIn(p.returncode, (0, 1, 2), p.stderr)
    for bad in ("Sanitizer", "runtime error", "Segmentation", "Traceback"):
        tc.assertNotIn(bad, p.stderr)


class AdminTest(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root (runuser, chown, setcap)")
        ensure_users()
        self.pw = pwd.getpwnam(USER)
        self.tmp = tempfile.mkdtemp(prefix="lsfcriu-admin-", dir="/var/tmp")
        os.chmod(self.tmp, 0o755)
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def user_dir(self, name, user=USER, mode=0o700):
        pw = pwd.getpwnam(user)
        path = os.path.join(self.tmp, name)
        os.mkdir(path)
        os.chown(path, pw.pw_uid, pw.pw_gid)
        os.chmod(path, mode)
        return path

    def check_json(self, args, user=None):
        p = run(["check", "--json"] + list(args), user=user)
        sane(self, p)
        doc = json.loads(p.stdout)
        return p, doc, {pr["name"]: pr for pr in doc["probes"]}

    def copy_criu(self, name="criu", caps=None, where=None):
        """A copy of the real criu (shutil.copy drops the capability xattr)."""
        d = where or os.path.join(self.tmp, "criu-copy")
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o755)
        dst = os.path.join(d, name)
        shutil.copy(criu_path(), dst)
        os.chmod(dst, 0o755)
        if caps:
            subprocess.run(["setcap", caps, dst], check=True)
        return dst


class Check(AdminTest):
    def assert_all_required_ok(self, probes):
        for name in REQUIRED:
            self.assertEqual(probes[name]["status"], "OK", probes[name])
            self.assertIsNone(probes[name]["fix"])

    def test_real_criu_as_root(self):
        p, doc, probes = self.check_json(["--criu", criu_path()])
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assert_all_required_ok(probes)
        self.assertIn("Looks good", probes["criu-check"]["finding"])
        self.assertNotIn("--unprivileged", probes["criu-check"]["finding"])
        self.assertIn(doc["worst"], ("OK", "WARN"))
        # The table for humans: one line per probe, and the verdict at the end.
        p = run(["check", "--criu", criu_path()])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        for name in REQUIRED:
            self.assertRegex(p.stdout, r"(?m)^%s +OK " % re.escape(name))
        self.assertRegex(p.stdout, r"(?m)^result: (OK|WARN)")

    def test_real_criu_as_user(self):
        own = self.user_dir("ckpt")
        p, doc, probes = self.check_json(["--criu", criu_path(), "--dir", own], user=USER)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assert_all_required_ok(probes)
        self.assertIn("check --unprivileged", probes["criu-check"]["finding"])
        self.assertIn("Looks good", probes["criu-check"]["finding"])
        self.assertEqual(probes["ckpt-dir"]["status"], "OK", probes["ckpt-dir"])
        self.assertIn(probes["ckpt-space"]["status"], ("OK", "WARN"))
        self.assertEqual(doc["uid"], self.pw.pw_uid)

    def test_configured_criu_is_the_default(self):
        # Without --criu, the path comes from the same configuration as the other programs:
        # the admin's lsf-criu.conf in LSF_ENVDIR (root-owned here), and $LSF_CRIU_CRIU only
        # where that configuration allows user overrides.
        envdir = os.path.join(self.tmp, "conf")
        os.mkdir(envdir, 0o755)
        conf = os.path.join(envdir, "lsf-criu.conf")
        with open(conf, "w") as f:
            f.write("criu = /nonexistent/admin-criu\n")
        env = {"LSF_ENVDIR": envdir, "LSF_CRIU_CRIU": "/nonexistent/criu"}
        r = run(["check", "--json", "--probe", "criu-path"], user=USER, env=env)
        sane(self, r)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["criu"], "/nonexistent/admin-criu")
        self.assertEqual(doc["probes"][0]["status"], "FAIL")
        self.assertIn(conf, doc["probes"][0]["finding"])
        self.assertIn("LSF_CRIU_CRIU='/nonexistent/criu' is ignored", r.stderr)
        self.assertEqual(r.returncode, 1)
        with open(conf, "a") as f:
            f.write("allow_user_overrides = yes\n")
        r = run(["check", "--json", "--probe", "criu-path"], user=USER, env=env)
        sane(self, r)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["criu"], "/nonexistent/criu")
        self.assertEqual(doc["probes"][0]["status"], "FAIL")
        self.assertIn("LSF_CRIU_CRIU", doc["probes"][0]["finding"])
        self.assertEqual(r.returncode, 1)

    def test_criu_missing(self):
        p, doc, probes = self.check_json(["--criu", "/nonexistent"])
        self.assertEqual(p.returncode, 1)
        self.assertEqual(doc["worst"], "FAIL")
        self.assertEqual(probes["criu-path"]["status"], "FAIL")
        self.assertIn("not found", probes["criu-path"]["finding"])
        self.assertTrue(probes["criu-path"]["fix"])

    def test_criu_too_old(self):
        p, doc, probes = self.check_json(["--criu", os.path.join(FAULTS, "criu-3.17")])
        self.assertEqual(p.returncode, 1)
        self.assertEqual(probes["criu-version"]["status"], "FAIL")
        self.assertIn("3.17", probes["criu-version"]["finding"])
        self.assertIn("4.2", probes["criu-version"]["finding"])

    def test_missing_capability(self):
        criu = self.copy_criu()
        for user in (None, USER):
            p = run(["check", "--criu", criu], user=user)
            sane(self, p)
            self.assertEqual(p.returncode, 1, p.stdout)
            self.assertRegex(p.stdout, r"(?m)^criu-caps +FAIL ")
            self.assertIn("fix: setcap cap_checkpoint_restore,cap_setpcap=ep %s" % criu,
                          p.stdout)
        p, doc, probes = self.check_json(["--criu", criu], user=USER)
        self.assertEqual(probes["criu-caps"]["status"], "FAIL")
        self.assertEqual(probes["criu-caps"]["fix"],
                         "setcap cap_checkpoint_restore,cap_setpcap=ep %s" % criu)
        # criu itself agrees: as non-root, its own check fails without the capabilities.
        self.assertEqual(probes["criu-check"]["status"], "FAIL")
        # The fix works.
        subprocess.run(probes["criu-caps"]["fix"].split(), check=True)
        p, doc, probes = self.check_json(["--criu", criu], user=USER)
        self.assertEqual(p.returncode, 0, probes)
        self.assertEqual(probes["criu-caps"]["status"], "OK")
        self.assertEqual(probes["criu-check"]["status"], "OK")

    def test_more_capabilities_than_needed_warns(self):
        criu = self.copy_criu(caps="cap_checkpoint_restore,cap_setpcap,cap_sys_admin=ep")
        p = run(["check", "--criu", criu, "--probe", "criu-caps"], user=USER)
        sane(self, p)
        # A warning is printed with its fix but does not fail the check.
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertRegex(p.stdout, r"(?m)^criu-caps +WARN .*cap_sys_admin")
        self.assertIn("fix: setcap cap_checkpoint_restore,cap_setpcap=ep %s" % criu, p.stdout)
        self.assertRegex(p.stdout, r"(?m)^result: WARN")
        # cap_net_admin is only for TCP: tolerated.
        subprocess.run(["setcap", "cap_checkpoint_restore,cap_setpcap,cap_net_admin=ep", criu],
                       check=True)
        p, doc, probes = self.check_json(["--criu", criu, "--probe", "criu-caps"])
        self.assertEqual(probes["criu-caps"]["status"], "OK")
        self.assertIn("TCP", probes["criu-caps"]["finding"])

    def test_nosuid_mount(self):
        # A blank in the mount point: mountinfo escapes it (\\040); libmount undoes that.
        mnt = os.path.join(self.tmp, "no suid")
        os.mkdir(mnt)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "nosuid,size=256m", "tmpfs", mnt],
                           capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest("cannot mount a tmpfs here: %s" % r.stderr.strip())
        self.addCleanup(subprocess.run, ["umount", "-l", mnt], check=False)
        criu = self.copy_criu(caps="cap_checkpoint_restore,cap_setpcap=ep", where=mnt)
        p, doc, probes = self.check_json(["--criu", criu], user=USER)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(probes["criu-mount"]["status"], "FAIL")
        self.assertIn("nosuid", probes["criu-mount"]["finding"])
        self.assertIn("remount,suid", probes["criu-mount"]["fix"])
        self.assertIn("mounted at '%s'" % mnt, probes["criu-mount"]["finding"])
        self.assertIn("tmpfs", probes["criu-mount"]["finding"])
        # The capabilities are there, but the kernel ignores them: criu check fails.
        self.assertEqual(probes["criu-caps"]["status"], "OK")
        self.assertEqual(probes["criu-check"]["status"], "FAIL")

    def test_dir_of_another_user(self):
        foreign = self.user_dir("foreign", user=OTHER_USER, mode=0o755)
        p, doc, probes = self.check_json(["--criu", criu_path(), "--dir", foreign], user=USER)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(probes["ckpt-dir"]["status"], "FAIL")
        self.assertIn(OTHER_USER, probes["ckpt-dir"]["finding"])

    def test_world_writable_dir(self):
        for user in (None, USER):
            d = self.user_dir("ww-%s" % (user or "root"), user=user or "root", mode=0o777)
            p, doc, probes = self.check_json(["--criu", criu_path(), "--dir", d], user=user)
            self.assertEqual(p.returncode, 1)
            self.assertEqual(probes["ckpt-dir"]["status"], "FAIL")
            self.assertIn("0777", probes["ckpt-dir"]["finding"])
            self.assertIn("chmod go-w", probes["ckpt-dir"]["fix"])

    def test_missing_dir(self):
        p, doc, probes = self.check_json(["--criu", criu_path(), "--dir",
                                          os.path.join(self.tmp, "nope")], user=USER)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(probes["ckpt-dir"]["status"], "FAIL")
        self.assertIn("mkdir", probes["ckpt-dir"]["fix"])

    def test_json_shape(self):
        p, doc, probes = self.check_json(["--criu", criu_path()])
        self.assertIn(doc["worst"], ("OK", "WARN", "FAIL"))
        order = {"OK": 0, "WARN": 1, "FAIL": 2}
        self.assertEqual(doc["worst"], max((pr["status"] for pr in doc["probes"]),
                                           key=order.get))
        for pr in doc["probes"]:
            self.assertEqual(set(pr), {"name", "status", "required", "finding", "fix"})
            self.assertIn(pr["status"], order)
            self.assertTrue(pr["finding"])
            if not pr["required"]:
                self.assertNotEqual(pr["status"], "FAIL", pr)
        for name in REQUIRED + ("userns", "ptrace-scope", "cgroup", "pid-max"):
            self.assertIn(name, probes)
        self.assertRegex(probes["cgroup"]["finding"], r"cgroup (v2|v1|hybrid)")
        self.assertIn("pid_max", probes["pid-max"]["finding"])

    def test_one_probe(self):
        p, doc, probes = self.check_json(["--probe", "pid-max"])
        self.assertEqual(list(probes), ["pid-max"])
        p = run(["check", "--probe", "no-such-probe"])
        self.assertEqual(p.returncode, 2)
        self.assertIn(TRY, p.stderr)
        p = run(["check", "--probe", "ckpt-dir"])
        self.assertEqual(p.returncode, 2)
        self.assertIn("--dir", p.stderr)

    def test_lsb_queues(self):
        envdir = os.path.join(self.tmp, "conf")
        os.mkdir(envdir)
        with open(os.path.join(envdir, "lsf.conf"), "w") as f:
            f.write("LSF_SERVERDIR=/opt/lsf/etc\n")
        with open(os.path.join(envdir, "lsb.queues"), "w") as f:
            f.write(overrun.QUEUES.replace("{serverdir}", "/opt/lsf/etc"))
        p, doc, probes = self.check_json(["--lsf-envdir", envdir, "--probe", "lsb-queues"])
        self.assertEqual(probes["lsb-queues"]["status"], "OK", probes)
        self.assertIn("'normal'", probes["lsb-queues"]["finding"])
        with open(os.path.join(envdir, "lsb.queues"), "w") as f:
            f.write("Begin Queue\nQUEUE_NAME = normal\nRUNLIMIT = 2\nEnd Queue\n")
        p = run(["check", "--lsf-envdir", envdir, "--probe", "lsb-queues"])
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout, r"(?m)^lsb-queues +WARN ")
        self.assertIn("JOB_CONTROLS = TERMINATE[/opt/lsf/etc/lsf-criu-terminate]", p.stdout)
        self.assertIn("POST_EXEC    = /opt/lsf/etc/lsf-criu-postexec", p.stdout)


GROUP = "lsf-criu"


def ensure_group():
    """The group that may run the capable criu (created once, like the test users)."""
    if subprocess.run(["getent", "group", GROUP], capture_output=True).returncode != 0:
        subprocess.run(["groupadd", "--system", GROUP], check=True)


class InstallModes(AdminTest):
    """capabilities (criu with file capabilities, executable by group lsf-criu only) and
    starter-only (no file capability; only jobs under lsf-criu-start), and whether
    lsb.queues agrees."""

    def conf(self, text):
        """The admin's configuration: lsf-criu.conf in a root-owned LSF_ENVDIR."""
        envdir = os.path.join(self.tmp, "admin-conf")
        os.makedirs(envdir, 0o755, exist_ok=True)
        path = os.path.join(envdir, "lsf-criu.conf")
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)
        return {"LSF_ENVDIR": envdir}

    def queues(self, starter):
        envdir = os.path.join(self.tmp, "conf-%s" % starter)
        os.mkdir(envdir)
        os.chmod(envdir, 0o755)
        with open(os.path.join(envdir, "lsf.conf"), "w") as f:
            f.write("LSF_SERVERDIR=/opt/lsf/etc\n")
        with open(os.path.join(envdir, "lsb.queues"), "w") as f:
            f.write("Begin Queue\nQUEUE_NAME = long\n"
                    "JOB_CONTROLS = TERMINATE[/opt/lsf/etc/lsf-criu-terminate]\n"
                    "POST_EXEC = /opt/lsf/etc/lsf-criu-postexec\n%sEnd Queue\n"
                    % ("JOB_STARTER = /opt/lsf/etc/lsf-criu-start %USRCMD\n" if starter else ""))
        return envdir

    def probes(self, args, user=None, env=None):
        p = run(["check", "--json"] + list(args), user=user, env=env)
        sane(self, p)
        return p, {pr["name"]: pr for pr in json.loads(p.stdout)["probes"]}

    def test_capabilities_mode_exposure_and_its_fix(self):
        ensure_group()
        criu = self.copy_criu(caps="cap_checkpoint_restore,cap_setpcap=ep")
        p, probes = self.probes(["--criu", criu])
        self.assertEqual(probes["install-mode"]["status"], "WARN", probes["install-mode"])
        self.assertIn("every local user may run it", probes["install-mode"]["finding"])
        fix = probes["install-mode"]["fix"]
        self.assertIn("chgrp lsf-criu %s && chmod 0750 %s && setcap "
                      "cap_checkpoint_restore,cap_setpcap=ep %s" % (criu, criu, criu), fix)
        # The fix, as printed (chgrp drops the capabilities; setcap comes last).
        for cmd in fix.splitlines()[1].split(" && "):
            subprocess.run(cmd.split(), check=True)
        self.assertEqual(os.stat(criu).st_mode & 0o7777, 0o750)
        p, probes = self.probes(["--criu", criu])
        self.assertEqual(probes["install-mode"]["status"], "OK", probes["install-mode"])
        self.assertIn("only root and group lsf-criu may run it",
                      probes["install-mode"]["finding"])
        self.assertEqual(probes["criu-caps"]["status"], "OK")
        # Someone outside the group cannot run it: the check says so and fails.
        p, probes = self.probes(["--criu", criu], user=OTHER_USER)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(probes["criu-path"]["status"], "FAIL")
        self.assertIn("not executable for uid", probes["criu-path"]["finding"])
        # A member can (runuser -g: the group without changing the test user).
        p = subprocess.run(["runuser", "-u", USER, "-g", GROUP, "--", ADMIN, "check",
                            "--json", "--criu", criu], capture_output=True, text=True,
                           timeout=120, cwd="/",
                           env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"})
        doc = {pr["name"]: pr for pr in json.loads(p.stdout)["probes"]}
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertEqual(doc["criu-check"]["status"], "OK", doc["criu-check"])

    def test_starter_only_mode(self):
        plain = self.copy_criu()  # no file capability at all
        env = self.conf("install_mode = starter-only\ncriu = %s\n" % plain)
        p, probes = self.probes([], env=env)
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertEqual(probes["criu-caps"]["status"], "OK", probes["criu-caps"])
        self.assertIn("no file capabilities, as a starter-only host needs",
                      probes["criu-caps"]["finding"])
        self.assertEqual(probes["install-mode"]["status"], "OK")
        self.assertIn("starter-only", probes["install-mode"]["finding"])
        self.assertIn("only jobs started by lsf-criu-start", probes["install-mode"]["finding"])
        # As a job owner criu check cannot pass without a capability: said, not hidden.
        p, probes = self.probes([], user=USER, env=env)
        self.assertEqual(probes["criu-check"]["status"], "WARN", probes["criu-check"])
        self.assertIn("starter-only", probes["criu-check"]["finding"])
        # lsb.queues must agree: every checkpointing queue under the starter.
        p, probes = self.probes(["--lsf-envdir", self.queues(False), "--probe", "lsb-queues"],
                                env=env)
        self.assertEqual(probes["lsb-queues"]["status"], "WARN")
        self.assertIn("'long' checkpoints jobs without JOB_STARTER",
                      probes["lsb-queues"]["finding"])
        self.assertIn("JOB_STARTER = /opt/lsf/etc/lsf-criu-start %USRCMD",
                      probes["lsb-queues"]["fix"])
        p, probes = self.probes(["--lsf-envdir", self.queues(True), "--probe", "lsb-queues"],
                                env=env)
        self.assertEqual(probes["lsb-queues"]["status"], "OK", probes["lsb-queues"])
        self.assertIn("as this starter-only host needs", probes["lsb-queues"]["finding"])
        # Capabilities left on a starter-only host: needless exposure.
        subprocess.run(["setcap", "cap_checkpoint_restore,cap_setpcap=ep", plain], check=True)
        p, probes = self.probes(["--probe", "criu-caps"], env=env)
        self.assertEqual(probes["criu-caps"]["status"], "WARN")
        self.assertEqual(probes["criu-caps"]["fix"], "setcap -r %s" % plain)

    def test_capabilities_mode_notes_when_every_queue_has_the_starter(self):
        p, probes = self.probes(["--criu", criu_path(), "--lsf-envdir", self.queues(True),
                                 "--probe", "lsb-queues"])
        self.assertEqual(probes["lsb-queues"]["status"], "OK")
        self.assertIn("could do without criu's file capabilities",
                      probes["lsb-queues"]["finding"])

    def test_bad_install_mode_is_ignored_with_a_warning(self):
        env = self.conf("install_mode = sometimes\n")
        p, probes = self.probes(["--probe", "install-mode", "--criu", criu_path()], env=env)
        self.assertIn("install_mode 'sometimes'", p.stderr)
        self.assertIn("capabilities", probes["install-mode"]["finding"])


class StarterOnlyHost(ClusterTest):
    """A criu without any file capability checkpoints and restarts jobs under
    lsf-criu-start; a job without the starter fails to checkpoint, clearly, and runs on."""

    def setUp(self):
        super().setUp()
        d = tempfile.mkdtemp(prefix="lsfcriu-plain-", dir="/var/tmp")
        self.addCleanup(shutil.rmtree, d, True)
        os.chmod(d, 0o755)
        self.plain = os.path.join(d, "criu")
        shutil.copy(criu_path(), self.plain)  # the copy has no capability
        os.chmod(self.plain, 0o755)
        r = subprocess.run(["getcap", self.plain], capture_output=True, text=True)
        self.assertEqual(r.stdout.strip(), "")
        self.c.lsf_criu_conf("install_mode = starter-only\ncriu = %s\n" % self.plain)

    def spool(self, jid):
        return counts(self.c.job(jid).get("spool_out") or "")

    def test_namespaced_job_without_file_capabilities(self):
        jid, out = self.c.chk_bsub([os.path.join(self.c.serverdir, "lsf-criu-start"),
                                    "/bin/sh", overrun.COUNTER, "60", "0.05", "0"])
        self.c.wait_state(jid, ("RUN",))
        wait_for(lambda: len(self.spool(jid)) >= 5, 60, 0.1, "counting")
        p = self.c.bchkpnt(jid, kill=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.c.wait_state(jid)
        self.assertIn("checkpoint of job %s done" % jid, self.c.log_text(jid))
        new, p = self.c.brestart(jid)
        self.assertIsNotNone(new, p.stdout + p.stderr)
        rec = self.c.wait_state(new, timeout=120)
        self.assertEqual(rec["stat"], "DONE", self.c.log_text(new))
        nums = counts(out)
        self.assertEqual(nums, list(range(1, 61)))

    def test_plain_job_is_not_checkpointed_and_keeps_running(self):
        jid, out = self.c.chk_bsub(["/bin/sh", overrun.COUNTER, "100000", "0.05", "0"])
        self.c.wait_state(jid, ("RUN",))
        wait_for(lambda: len(self.spool(jid)) >= 3, 60, 0.1, "counting")
        p = self.c.bchkpnt(jid, kill=True)
        log = wait_for(lambda: "keeps running" in self.c.log_text(jid) and
                       self.c.log_text(jid), 60, 0.2, "the checkpoint to fail")
        self.assertIn("CAP_CHECKPOINT_RESTORE", log)
        n = len(self.spool(jid))
        wait_for(lambda: len(self.spool(jid)) > n + 3, 30, 0.1, "the job to count on")
        self.assertEqual(self.c.job(jid)["stat"], "RUN")
        self.c.bkill(jid)
        self.c.wait_state(jid)


class CommandLine(AdminTest):
    def test_help_and_version(self):
        p = run(["--help"])
        self.assertEqual(p.returncode, 0)
        for cmd in ("check", "status", "install"):
            self.assertIn(cmd, p.stdout)
        p = run(["-V"])
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout, r"^lsf-criu \(lsf-criu\) \d+\.\d+\.\d+ \(\S+\)\n$")
        for cmd in ("check", "status", "install"):
            for opt in ("-h", "--help"):
                p = run([cmd, opt])
                self.assertEqual(p.returncode, 0, cmd)
                self.assertIn("Usage: lsf-criu %s" % cmd, p.stdout)
            p = run([cmd, "--version"])
            self.assertEqual(p.returncode, 0)
            self.assertTrue(p.stdout.startswith("lsf-criu %s (lsf-criu) " % cmd), p.stdout)

    def test_misuse(self):
        for args in ([], ["--bogus"], ["frobnicate"], ["check", "--bogus"], ["check", "x"],
                     ["check", "--criu"], ["check", "--criu", "relative/criu"],
                     ["status"], ["status", "a", "b", "c"], ["install"],
                     ["install", "--serverdir"]):
            p = run(args)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn(TRY, p.stderr, args)
            self.assertEqual(p.stdout, "", args)


class Conventions(AdminTest):
    """--help and misuse of every program, the way util-linux tools behave."""
    PROGRAMS = ("echkpnt.criu", "erestart.criu", "lsf-criu-restore", "lsf-criu-terminate",
                "lsf-criu-postexec", "lsf-criu-start", "lsf-criu")

    def test_help_columns_aligned(self):
        # In each --help, every option line's description starts in the same column.
        for prog in self.PROGRAMS + ("lsf-criu check", "lsf-criu status", "lsf-criu install"):
            p = subprocess.run([os.path.join(BUILD, prog.split()[0])] + prog.split()[1:]
                               + ["--help"], capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 0, prog)
            cols = set()
            for line in p.stdout.splitlines():
                m = re.match(r"^  (-\S.*?)  +(\S)", line)
                if m:
                    cols.add(m.start(2))
            self.assertTrue(cols, "%s --help lists no options" % prog)
            self.assertEqual(len(cols), 1, "%s --help: descriptions start in columns %s:\n%s"
                             % (prog, sorted(cols), p.stdout))
            self.assertTrue(all(len(l) <= 80 for l in p.stdout.splitlines()), prog)

    def test_install_help_names_every_program(self):
        p = run(["install", "--help"])
        self.assertEqual(p.returncode, 0)
        for name in PROGRAMS_INSTALLED:
            self.assertRegex(p.stdout, r"(?<![\w.-])%s(?![\w.-])" % re.escape(name), name)

    def test_postexec_takes_no_argument(self):
        post = os.path.join(BUILD, "lsf-criu-postexec")
        for args in (["extra"], ["--", "extra"], ["a", "b"]):
            p = subprocess.run([post] + args, capture_output=True, text=True, timeout=30,
                               env={"PATH": "/usr/bin:/bin"})
            self.assertEqual(p.returncode, 2, (args, p.stderr))
            self.assertIn("Try 'lsf-criu-postexec --help'", p.stderr)
            self.assertEqual(p.stdout, "")
        # Without arguments and without a checkpointable job it does nothing, successfully.
        p = subprocess.run([post], capture_output=True, text=True, timeout=30,
                           env={"PATH": "/usr/bin:/bin"})
        self.assertEqual(p.returncode, 0, p.stderr)


class StatusErrors(AdminTest):
    def ledger_dir(self, text, user=USER):
        d = self.user_dir("chain-%d" % len(os.listdir(self.tmp)), user=user)
        pw = pwd.getpwnam(user)
        path = os.path.join(d, "lsf-criu.ledger.json")
        with open(path, "w") as f:
            f.write(text)
        os.chown(path, pw.pw_uid, pw.pw_gid)
        os.chmod(path, 0o600)
        return d

    def test_corrupt_ledger(self):
        for text in ('{"version": 1, "chain_id": "12", "st', "", "[]", "\x00\xff garbage",
                     '{"version": 99}'):
            d = self.ledger_dir(text)
            for args in (["status", d], ["status", "--json", d]):
                p = run(args, user=USER)
                sane(self, p)
                self.assertEqual(p.returncode, 1, (text, p.stdout))
                self.assertIn("ledger", p.stderr)
                self.assertRegex(p.stderr, r"unusable|invalid|newer")
                self.assertEqual(p.stdout, "")

    def test_missing_ledger(self):
        d = self.user_dir("empty")
        p = run(["status", d], user=USER)
        sane(self, p)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no ledger", p.stderr)
        p = run(["status", os.path.join(self.tmp, "absent")], user=USER)
        self.assertEqual(p.returncode, 1)
        self.assertIn("No such file", p.stderr)
        p = run(["status", self.tmp, "123"], user=USER)
        self.assertEqual(p.returncode, 1)
        self.assertIn("123", p.stderr)

    def test_ledger_of_another_user(self):
        d = self.ledger_dir('{"version": 1}', user=OTHER_USER)
        os.chmod(d, 0o755)
        os.chmod(os.path.join(d, "lsf-criu.ledger.json"), 0o644)
        p = run(["status", d], user=USER)
        sane(self, p)
        self.assertEqual(p.returncode, 1)
        self.assertIn("belong", p.stderr)


class Status(ClusterTest):
    queues = overrun.QUEUES

    def chain_dir(self, first):
        return overrun.Overrun.chain_dir(self, first)

    def ledger(self, first):
        with open(os.path.join(self.chain_dir(first), "lsf-criu.ledger.json")) as f:
            return json.load(f)

    def test_status_of_an_overrun_chain(self):
        env = dict(overrun.OPT_IN, ORUN_RESTART_LIMIT="1")
        jid, out = self.c.chk_bsub(["/bin/sh", overrun.COUNTER, "100000", "0.05", "0"], env)

        summary = os.path.join(self.c.home, "overrun-summary-%s.txt" % jid)

        def ended():
            # The post-exec writes the summary after its last ledger update.
            try:
                led = self.ledger(jid)
            except (OSError, ValueError):
                return False
            return led["state"] == "ended" and os.path.exists(summary) and led
        led = wait_for(ended, 180, 0.5, "the chain of job %s to end" % jid)
        self.assertEqual(len(led["runs"]), 2, led)
        d = self.chain_dir(jid)
        p = self.c.run([ADMIN, "status", d])
        sane(self, p)
        self.assertEqual(p.returncode, 0, p.stderr)
        text = p.stdout
        self.assertRegex(text, r"(?m)^chain: +%s " % jid)
        self.assertRegex(text, r"(?m)^state: +ended$")
        self.assertIn("1 of 1", text)
        self.assertRegex(text, r"(?m)^runs: +2$")
        for run_ in led["runs"]:
            self.assertRegex(text, r"(?m)^  %s +\d{4}-\d\d-\d\d " % run_["jobid"])
        self.assertIn(led["end_reason"], text)
        self.assertRegex(text, r"(?m)^checkpoint: +ckpt\.\d+ of job \d+")
        self.assertRegex(text, r"MiB/s")
        self.assertIn("frozen", text)

        p = self.c.run([ADMIN, "status", "--json", d])
        self.assertEqual(p.returncode, 0, p.stderr)
        doc = json.loads(p.stdout)
        led = self.ledger(jid)
        for k in ("chain_id", "state", "restarts", "restart_limit", "end_reason", "uid"):
            self.assertEqual(doc[k], led[k], k)
        self.assertEqual(doc["restarts"], 1)
        self.assertEqual(doc["restart_limit"], 1)
        self.assertEqual(len(doc["runs"]), 2)
        for mine, theirs in zip(doc["runs"], led["runs"]):
            for k in ("jobid", "start", "end", "end_reason"):
                self.assertEqual(mine[k], theirs[k], k)
        ck = doc["checkpoint"]
        self.assertTrue(ck and ck["imgset"].startswith("ckpt."), ck)
        self.assertGreater(ck["image_bytes"], 0)
        self.assertEqual(ck["frozen_seconds"], ck["dump_seconds"])
        with open(os.path.join(d, "lsf-criu.current")) as f:
            self.assertEqual(ck["imgset"], f.read().strip())

        # BASE JOBID, as in brestart: the first job ID leads to the renamed directory.
        p = self.c.run([ADMIN, "status", "--json", self.c.base, jid])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["chain_id"], jid)
        self.assertEqual(os.path.realpath(json.loads(p.stdout)["directory"]),
                         os.path.realpath(d))
        # root may read any user's chain.
        p = run(["status", "--json", d])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["runs"], doc["runs"])


class Install(AdminTest):
    def test_install_and_again(self):
        sd = os.path.join(self.tmp, "serverdir")
        os.mkdir(sd, 0o755)
        p = run(["install", "--serverdir", sd])
        sane(self, p)
        self.assertEqual(p.returncode, 0, p.stderr)
        for name in PROGRAMS_INSTALLED:
            path = os.path.join(sd, name)
            st = os.stat(path)
            self.assertEqual(st.st_mode & 0o7777, 0o755, name)
            with open(path, "rb") as a, open(os.path.join(BUILD, name), "rb") as b:
                self.assertEqual(a.read(), b.read(), name)
            self.assertRegex(p.stdout, r"(?m)^  %s +installed$" % re.escape(name))
        self.assertEqual(sorted(os.listdir(sd)), sorted(PROGRAMS_INSTALLED), "temporary files left behind")
        self.assertIn("JOB_CONTROLS = TERMINATE[%s/lsf-criu-terminate]" % sd, p.stdout)
        self.assertIn("POST_EXEC    = %s/lsf-criu-postexec" % sd, p.stdout)
        self.assertIn("LSB_ECHKPNT_METHOD=criu", p.stdout)
        self.assertRegex(p.stdout, r"(?m)^setcap cap_checkpoint_restore,cap_setpcap=ep /")
        # The installed lsf-criu works.
        r = subprocess.run([os.path.join(sd, "lsf-criu"), "--version"], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 0)

        inodes = {n: os.stat(os.path.join(sd, n)).st_ino for n in PROGRAMS_INSTALLED}
        p = run(["install", "--serverdir", sd, "--criu", "/opt/criu/bin/criu"])
        self.assertEqual(p.returncode, 0, p.stderr)
        for name in PROGRAMS_INSTALLED:
            self.assertRegex(p.stdout, r"(?m)^  %s +unchanged$" % re.escape(name))
            self.assertEqual(os.stat(os.path.join(sd, name)).st_ino, inodes[name])
        self.assertIn("all programs unchanged", p.stdout)
        self.assertIn("setcap cap_checkpoint_restore,cap_setpcap=ep /opt/criu/bin/criu",
                      p.stdout)

        # A changed or mis-moded file is repaired; the others stay.
        with open(os.path.join(sd, "erestart.criu"), "ab") as f:
            f.write(b"x")
        os.chmod(os.path.join(sd, "lsf-criu-postexec"), 0o700)
        p = run(["install", "--serverdir", sd])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"(?m)^  erestart.criu +installed$")
        self.assertRegex(p.stdout, r"(?m)^  lsf-criu-postexec +mode set to 0755$")
        self.assertRegex(p.stdout, r"(?m)^  echkpnt.criu +unchanged$")
        self.assertEqual(os.stat(os.path.join(sd, "lsf-criu-postexec")).st_mode & 0o7777,
                         0o755)

    def test_link_and_remove(self):
        sd = os.path.join(self.tmp, "serverdir")
        os.mkdir(sd, 0o755)
        p = run(["install", "--serverdir", sd, "--link"])
        self.assertEqual(p.returncode, 0, p.stderr)
        for name in PROGRAMS_INSTALLED:
            path = os.path.join(sd, name)
            self.assertTrue(os.path.islink(path), name)
            self.assertEqual(os.readlink(path), os.path.join(os.path.realpath(BUILD), name))
            self.assertRegex(p.stdout, r"(?m)^  %s +installed$" % re.escape(name))
        self.assertEqual(sorted(os.listdir(sd)), sorted(PROGRAMS_INSTALLED))
        p = run(["install", "--serverdir", sd, "--link"])
        self.assertIn("all programs unchanged", p.stdout)
        # A copy replaces a link (and the other way round), atomically.
        p = run(["install", "--serverdir", sd])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertFalse(os.path.islink(os.path.join(sd, "echkpnt.criu")))
        # --remove takes out only its own programs: a foreign file of the same name stays.
        with open(os.path.join(sd, "lsf-criu-start"), "w") as f:
            f.write("#!/bin/sh\n# the site's own starter\n")
        with open(os.path.join(sd, "other-method"), "w") as f:
            f.write("x")
        p = run(["install", "--serverdir", sd, "--remove", "--dry-run"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"(?m)^  echkpnt.criu +would remove$")
        self.assertEqual(len(os.listdir(sd)), len(PROGRAMS_INSTALLED) + 1)
        p = run(["install", "--serverdir", sd, "--remove"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"(?m)^  echkpnt.criu +removed$")
        self.assertRegex(p.stdout, r"(?m)^  lsf-criu-start +kept: not this lsf-criu's program$")
        self.assertEqual(sorted(os.listdir(sd)), ["lsf-criu-start", "other-method"])
        p = run(["install", "--serverdir", sd, "--remove"])
        self.assertRegex(p.stdout, r"(?m)^  echkpnt.criu +not there$")
        p = run(["install", "--serverdir", sd, "--remove", "--link"])
        self.assertEqual(p.returncode, 2)

    def test_dry_run_writes_nothing(self):
        sd = os.path.join(self.tmp, "serverdir")
        os.mkdir(sd, 0o755)
        p = run(["install", "--serverdir", sd, "--dry-run"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(os.listdir(sd), [])
        self.assertRegex(p.stdout, r"(?m)^  lsf-criu-terminate +would install$")

    def test_needs_write_access(self):
        sd = os.path.join(self.tmp, "serverdir")
        os.mkdir(sd, 0o755)
        p = run(["install", "--serverdir", sd], user=USER)
        sane(self, p)
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot install into", p.stderr)
        self.assertIn("Permission denied", p.stderr)
        self.assertEqual(os.listdir(sd), [])
        p = run(["install", "--serverdir", os.path.join(self.tmp, "absent")])
        self.assertEqual(p.returncode, 1)
        self.assertIn("No such file", p.stderr)


if __name__ == "__main__":
    unittest.main()
