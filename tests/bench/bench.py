#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""make bench: how fast lsf-criu checkpoints and restores, measured against raw criu and
against the filesystem itself, on the same filesystem, interleaved and repeated.

Run as root (jobs and every measured command run as a non-root user):

    make bench                                   # the full run (tens of minutes)
    make bench BENCH_DIR=/gpfs/scratch/ckpt      # on a cluster's checkpoint filesystem
    BENCH_SMOKE=1 make bench                     # a few seconds of tiny sizes

Environment (all optional):
  BENCH_DIR         where images and dd files go (default /var/tmp/lsf-criu-bench); it
                    must be on the filesystem to measure and writable by BENCH_USER
  BENCH_USER        the user whose jobs are checkpointed (default lcuser1)
  BENCH_SIZES       job sizes in MiB (default 256,1024,4096)
  BENCH_KINDS       random (incompressible), compressible (default both)
  BENCH_REPEAT      repetitions of every measurement (default 3)
  BENCH_CONCURRENT  numbers of concurrent checkpoints (default 8,16)
  BENCH_CONC_MIB    size of each of those jobs (default 128)
  BENCH_SMALL_REPEAT repetitions of the 1 MiB fixed-overhead run (default 10)
  BENCH_OUT         directory for bench.json and bench.png (default build/bench)
  BENCH_SMOKE=1     tiny sizes and one repetition (what `make check` runs)

