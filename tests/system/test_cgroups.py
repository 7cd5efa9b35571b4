#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A restored job lives in the NEW job's cgroup, never in the old one's, and
dies when that cgroup is killed; with cgroup v2 and with cgroup v1 (RHEL 8's
default), where the job's cgroup spans the memory, cpuacct, freezer and pids
hierarchies and is killed by freezing it and SIGKILLing its members.

The double runs with LSFSIM_JOB_CGROUP=Y: every job, first run or restarted,
has its own cgroup v2 (`<cgroup2 mount>/lsfsim-<tree>/job.<jobid>`), entered
by the job's res (or erestart) stand-in before it forks anything. lsf-criu
runs criu with --unprivileged, which neither dumps nor restores cgroups, so
the restored tree is created in the cgroup of the process that runs
`criu restore`, i.e. of the new job. Checked for a plain job and for one
started under lsf-criu-start (own user, PID and mount namespaces). Real
criu, jobs of a non-root user."""

import json
import os
import unittest

import sys

from cluster import ClusterTest, TOP, WORKLOADS, counts, wait_for

# The /proc and cgroup2 readers of the test double serve the test too.
sys.path.insert(0, os.path.join(TOP, "tests", "lsfsim"))
import cgroups  # noqa: E402
from cgroups import mount as cgroup2_mount, proc_cgroup, procs as cgroup_members, rel  # noqa: E402
from simlib import proc_environ  # noqa: E402

COUNTER = os.path.join(WORKLOADS, "counter.sh")


def proc_stat(pid):
    """(state, ppid) or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return rest[0], int(rest[1])
    except (OSError, IndexError):
        return None


def proc_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0")[:-1]]
    except OSError:
        return []


def live_pids():
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st and st[0] != "Z":
                out.append(int(d))
    return out


