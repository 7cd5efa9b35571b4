# SPDX-License-Identifier: GPL-2.0-or-later
"""The benchmark's smoke run: `make bench` with tiny sizes (BENCH_SMOKE=1), so that the
benchmark keeps working. It asserts that every variant ran (dumps and restores with the
memory checked by the benchmark itself), that the report, the JSON and the plot exist,
and nothing about speed: performance is measured by the full `make bench`, not by tests.
"""

import json
import os
import shutil
import subprocess
import tempfile
import unittest

import cluster

TOP = cluster.TOP


class BenchSmoke(unittest.TestCase):
    def setUp(self):
        cluster.ensure_users()
        self.out = tempfile.mkdtemp(prefix="lc-bench-out.")
        self.dir = tempfile.mkdtemp(prefix="lc-bench.", dir="/var/tmp")
        os.chmod(self.dir, 0o755)

    def tearDown(self):
        if not os.environ.get("LC_KEEP_TEST_DIRS"):
            shutil.rmtree(self.out, ignore_errors=True)
            shutil.rmtree(self.dir, ignore_errors=True)

    def test_bench_smoke(self):
        env = dict(os.environ, BENCH_SMOKE="1", BENCH_OUT=self.out, BENCH_DIR=self.dir,
                   BENCH_USER=cluster.USER)
        subprocess.run(["make", "-s", "build/bench/memjob"], cwd=TOP, check=True,
                       stdout=subprocess.DEVNULL)
        p = subprocess.run(["/usr/bin/python3", os.path.join(TOP, "tests", "bench", "bench.py")],
                           cwd=TOP, env=env, capture_output=True, text=True, timeout=600)
        self.assertEqual(p.returncode, 0, p.stdout[-3000:] + p.stderr[-3000:])
        self.assertIn("targets:", p.stdout)
        with open(os.path.join(self.out, "bench.json")) as f:
            res = json.load(f)
        whats = {r["what"] for r in res["results"]}
        for w in ("dd_direct", "dd_fsync", "raw_criu_dump", "raw_criu_restore", "lsf_dump",
                  "lsf_restore", "raw_stream_dump", "raw_parallel", "lsf_parallel",
                  "lsf_first", "lsf_second", "ceiling_no_disk"):
            self.assertIn(w, whats)
        for r in res["results"]:
            self.assertGreater(r["seconds"], 0, r)
        self.assertTrue(res["rows"])
        names = " ".join(t["target"] for t in res["targets"])
        for t in ("O_DIRECT", "fixed overhead", "second checkpoint", "concurrent"):
            self.assertIn(t, names)
        with open(os.path.join(self.out, "bench.png"), "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        # Nothing of the run is left behind.
        self.assertEqual(os.listdir(self.dir), [])


if __name__ == "__main__":
    unittest.main()