Each measurement of a kind is taken once per repetition, with the order of the
compared variants rotated between repetitions; min and median are reported.
"""

import json
import os
import platform
import pwd
import shutil
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("LC_BUILD_DIR", os.path.join(TOP, "build"))
SMOKE = os.environ.get("BENCH_SMOKE") == "1"


def env_list(name, default):
    v = os.environ.get(name, "")
    return [x.strip() for x in (v or default).split(",") if x.strip()]


def env_int(name, default):
    v = os.environ.get(name, "")
    return int(v) if v else default


CFG = {
    "dir": os.environ.get("BENCH_DIR") or "/var/tmp/lsf-criu-bench",
    "user": os.environ.get("BENCH_USER") or "lcuser1",
    "sizes": [int(x) for x in env_list("BENCH_SIZES", "4,12" if SMOKE else "256,1024,4096")],
    "kinds": env_list("BENCH_KINDS", "random,compressible"),
    "repeat": env_int("BENCH_REPEAT", 1 if SMOKE else 3),
    "concurrent": [int(x) for x in env_list("BENCH_CONCURRENT", "2" if SMOKE else "8,16")],
    "conc_mib": env_int("BENCH_CONC_MIB", 4 if SMOKE else 128),
    "small_repeat": env_int("BENCH_SMALL_REPEAT", 2 if SMOKE else 10),
    "out": os.environ.get("BENCH_OUT") or os.path.join(BUILD, "bench"),
    "smoke": SMOKE,
}

# The options lsf-criu's dump uses, given to raw criu too.
DUMP_OPTS = ["--no-default-config", "--unprivileged", "--file-locks", "--shell-job", "-v4",
             "--display-stats"]


def log(*a):
    print(*a, flush=True)


class Bench:
    def __init__(self):
        self.pw = pwd.getpwnam(CFG["user"])
        self.root = os.path.join(CFG["dir"], "run.%d" % os.getpid())
        self.bin = os.path.join(self.root, "bin")
        self.jobno = 1000
        self.results = []      # {"what", "mib", "kind", "seconds", ...}
        self.notes = []
        with open(os.path.join(BUILD, "criu.path")) as f:
            self.criu = f.read().strip()

    # ---- plumbing ----

    def setup(self):
        os.makedirs(CFG["dir"], exist_ok=True)
        os.makedirs(self.root)
        os.chmod(self.root, 0o755)
        os.chown(self.root, self.pw.pw_uid, self.pw.pw_gid)
        os.makedirs(self.bin)
        for p in ("echkpnt.criu", "lsf-criu-restore", "lsf-criu-streamer"):
            shutil.copy2(os.path.join(BUILD, p), os.path.join(self.bin, p))
        shutil.copy2(os.path.join(BUILD, "bench", "memjob"), os.path.join(self.bin, "memjob"))
        os.chmod(self.bin, 0o755)

    def cleanup(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def mkdir(self, name):
        d = os.path.join(self.root, name)
        os.makedirs(d)
        os.chmod(d, 0o700)
        os.chown(d, self.pw.pw_uid, self.pw.pw_gid)
        return d

    def env(self, extra=None):
        # No HOME: criu would read the user's ~/.criu/default.conf (lsf-criu runs criu
        # with a fixed environment and --no-default-config; raw criu gets the same).
        e = {"PATH": "/usr/bin:/bin", "USER": CFG["user"], "LOGNAME": CFG["user"],
             "LC_ALL": "C", "LSF_CRIU_CRIU": self.criu}
        e.update(extra or {})
        return e

    def popen(self, argv, cwd=None, env=None, stdout=None, session=False):
        return subprocess.Popen(argv, cwd=cwd, env=env or self.env(), stdin=subprocess.DEVNULL,
                                stdout=stdout if stdout is not None else subprocess.DEVNULL,
                                stderr=subprocess.STDOUT if stdout is not None
                                else subprocess.DEVNULL,
                                user=self.pw.pw_uid, group=self.pw.pw_gid, extra_groups=[],
                                start_new_session=session)

    def run(self, argv, cwd=None, env=None, timeout=3600):
        t0 = time.monotonic()
        p = subprocess.run(argv, cwd=cwd, env=env or self.env(), stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=timeout,
                           user=self.pw.pw_uid, group=self.pw.pw_gid, extra_groups=[])
        dt = time.monotonic() - t0
        if p.returncode != 0:
            errs = ""
            for logname in ("dump.log", "restore.log", "img/dump.log", "img/restore.log"):
                try:
                    with open(os.path.join(cwd or ".", logname)) as f:
                        errs += "".join(ln for ln in f if "Error" in ln)[-2000:]
                except OSError:
                    pass
            raise RuntimeError("%s failed (%d): %s %s" % (" ".join(argv[:2]), p.returncode,
                                                          (p.stdout + p.stderr)[-2000:], errs))
        return dt, p.stdout

    def start_job(self, d, mib, kind):
        """A job as LSF runs it: a group leader (the job file's shell) and its child."""
        out = os.path.join(d, "job.out")
        with open(out, "ab") as f:
            os.fchown(f.fileno(), self.pw.pw_uid, self.pw.pw_gid)
            leader = self.popen(["/bin/sh", "-c", '"$0" "$@"; :',
                                 os.path.join(self.bin, "memjob"), str(mib), kind],
                                cwd=d, stdout=f, session=True)
        line = self.wait_line(out, "ready ", timeout=1800)
        _, pid, csum = line.split()
        return {"leader": leader, "pgid": leader.pid, "pid": int(pid), "sum": csum, "out": out,
                "dir": d, "mib": mib, "kind": kind}

    @staticmethod
    def wait_line(path, prefix, timeout=600, after=0):
        end = time.monotonic() + timeout
        while True:
            try:
                with open(path) as f:
                    lines = f.read().splitlines()[after:]
                for ln in lines:
                    if ln.startswith(prefix):
                        return ln
            except FileNotFoundError:
                pass
            if time.monotonic() > end:
                raise RuntimeError("no '%s' in %s after %ss" % (prefix.strip(), path, timeout))
            time.sleep(0.005)

    # memjob tells a restore by a gap of more than 100 ms in its 5 ms sleeps; a 1 MiB job
    # is dumped and restored faster than that. The restore starts at least this long after
    # the dump ended, outside the measured time, so "resumed" is always printed.
    GAP = 0.25

    def keep_gap(self, dumped_at):
        left = dumped_at + self.GAP - time.monotonic()
        if left > 0:
            time.sleep(left)

    @staticmethod
    def nlines(path):
        try:
            with open(path) as f:
                return len(f.read().splitlines())
        except FileNotFoundError:
            return 0

    def end_job(self, job, pid=None):
        for p in (pid, job["pid"]):
            if p:
                try:
                    os.kill(p, 9)
                except ProcessLookupError:
                    pass
        try:
            job["leader"].wait(timeout=60)
        except subprocess.TimeoutExpired:
            job["leader"].kill()

    @staticmethod
    def fsync_tree(d):
        for name in os.listdir(d):
            p = os.path.join(d, name)
            if os.path.isfile(p):
                fd = os.open(p, os.O_RDONLY)
                os.fsync(fd)
                os.close(fd)
        fd = os.open(d, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)

    @staticmethod
    def uncache(d):
        """Drops the images from the page cache, so every restore reads the disk."""
        for name in os.listdir(d):
            p = os.path.join(d, name)
            if os.path.isfile(p):
                fd = os.open(p, os.O_RDONLY)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                os.close(fd)

    def record(self, what, mib, kind, seconds, **extra):
        r = {"what": what, "mib": mib, "kind": kind, "seconds": seconds}
        r.update(extra)
        self.results.append(r)
        log("  %-22s %6s MiB %-12s %8.3f s %s" % (what, mib, kind or "", seconds,
                                                 " ".join("%s=%s" % kv for kv in extra.items())))

    # ---- the measured variants ----

    def dd(self, mib, direct):
        path = os.path.join(self.root, "dd.img")
        bs = 16 if mib >= 16 else 1
        argv = ["dd", "if=/dev/zero", "of=" + path, "bs=%dM" % bs, "count=%d" % (mib // bs),
                "oflag=direct" if direct else "conv=fsync"]
        dt, _ = self.run(argv, cwd=self.root)
        os.unlink(path)
        self.record("dd_direct" if direct else "dd_fsync", mib, None, dt)

    def raw_criu(self, mib, kind, stream=False):
        """criu dump (+ fsync of every image: durable), then a cold criu restore."""
        name = "raw_stream" if stream else "raw_criu"
        d = self.mkdir("%s.%d" % (name, self.jobno))
        self.jobno += 1
        img = os.path.join(d, "img")
        os.makedirs(img)
        os.chown(img, self.pw.pw_uid, self.pw.pw_gid)
        job = self.start_job(d, mib, kind)
        argv = [self.criu, "dump", "-t", str(job["pid"]), "-D", "img", "-o", "dump.log"]
        argv += DUMP_OPTS
        streamer = None
        if stream:
            rfd, wfd = os.pipe()
            streamer = subprocess.Popen(
                [os.path.join(self.bin, "lsf-criu-streamer"), "-r", str(wfd), "capture",
                 "img"], cwd=d, env=self.env(), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, pass_fds=(wfd,),
                user=self.pw.pw_uid, group=self.pw.pw_gid, extra_groups=[])
            os.close(wfd)
            os.read(rfd, 1)
            os.close(rfd)
            argv.append("--stream")
        t0 = time.monotonic()
        try:
            self.run(argv, cwd=d)
        except Exception:
            # Leave no job or streamer behind a failed measurement.
            if streamer:
                streamer.kill()
                streamer.wait()
            self.end_job(job)
            raise
        if stream:
            out = streamer.communicate(timeout=600)[0]
            if streamer.returncode:
                raise RuntimeError("streamer failed: " + out)
        else:
            self.fsync_tree(img)
        dt = time.monotonic() - t0
        self.end_job(job)
        self.record(name + "_dump", mib, kind, dt)
        if stream:
            return
        self.uncache(img)
        n = self.nlines(job["out"])
        self.keep_gap(t0 + dt)
        t0 = time.time()
        self.run([self.criu, "restore", "--no-default-config", "-D", "img", "-o", "restore.log",
                  "--unprivileged", "--file-locks", "--shell-job", "-d", "-v4"], cwd=d)
        resumed = self.wait_line(job["out"], "resumed ", after=n)
        mem = self.wait_line(job["out"], "memory ", after=n)
        if mem.split()[1] != job["sum"]:
            raise RuntimeError("raw restore: memory differs")
        self.record(name + "_restore", mib, kind, float(resumed.split()[1]) - t0)
        os.kill(job["pid"], 9)
        shutil.rmtree(d, ignore_errors=True)

    def lsf_env(self, d, jobid):
        # As LSF runs a job with -o: its output file is what a restore rebinds to the new
        # run's stdout (start_job's job.out); without it, job.out is a file the job opened
        # itself and keeps the restored job's lines.
        return self.env({"LSB_JOBID": str(jobid), "LSB_CHKPNT_DIR": d,
                         "LSB_OUTPUTFILE": os.path.join(d, "job.out")})

    def lsf_dump(self, job, kill=True):
        jobid = self.jobno
        self.jobno += 1
        argv = [os.path.join(self.bin, "echkpnt.criu")] + (["-k"] if kill else [])
        dt, _ = self.run(argv + [str(job["pgid"])], cwd=os.path.dirname(job["dir"]),
                         env=self.lsf_env(job["dir"], jobid))
        return dt

    def lsf_info(self, d):
        """Size, compression and peak memory of the newest image set (meta.json)."""
        with open(os.path.join(d, "lsf-criu.current")) as f:
            cur = f.read().strip()
        info = {"imgset": cur}
        try:
            with open(os.path.join(d, cur, "meta.json")) as f:
                m = json.load(f)
            for k in ("image_bytes", "stored_bytes", "compression", "peak_rss_kib",
                      "write_rate"):
                if k in m:
                    info[k] = m[k]
        except (OSError, ValueError):
            pass
        return info

    def lsf(self, mib, kind, restore=True):
        d = self.mkdir("lsf.%d" % self.jobno)
        job = self.start_job(d, mib, kind)
        try:
            dt = self.lsf_dump(job)
        except Exception:
            self.end_job(job)
            raise
        dumped_at = time.monotonic()
        info = self.lsf_info(d)
        self.end_job(job)
        self.record("lsf_dump", mib, kind, dt, **{k: v for k, v in info.items()
                                                  if k != "imgset"})
        if not restore:
            shutil.rmtree(d, ignore_errors=True)
            return
        self.uncache(os.path.join(d, info["imgset"]))
        out = os.path.join(d, "restart.out")
        self.keep_gap(dumped_at)
        t0 = time.time()
        with open(out, "ab") as f:
            os.fchown(f.fileno(), self.pw.pw_uid, self.pw.pw_gid)
            rp = self.popen([os.path.join(self.bin, "lsf-criu-restore"), d, info["imgset"]],
                            cwd=d, env=self.lsf_env(d, self.jobno + 100000), stdout=f,
                            session=True)
        try:
            resumed = self.wait_line(out, "resumed ")
            mem = self.wait_line(out, "memory ")
            if mem.split()[1] != job["sum"]:
                raise RuntimeError("lsf-criu restore: memory differs")
            self.record("lsf_restore", mib, kind, float(resumed.split()[1]) - t0)
        finally:
            try:
                os.kill(job["pid"], 15)
            except ProcessLookupError:
                pass
            try:
                rp.wait(timeout=120)
            except subprocess.TimeoutExpired:
                rp.kill()
        shutil.rmtree(d, ignore_errors=True)

    def second(self, mib, kind):
        """The same job checkpointed twice: the second must not be slower."""
        d = self.mkdir("second.%d" % self.jobno)
        job = self.start_job(d, mib, kind)
        try:
            t1 = self.lsf_dump(job, kill=False)
            t2 = self.lsf_dump(job, kill=True)
        finally:
            self.end_job(job)
        self.record("lsf_first", mib, kind, t1)
        self.record("lsf_second", mib, kind, t2)
        shutil.rmtree(d, ignore_errors=True)

    def concurrent(self, n, mib, lsf):
        dirs, jobs = [], []
        for i in range(n):
            d = self.mkdir("conc.%d.%d" % (self.jobno, i))
            if not lsf:
                os.makedirs(os.path.join(d, "img"))
                os.chown(os.path.join(d, "img"), self.pw.pw_uid, self.pw.pw_gid)
            dirs.append(d)
        for d in dirs:
            jobs.append(self.start_job(d, mib, "random"))
        errors = []

        def one(job):
            try:
                if lsf:
                    self.lsf_dump(job)
                else:
                    self.run([self.criu, "dump", "-t", str(job["pid"]), "-D", "img",
                              "-o", "dump.log"] + DUMP_OPTS, cwd=job["dir"])
                    self.fsync_tree(os.path.join(job["dir"], "img"))
            except Exception as e:  # noqa: BLE001 (reported below)
                errors.append(str(e))

        threads = [threading.Thread(target=one, args=(j,)) for j in jobs]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        dt = time.monotonic() - t0
        for j in jobs:
            self.end_job(j)
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)
        if errors:
            raise RuntimeError("concurrent checkpoints failed: " + errors[0])
        self.record("lsf_parallel" if lsf else "raw_parallel", n * mib, "x%d" % n, dt)

    def ceiling(self, mib, kind):
        """criu --stream into our streamer storing nothing: criu's and zstd's own speed."""
        d = self.mkdir("ceiling.%d" % self.jobno)
        self.jobno += 1
        img = os.path.join(d, "img")
        os.makedirs(img)
        os.chown(img, self.pw.pw_uid, self.pw.pw_gid)
        job = self.start_job(d, mib, kind)
        rfd, wfd = os.pipe()
        streamer = subprocess.Popen(
            [os.path.join(self.bin, "lsf-criu-streamer"), "--discard", "-r", str(wfd),
             "capture", "img"], cwd=d, env=self.env(), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, pass_fds=(wfd,),
            user=self.pw.pw_uid, group=self.pw.pw_gid, extra_groups=[])
        os.close(wfd)
        os.read(rfd, 1)
        os.close(rfd)
        t0 = time.monotonic()
        self.run([self.criu, "dump", "-t", str(job["pid"]), "-D", "img", "-o", "dump.log",
                  "--stream"] + DUMP_OPTS, cwd=d)
        out = streamer.communicate(timeout=600)[0]
        dt = time.monotonic() - t0
        self.end_job(job)
        kv = dict(ln.split("=", 1) for ln in out.splitlines() if "=" in ln)
        self.record("ceiling_no_disk", mib, kind, dt, decision=kv.get("decision", ""),
                    zstd_rate=float(kv.get("zstd_rate", 0)) / 1048576)
        shutil.rmtree(d, ignore_errors=True)

    # ---- the plan ----

    def main(self):
        self.setup()
        load0 = os.getloadavg()
        t_start = time.time()
        try:
            for rep in range(CFG["repeat"]):
                log("repetition %d of %d" % (rep + 1, CFG["repeat"]))
                for mib in CFG["sizes"]:
                    variants = [lambda: self.dd(mib, True), lambda: self.dd(mib, False)]
                    for kind in CFG["kinds"]:
                        variants += [lambda k=kind: self.raw_criu(mib, k),
                                     lambda k=kind: self.lsf(mib, k),
                                     lambda k=kind: self.raw_criu(mib, k, stream=True)]
                    rot = rep % len(variants)
                    for v in variants[rot:] + variants[:rot]:
                        v()
                small = [lambda: self.raw_criu(1, "random"),
                         lambda: self.lsf(1, "random", restore=False)]
                for i in range(CFG["small_repeat"]):
                    for v in (small if (i + rep) % 2 == 0 else small[::-1]):
                        v()
                for n in CFG["concurrent"]:
                    pair = [lambda: self.concurrent(n, CFG["conc_mib"], False),
                            lambda: self.concurrent(n, CFG["conc_mib"], True)]
                    for v in (pair if rep % 2 == 0 else pair[::-1]):
                        v()
                sec = min(CFG["sizes"], key=lambda s: abs(s - 1024))
                self.second(sec, "random")
            big = max(CFG["sizes"])
            for kind in CFG["kinds"]:
                self.ceiling(big, kind)
        finally:
            self.cleanup()
        load1 = os.getloadavg()
        return self.report(load0, load1, time.time() - t_start)

    # ---- the report ----

    def secs(self, what, mib, kind):
        return [r["seconds"] for r in self.results
                if r["what"] == what and r["mib"] == mib and r["kind"] == kind]

    def med(self, what, mib, kind):
        s = self.secs(what, mib, kind)
        return statistics.median(s) if s else None

    def report(self, load0, load1, elapsed):
        rows, targets = [], []

        def rate(mib, s):
            return mib / s if s else None

        for mib in CFG["sizes"]:
            ddd, ddf = self.med("dd_direct", mib, None), self.med("dd_fsync", mib, None)
            for kind in CFG["kinds"]:
                row = {"mib": mib, "kind": kind}
                for what in ("dd_direct", "dd_fsync", "raw_criu_dump", "raw_stream_dump",
                             "lsf_dump", "raw_criu_restore", "lsf_restore", "ceiling_no_disk"):
                    s = self.secs(what, mib, None if what.startswith("dd") else kind)
                    if s:
                        row[what] = {"min": min(s), "median": statistics.median(s), "n": len(s),
                                     "mibps": rate(mib, statistics.median(s))}
                lsf = self.med("lsf_dump", mib, kind)
                if lsf and ddd:
                    row["lsf_vs_direct"] = ddd / lsf
                if lsf and self.med("raw_criu_dump", mib, kind):
                    row["lsf_vs_raw"] = self.med("raw_criu_dump", mib, kind) / lsf
                lr, rr = self.med("lsf_restore", mib, kind), self.med("raw_criu_restore", mib, kind)
                if lr and rr:
                    row["restore_vs_raw"] = rr / lr
                extra = [r for r in self.results if r["what"] == "lsf_dump" and r["mib"] == mib
                         and r["kind"] == kind]
                for k in ("image_bytes", "stored_bytes", "compression", "peak_rss_kib"):
                    vals = [r[k] for r in extra if k in r]
                    if vals:
                        row[k] = vals[-1]
                rows.append(row)
        big = max(CFG["sizes"])
        for mib in CFG["sizes"]:
            r = next((x for x in rows if x["mib"] == mib and x["kind"] == "random"), None)
            if r and "lsf_vs_direct" in r:
                targets.append({"target": "durable checkpoint, %d MiB incompressible, vs dd "
                                "O_DIRECT" % mib, "value": r["lsf_vs_direct"], "limit": ">= 0.9",
                                "met": r["lsf_vs_direct"] >= 0.9})
        r = next((x for x in rows if x["mib"] == big and x["kind"] == "compressible"), None)
        if r and "lsf_vs_direct" in r:
            targets.append({"target": "durable checkpoint, %d MiB compressible, vs dd O_DIRECT"
                            % big, "value": r["lsf_vs_direct"], "limit": ">= 2.0",
                            "met": r["lsf_vs_direct"] >= 2.0})
            lr = self.med("lsf_restore", big, "compressible")
            ur = self.med("raw_criu_restore", big, "compressible")
            if lr and ur:
                targets.append({"target": "restore, %d MiB compressible (compressed image) vs "
                                "raw criu restore of the uncompressed image" % big,
                                "value": ur / lr, "limit": ">= 1.0", "met": ur / lr >= 1.0})
        s_raw, s_lsf = self.secs("raw_criu_dump", 1, "random"), self.secs("lsf_dump", 1, "random")
        if s_raw and s_lsf:
            ov = (statistics.median(s_lsf) - statistics.median(s_raw)) * 1000
            targets.append({"target": "fixed overhead of a 1 MiB checkpoint over raw criu (ms, "
                            "median)", "value": ov, "limit": "<= 20", "met": ov <= 20,
                            "raw_ms": statistics.median(s_raw) * 1000,
                            "lsf_ms": statistics.median(s_lsf) * 1000,
                            "min_diff_ms": (min(s_lsf) - min(s_raw)) * 1000})
        sec = min(CFG["sizes"], key=lambda s: abs(s - 1024))
        f, s = self.med("lsf_first", sec, "random"), self.med("lsf_second", sec, "random")
        if f and s:
            targets.append({"target": "second checkpoint vs first (%d MiB)" % sec,
                            "value": s / f, "limit": "<= 1.0", "met": s / f <= 1.0})
        for n in CFG["concurrent"]:
            tot = n * CFG["conc_mib"]
            a, b = self.med("raw_parallel", tot, "x%d" % n), self.med("lsf_parallel", tot, "x%d" % n)
            if a and b:
                targets.append({"target": "%d concurrent %d MiB checkpoints vs raw parallel criu"
                                % (n, CFG["conc_mib"]), "value": b / a,
                                "limit": "<= 1.1", "met": b / a <= 1.1})
        rss = [(r["mib"], r["peak_rss_kib"]) for r in self.results
               if r["what"] == "lsf_dump" and "peak_rss_kib" in r]
        if rss:
            lo = min(v for _, v in rss)
            hi = max(v for _, v in rss)
            targets.append({"target": "peak memory of lsf-criu's processes (MiB), smallest to "
                            "largest job", "value": hi / 1024.0, "smallest": lo / 1024.0,
                            "limit": "flat", "met": hi <= lo * 1.5 + 16 * 1024})
        res = {
            "machine": {"host": platform.node(), "kernel": platform.release(),
                        "cpus": os.cpu_count(), "load_start": load0, "load_end": load1,
                        "dir": CFG["dir"], "fs": fs_type(CFG["dir"]),
                        "busy": max(load0[1], load1[1]) > (os.cpu_count() or 1) * 0.5},
            "config": CFG, "elapsed_s": elapsed, "results": self.results, "rows": rows,
            "targets": targets,
        }
        os.makedirs(CFG["out"], exist_ok=True)
        with open(os.path.join(CFG["out"], "bench.json"), "w") as f:
            json.dump(res, f, indent=1)
        print_table(res)
        plot(res, os.path.join(CFG["out"], "bench.png"))
        return res


def fs_type(path):
    best, typ = "", "?"
    with open("/proc/self/mounts") as f:
        for ln in f:
            parts = ln.split()
            if len(parts) > 2 and path.startswith(parts[1]) and len(parts[1]) > len(best):
                best, typ = parts[1], "%s (%s on %s)" % (parts[2], parts[0], parts[1])
    return typ


def fmt(cell):
    if not cell:
        return "-"
    return "%.2fs %4.0f" % (cell["median"], cell["mibps"])


def print_table(res):
    m = res["machine"]
    log("")
    log("lsf-criu bench: %s, %d CPUs, %s; load %.1f -> %.1f%s" % (
        m["kernel"], m["cpus"], m["fs"], m["load_start"][1], m["load_end"][1],
        "  (BUSY machine: numbers are noisy)" if m["busy"] else ""))
    log("median seconds and MiB/s of the job's memory; ratios are rates (higher is better)")
    hdr = ("size", "kind", "dd direct", "dd fsync", "raw criu", "criu+streamer", "lsf-criu",
           "lsf/direct", "lsf/raw", "raw restore", "lsf restore", "restore lsf/raw")
    log("%6s %-12s %13s %13s %13s %13s %13s %10s %8s %13s %13s %8s" % hdr)
    for r in res["rows"]:
        log("%6d %-12s %13s %13s %13s %13s %13s %10s %8s %13s %13s %8s" % (
            r["mib"], r["kind"], fmt(r.get("dd_direct")), fmt(r.get("dd_fsync")),
            fmt(r.get("raw_criu_dump")), fmt(r.get("raw_stream_dump")), fmt(r.get("lsf_dump")),
            "%.2f" % r["lsf_vs_direct"] if "lsf_vs_direct" in r else "-",
            "%.2f" % r["lsf_vs_raw"] if "lsf_vs_raw" in r else "-",
            fmt(r.get("raw_criu_restore")), fmt(r.get("lsf_restore")),
            "%.2f" % r["restore_vs_raw"] if "restore_vs_raw" in r else "-"))
    for r in res["results"]:
        if r["what"] == "ceiling_no_disk":
            log("criu --stream with nothing stored, %d MiB %s: %.2f s = %.0f MiB/s; %s" % (
                r["mib"], r["kind"], r["seconds"], r["mib"] / r["seconds"], r.get("decision")))
    log("")
    log("targets:")
    for t in res["targets"]:
        log("  %-4s %-80s %8.2f  (%s)" % ("ok" if t["met"] else "MISS", t["target"], t["value"],
                                         t["limit"]))


def plot(res, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("no matplotlib: %s not drawn" % path)
        return
    rows = res["rows"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    series = [("dd_direct", "dd O_DIRECT"), ("dd_fsync", "dd buffered+fsync"),
              ("raw_criu_dump", "raw criu + fsync"), ("raw_stream_dump", "criu + our streamer"),
              ("lsf_dump", "lsf-criu checkpoint")]
    labels = ["%d MiB\n%s" % (r["mib"], r["kind"][:6]) for r in rows]
    width = 0.8 / len(series)
    for i, (key, name) in enumerate(series):
        vals = [r[key]["mibps"] if key in r else 0 for r in rows]
        axes[0].bar([x + i * width for x in range(len(rows))], vals, width, label=name)
    axes[0].set_xticks([x + 0.4 - width / 2 for x in range(len(rows))])
    axes[0].set_xticklabels(labels, fontsize=8)
    axes[0].set_ylabel("MiB/s of job memory (median), durable")
    axes[0].set_title("checkpoint")
    axes[0].legend(fontsize=8)
    rs = [("raw_criu_restore", "raw criu restore (cold)"), ("lsf_restore", "lsf-criu restore")]
    width = 0.8 / len(rs)
    for i, (key, name) in enumerate(rs):
        vals = [r[key]["mibps"] if key in r else 0 for r in rows]
        axes[1].bar([x + i * width for x in range(len(rows))], vals, width, label=name)
    axes[1].set_xticks([x + 0.4 - width / 2 for x in range(len(rows))])
    axes[1].set_xticklabels(labels, fontsize=8)
    axes[1].set_ylabel("MiB/s until the job runs again (median)")
    axes[1].set_title("restore")
    axes[1].legend(fontsize=8)
    m = res["machine"]
    fig.suptitle("lsf-criu bench: %d CPUs, %s%s" % (m["cpus"], m["fs"],
                                                   ", busy machine" if m["busy"] else ""),
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    log("plot: %s" % path)


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("bench: run as root (jobs run as %s)" % CFG["user"])
    try:
        pwd.getpwnam(CFG["user"])
    except KeyError:
        sys.exit("bench: user %s does not exist (make check or make demo creates it)"
                 % CFG["user"])
    Bench().main()