class Cgroups(ClusterTest):
    params = {"LSFSIM_JOB_CGROUP": "Y"}

    def setUp(self):
        if not cgroup2_mount()[0]:
            self.skipTest("no cgroup2 mount on this host")
        super().setUp()

    def spool_counts(self, jid):
        return counts(self.c.job(jid).get("spool_out") or "")

    def job_processes(self, jids, res_pid=None):
        """Live processes of these jobs: descendants of res_pid, and every
        process carrying the job environment of this cluster with one of the
        job IDs (a restored process keeps the environment it was dumped with,
        i.e. the old job's)."""
        jids = set(str(j) for j in jids)
        pids = live_pids()
        parent = {p: (proc_stat(p) or ("", 0))[1] for p in pids}
        found = set()
        for p in pids:
            env = proc_environ(p)
            if env.get("LSF_ENVDIR") == self.c.conf and env.get("LSB_JOBID") in jids:
                found.add(p)
            q = p
            while res_pid and q and q != 1:
                if q == res_pid:
                    found.add(p)
                    break
                q = parent.get(q, 0)
        return found

    def restored_counters(self, old):
        """The restored counter shells: cmdline counter.sh, old job's LSB_JOBID."""
        return [p for p in live_pids()
                if COUNTER in proc_cmdline(p)
                and proc_environ(p).get("LSB_JOBID") == str(old)
                and proc_environ(p).get("LSF_ENVDIR") == self.c.conf]

    def cycle_and_kill(self, cmd):
        jid, out = self.c.chk_bsub(cmd)
        wait_for(lambda: len(self.spool_counts(jid)) >= 5, 60, 0.1, "job %s to count" % jid)
        old_cg = self.c.job(jid)["cgroup"]
        self.assertTrue(old_cg and os.path.isdir(old_cg), old_cg)
        self.assertTrue(self.restored_counters(jid), "no counter in job %s" % jid)
        for p in self.restored_counters(jid):
            self.assertEqual(proc_cgroup(p), rel(old_cg))

        p = self.c.bchkpnt(jid, kill=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.c.wait_state(jid)
        self.assertIn("checkpoint of job %s done" % jid, self.c.log_text(jid))
        wait_for(lambda: not os.path.exists(old_cg), 30, 0.1,
                 "the old job's cgroup %s to be removed" % old_cg)

        new, p = self.c.brestart(jid)
        self.assertIsNotNone(new, p.stdout + p.stderr)
        self.c.wait_state(new, ("RUN",))
        wait_for(lambda: len(self.spool_counts(new)) >= 3, 60, 0.1,
                 "restored job %s to count" % new)
        rec = self.c.job(new)
        new_cg = rec["cgroup"]
        self.assertTrue(new_cg and os.path.isdir(new_cg), new_cg)
        self.assertNotEqual(new_cg, old_cg)

        # The restored process itself (old environment, counter.sh) is found
        # and is in the new job's cgroup.
        restored = self.restored_counters(jid)
        self.assertTrue(restored, "no restored counter process of job %s" % jid)
        procs = self.job_processes((jid, new), rec["res_pid"])
        self.assertTrue(set(restored) <= procs)
        self.assertIn(rec["res_pid"], procs)
        placed = {}
        for p in sorted(procs):
            cg = proc_cgroup(p)
            if cg is not None:  # None: a short-lived `sleep` of the counter ended
                placed[p] = cg
        wrong = {p: (cg, proc_cmdline(p)) for p, cg in placed.items()
                 if cg != rel(new_cg)}
        self.assertEqual(wrong, {}, "job processes outside %s" % rel(new_cg))
        for p in restored:
            self.assertEqual(proc_cgroup(p), rel(new_cg))
        # Nothing at all is in the old job's cgroup, which is gone.
        self.assertFalse(os.path.exists(old_cg))
        in_old = [p for p in live_pids() if proc_cgroup(p) == rel(old_cg)]
        self.assertEqual(in_old, [])
        # Every member of the new cgroup is a process of the job.
        members = set(cgroup_members(new_cg))
        strangers = [p for p in members - self.job_processes((jid, new), rec["res_pid"])
                     if proc_stat(p) and proc_stat(p)[0] != "Z"]
        self.assertEqual(strangers, [])

        self.check_every_hierarchy(restored, old_cg, new_cg)
        # Killing the new job's cgroup ends the job.
        self.kill_cgroup(new_cg)
        end = self.c.wait_state(new, timeout=60)
        self.assertEqual(end["stat"], "EXIT", end)
        self.assertEqual(end["term_signal"], 9, end)
        wait_for(lambda: not self.job_processes((jid, new)), 30, 0.1,
                 "every job process to be gone")
        self.assertEqual([p for p in restored if proc_stat(p) and proc_stat(p)[0] != "Z"],
                         [])
        wait_for(lambda: not os.path.exists(new_cg), 30, 0.1,
                 "the new job's cgroup to be removed")
        self.assertEqual(self.c.job(new)["pids"], [])
        self.assertNotIn("finished at", open(out).read())
        return jid, new

    def kill_cgroup(self, path):
        with open(os.path.join(path, "cgroup.kill"), "w") as f:
            f.write("1")

    def check_every_hierarchy(self, restored, old_cg, new_cg):
        """v2 has one hierarchy: checked above."""

    def test_plain_job(self):
        self.cycle_and_kill(["/bin/sh", COUNTER, "100000", "0.05", "0"])

    def test_job_under_lsf_criu_start(self):
        jid, new = self.cycle_and_kill(
            [os.path.join(self.c.serverdir, "lsf-criu-start"), "/bin/sh", COUNTER, "100000",
             "0.05", "0"])
        d = self.c.chkdir(new)
        with open(os.path.join(d, "lsf-criu.current")) as f:
            with open(os.path.join(d, f.read().strip(), "meta.json")) as m:
                self.assertTrue(json.load(m)["namespaces"])


class CgroupsV1(Cgroups):
    """The same on cgroup v1 hierarchies (the double's LSFSIM_JOB_CGROUP_VERSION=1)."""
    params = {"LSFSIM_JOB_CGROUP": "Y", "LSFSIM_JOB_CGROUP_VERSION": "1"}

    def setUp(self):
        if not cgroups.v1_available():
            self.skipTest("no cgroup v1 hierarchies of %s on this host"
                          % ", ".join(cgroups.V1_CONTROLLERS))
        ClusterTest.setUp(self)

    def kill_cgroup(self, path):
        # v1 has no cgroup.kill: freeze, SIGKILL every member, thaw (as LSF does).
        cgroups.kill_all(path)

    def check_every_hierarchy(self, restored, old_cg, new_cg):
        self.assertTrue(rel(new_cg).startswith("memory:/"), rel(new_cg))
        for c in cgroups.V1_CONTROLLERS:
            want = rel(cgroups.v1_siblings(new_cg)[0]).split(":", 1)[1]
            for p in restored:
                self.assertEqual(cgroups.proc_cgroups(p).get(c), want, (c, p))
        old_path = rel(old_cg).split(":", 1)[1]
        for d in cgroups.v1_siblings(old_cg):
            self.assertFalse(os.path.exists(d), d)
        in_old = [p for p in live_pids()
                  if old_path in cgroups.proc_cgroups(p).values()]
        self.assertEqual(in_old, [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
