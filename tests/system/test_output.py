#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Output identity across restarts: every line a job writes appears exactly
once, in order, in the file it was meant for, whether LSF spools the output or
lets the job write the -o file directly, with host PIDs and under
lsf-criu-start. A file the job opens itself ('>', '>>', 'exec >', in any
directory, the -o directory included) is never rebound to LSF's output, and
LSF's output is never taken for a file of the job's own. Real criu, jobs of a
non-root user, two checkpoint/restart cycles per job."""

import os
import re
import unittest

from cluster import ClusterTest, WORKLOADS, assert_continuous, counts, wait_for

TWOFILES = os.path.join(WORKLOADS, "twofiles.sh")


def own_counts(path):
    try:
        with open(path, errors="replace") as f:
            return [int(m.group(1)) for m in re.finditer(r"^own (\d+)$", f.read(), re.M)]
    except FileNotFoundError:
        return []


def lines(path):
    try:
        with open(path, errors="replace") as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


class OutputCase(ClusterTest):
    """Shared steps; subclasses choose how LSF delivers output and how the job starts."""

    starter = False

    def setUp(self):
        super().setUp()
        self.stop = os.path.join(self.c.home, "stop")

    def submit_twofiles(self, mode, *own):
        cmd = ["/bin/sh", TWOFILES, self.stop, "0.05", mode] + list(own)
        if self.starter:
            cmd = [os.path.join(self.c.serverdir, "lsf-criu-start")] + cmd
        return self.c.chk_bsub(cmd)

    def submit_inline_exec(self, own):
        """The job-file shell itself runs 'exec >own', as a script given on stdin does."""
        script = ("exec 3>&1 >'%s'\n"
                  "i=0\n"
                  "while [ ! -e '%s' ]; do i=$((i + 1)); echo \"count $i\" >&3; "
                  "echo \"own $i\"; sleep 0.05; done\n"
                  "echo \"finished at $i\" >&3\n") % (own, self.stop)
        out = os.path.join(self.c.home, "inline.out")
        jid = self.c.bsub(["-k", "%s method=criu" % self.c.base, "-o", out], input=script)
        return jid, out

    def progress(self, own, more=5):
        n = len(own_counts(own))
        wait_for(lambda: len(own_counts(own)) >= n + more, 60, 0.1,
                 "%d more lines in %s" % (more, own))

    def cycle(self, jid, own):
        self.progress(own)
        p = self.c.bchkpnt(jid, kill=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        rec = self.c.wait_state(jid)
        self.assertIn("checkpoint of job %s done" % jid, self.c.log_text(jid),
                      "checkpoint failed: %s" % rec)
        new, p = self.c.brestart(jid)
        self.assertIsNotNone(new, p.stdout + p.stderr)
        self.c.wait_state(new, ("RUN",))
        return new

    def run_cycles(self, jid, own, n=2):
        self.c.wait_state(jid, ("RUN",))
        for _ in range(n):
            jid = self.cycle(jid, own)
        self.progress(own)
        with open(self.stop, "w"):
            pass
        rec = self.c.wait_state(jid, timeout=120)
        self.assertEqual(rec["stat"], "DONE", self.c.log_text(jid))
        return jid

    def assert_separated(self, out, owns, last_jid, root_redirected=None):
        mine = own_counts(owns[0])
        assert_continuous(self, mine, 1)
        for own in owns:
            self.assertEqual(own_counts(own), mine)
            self.assertEqual([ln for ln in lines(own) if not ln.startswith("own ")], [],
                             "other lines reached the job's own file %s" % own)
        assert_continuous(self, counts(out), 1, mine[-1])
        self.assertIn("finished at %d" % mine[-1], lines(out))
        self.assertEqual([ln for ln in lines(out) if re.match(r"own \d+$", ln)], [],
                         "the job's own lines reached LSF's output")
        if root_redirected:
            # The dump root's stdout is the job's own file, recognised as such.
            self.assertIn("'%s' is a file the job opened itself; it is reopened as it was"
                          % root_redirected, self.c.log_text(last_jid))

    def test_exec_redirect_in_the_o_directory(self):
        # The reported case: 'exec > out.txt' next to the -o file. Without the starter
        # the job-file shell itself (the dump root) runs it, as a script on stdin does.
        own = os.path.join(self.c.home, "out.txt")
        if self.starter:
            jid, out = self.submit_twofiles("exec", own)
        else:
            jid, out = self.submit_inline_exec(own)
        last = self.run_cycles(jid, own)
        self.assert_separated(out, [own], last, root_redirected=own)

    def test_truncating_and_appending_redirects_anywhere(self):
        # '>' in the -o directory (the working directory), '>>' in another directory.
        other = os.path.join(self.c.home, "elsewhere")
        self.c.user_mkdir(other)
        owns = [os.path.join(self.c.home, "trunc.txt"), os.path.join(other, "append.txt")]
        jid, out = self.submit_twofiles("files", *owns)
        last = self.run_cycles(jid, owns[0])
        self.assert_separated(out, owns, last)


class SpoolHostPids(OutputCase):
    """LSF spools the output and appends it to -o at each job end (the default)."""


class DirectHostPids(OutputCase):
    """LSB_STDOUT_DIRECT=Y: the job writes the -o file itself."""
    params = {"LSB_STDOUT_DIRECT": "Y"}


class SpoolStarter(OutputCase):
    starter = True


class DirectStarter(OutputCase):
    starter = True
    params = {"LSB_STDOUT_DIRECT": "Y"}


class ReusedSpool(OutputCase):
    """A restarted job keeps the original job file name and appends to the very same
    spool file, never emptied, and the scheduler appends the whole spool to -o at every
    job end (seen on an OpenLava-derived scheduler): without care the -o file holds the
    first run's lines again in every later block."""
    params = {"LSFSIM_RESTART_JOBFILE": "original"}
    test_truncating_and_appending_redirects_anywhere = None  # as SpoolHostPids


class CloneHostPids(OutputCase):
    """Every behaviour of the OpenLava-derived scheduler at once: job file and spool in
    the checkpoint directory reached through links, the same spool reused by restarted
    jobs, LSB_OUTPUTFILE as typed, erestart called with a relative directory, an absolute
    old-ID link."""
    flavour = "clone"


class CloneStarter(OutputCase):
    flavour = "clone"
    starter = True
    test_truncating_and_appending_redirects_anywhere = None  # as CloneHostPids


del OutputCase

if __name__ == "__main__":
    unittest.main()
