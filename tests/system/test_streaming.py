#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Streamed image sets: criu --stream through lsf-criu's streamer into one container
(images.lcs), with real criu, real jobs of a non-root user and the LSF test double:
the container's records in meta.json, export to plain criu images, a damaged container
refused at restore with a clear reason, and image_streaming = no."""

import json
import os
import struct
import shutil
import time
import unittest

from cluster import BUILD, ClusterTest, WORKLOADS, assert_continuous, counts, wait_for

COUNTER = os.path.join(WORKLOADS, "counter.sh")
INVENTORY_MAGIC = 0x58313116  # criu's images/magic.h


class Streaming(ClusterTest):

    def spool_counts(self, jobid):
        rec = self.c.job(jobid)
        return counts(rec["spool_out"]) if rec.get("spool_out") else []

    def checkpointed(self, limit=100000):
        """A counting job checkpointed and killed (bchkpnt -k); returns (jobid, out, set dir)."""
        jid, out = self.c.chk_bsub(["/bin/sh", COUNTER, str(limit), "0.05", "0"])
        self.c.wait_state(jid, ("RUN",))
        wait_for(lambda: len(self.spool_counts(jid)) >= 5, 60, 0.1, "the job to count")
        p = self.c.bchkpnt(jid, kill=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.c.wait_state(jid)
        d = self.c.chkdir(jid)
        with open(os.path.join(d, "lsf-criu.current")) as f:
            return jid, out, os.path.join(d, f.read().strip())

    def admin(self, args):
        """The admin tool, run as the job's owner."""
        tool = os.path.join(self.c.serverdir, "lsf-criu")
        if not os.path.exists(tool):
            shutil.copy(os.path.join(BUILD, "lsf-criu"), tool)
            os.chmod(tool, 0o755)
        return self.c.run([tool] + args)

    def test_streamed_set_records_and_export(self):
        jid, out, img = self.checkpointed()
        names = os.listdir(img)
        self.assertIn("images.lcs", names)
        self.assertNotIn("inventory.img", names)
        self.assertEqual(os.path.getsize(os.path.join(img, "images.lcs")) % 4096, 0)
        with open(os.path.join(img, "meta.json")) as f:
            meta = json.load(f)
        self.assertTrue(meta["stream"])
        self.assertIn(meta["compression"], ("zstd-1", "none"))
        self.assertGreater(meta["raw_bytes"], 0)
        self.assertGreater(meta["peak_rss_kib"], 0)
        self.assertIn("images:", self.c.log_text(jid))
        # Back to plain criu images, as the user, for crit and criu's other tools.
        exp = os.path.join(self.c.home, "exported")
        p = self.admin(["export", img, exp])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        files = os.listdir(exp)
        for n in ("inventory.img", "pstree.img", "core-%d.img" % meta["root_pid"]):
            self.assertIn(n, files)
        self.assertEqual(sum(os.path.getsize(os.path.join(exp, n)) for n in files),
                         meta["raw_bytes"])
        with open(os.path.join(exp, "inventory.img"), "rb") as f:
            self.assertEqual(struct.unpack("<I", f.read(4))[0], INVENTORY_MAGIC)
        p = self.admin(["export", "--verify", img])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("every checksum correct", p.stdout)
        # Never over existing files.
        p = self.admin(["export", img, exp])
        self.assertNotEqual(p.returncode, 0)
        # And the job continues from the streamed set.
        new, p = self.c.brestart(jid)
        self.assertIsNotNone(new, p.stdout + p.stderr)
        self.c.wait_state(new, ("RUN",), timeout=60)
        wait_for(lambda: len(self.spool_counts(new)) >= 3, 60, 0.1, "the restored job to count")
        self.c.bkill(new)
        self.c.wait_state(new)

    def test_damaged_container_fails_the_restore_clearly(self):
        jid, out, img = self.checkpointed()
        # Damage one byte of the job's memory pages inside the container: found by
        # their exported content.
        exp = os.path.join(self.c.home, "before")
        p = self.admin(["export", img, exp])
        self.assertEqual(p.returncode, 0, p.stderr)
        pages = max((n for n in os.listdir(exp) if n.startswith("pages-")),
                    key=lambda n: os.path.getsize(os.path.join(exp, n)))
        with open(os.path.join(exp, pages), "rb") as f:
            data = f.read()
        probe = data[len(data) // 2:len(data) // 2 + 64]
        path = os.path.join(img, "images.lcs")
        with open(path, "rb") as f:
            blob = f.read()
        at = blob.find(probe)
        self.assertGreater(at, 0, "the pages are stored raw in a counter job's container")
        with open(path, "r+b") as f:
            f.seek(at + 10)
            f.write(bytes([blob[at + 10] ^ 0x40]))
        p = self.admin(["export", "--verify", img])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("checksum mismatch", p.stderr)
        new, p = self.c.brestart(jid)
        self.assertIsNotNone(new, p.stdout + p.stderr)
        log = wait_for(lambda: "restore of job %s failed" % new in self.c.log_text(new) and
                       self.c.log_text(new), 120, 0.3, "the restore to fail")
        self.assertIn("checksum mismatch", log)
        self.c.bkill(new)

    def test_image_streaming_off_writes_plain_files(self):
        self.c.lsf_criu_conf("image_streaming = no\n")
        jid, out, img = self.checkpointed(limit=60)
        names = os.listdir(img)
        self.assertIn("inventory.img", names)
        self.assertNotIn("images.lcs", names)
        new, p = self.c.brestart(jid)
        self.assertIsNotNone(new, p.stdout + p.stderr)
        rec = self.c.wait_state(new, timeout=120)
        self.assertEqual(rec["stat"], "DONE", self.c.log_text(new))
        assert_continuous(self, counts(out), 1, 60)


if __name__ == "__main__":
    unittest.main()
