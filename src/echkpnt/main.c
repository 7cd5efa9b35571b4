/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * echkpnt.criu - the LSF checkpoint method "criu".
 *
 * LSF's generic echkpnt execs this program with its own argv:
 *     echkpnt.criu [-c] [-f] [-k | -s] [-d dir] [-x] process_group_ID
 * as the job owner, with cwd = the checkpoint base directory and the job's
 * environment ($LSB_JOBID, $LSB_CHKPNT_DIR).
 *
 * Expected identity: the job owner. Nothing is done to a process of any
 * other uid.
 *
 * It dumps the job's process tree with criu into a fresh image set
 * $LSB_CHKPNT_DIR/ckpt.<N>/ and commits it before anything irreversible
 * happens to the job:
 *
 *   1. preflight: the job's memory against the room left on the checkpoint
 *      filesystem (free space and quota); a job that cannot fit is refused;
 *   2. dump: criu leaves the job stopped (-k, -s) or running, never kills it;
 *   3. commit: the images are verified, meta.json written, every file and the
 *      directory fsync()ed, lsf-criu.current switched to the new set, and the
 *      ledger records it (lsf-criu.current is rolled back if that fails);
 *   4. only then, with -k, the stopped job is killed.
 *
 * Any failure before the commit resumes the job (SIGCONT to the processes
 * criu stopped), keeps only the logs of the attempt (ckpt.<N>.failed/) and
 * exits non-zero with one log line; a checkpoint asked for at the run limit
 * then ends the job as LSF would, since LSF does not terminate it again. A
 * guardian process (its own session) does the same if this program dies
 * half-way, and finishes the kill if it dies after the commit. Older and
 * failed image sets are removed once the new one is recorded.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "chain.h"
#include "cleanup.h"
#include "criu.h"
#include "imgstream.h"
#include "exitcodes.h"
#include "imgset.h"
#include "job.h"
#include "jobdir.h"
#include "killseq.h"
#include "log.h"
#include "lsfcmd.h"
#include "lsfenv.h"
#include "meta.h"
#include "plan.h"
#include "portable.h"
#include "space.h"
#include "util.h"
#include "version.h"

#define MAX_FILE_COPY (4 << 20)

struct opts {
	bool copy, force, kill, stop, x;
	const char *tmpdir;
	pid_t pgid;
};

/* One checkpoint attempt: everything the failure path and the guardian need. */
struct ckpt {
	struct opts o;
	const char *jobid, *chkdir;
	int dirfd, imgfd;
	struct lc_cfg cfg;
	struct lc_job_procs job;
	struct lc_meta *m;
	char imgset[64];     /* "" until created */
	char prev[64];	     /* lsf-criu.current before this attempt, "" if none */
	bool overrun;	     /* asked by the TERMINATE action at the job's run limit */
	long long deadline;  /* criu is killed then (epoch seconds) */
	long long mem_bytes; /* the job's memory, estimated before the dump */
	double plan_rate;    /* memory bytes/s of the chain's earlier checkpoints, 0: none */
	char plan_from[96];
	double disk_hint;  /* bytes/s earlier dumps wrote here, for the streamer */
	bool *was_stopped; /* per tree process: stopped before we began */
	int guard;	   /* write end of the guardian's pipe, or -1 */
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: echkpnt.criu [-c] [-f] [-k | -s] [-d dir] [-x] process_group_ID\n"
		"\n"
		"LSF checkpoint method: checkpoint the job with criu.\n"
		"Run by LSF's echkpnt (bchkpnt, periodic checkpoints); reads LSB_JOBID and\n"
		"LSB_CHKPNT_DIR from the environment.\n"
		"\n"
		"  -c             accepted for LSF compatibility (criu saves what it needs)\n"
		"  -f             accepted for LSF compatibility\n"
		"  -k             kill the job once the checkpoint is committed\n"
		"  -s             stop (SIGSTOP) the job once the checkpoint is committed\n"
		"  -d dir         LSF's temporary checkpoint directory; left empty on purpose\n"
		"  -x             accepted for LSF compatibility\n"
		"  -h, --help     show this help\n"
		"  -V, --version  show the version\n"
		"\n"
		"See echkpnt.criu(8).\n");
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	long v;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:cfksd:xhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o->copy = true; break;
		case 'f': o->force = true; break;
		case 'k': o->kill = true; break;
		case 's': o->stop = true; break;
		case 'x': o->x = true; break;
		case 'd': o->tmpdir = optarg; break;
		case 'h': usage(stdout); exit(fflush(stdout) ? LC_EXIT_FAILURE : LC_EXIT_OK);
		case 'V':
			printf("echkpnt.criu (lsf-criu) %s (%s)\n", LC_VERSION, LC_GIT_ID);
			exit(fflush(stdout) ? LC_EXIT_FAILURE : LC_EXIT_OK);
		case ':': log_error("option '-%c' needs an argument", optopt); return -EINVAL;
		default: log_warn("unknown option '%s', ignoring", argv[optind - 1]); break;
		}
	}
	if (o->kill && o->stop) {
		log_error("options -k and -s exclude each other");
		return -EINVAL;
	}
	if (argc - optind != 1) {
		log_error("expected exactly one process group ID, got %d arguments", argc - optind);
		return -EINVAL;
	}
	if (lc_parse_long(argv[optind], 2, 1 << 22, &v) < 0) {
		log_error("process group ID '%s' is not a valid pid", argv[optind]);
		return -EINVAL;
	}
	o->pgid = (pid_t)v;
	return 0;
}

/* ---- the job's processes ---- */

static const struct lc_proc *tree_proc(const struct ckpt *c, size_t k)
{
	for (size_t i = 0; i < c->job.n_all; i++)
		if (c->job.all[i].pid == c->job.tree[k])
			return &c->job.all[i];
	return NULL;
}

/* Remembers which processes were stopped already (bstop): they stay stopped. */
static int note_stopped(struct ckpt *c)
{
	c->was_stopped = calloc(c->job.n_tree ? c->job.n_tree : 1, sizeof(bool));
	if (!c->was_stopped)
		return -ENOMEM;
	for (size_t k = 0; k < c->job.n_tree; k++) {
		const struct lc_proc *p = tree_proc(c, k);
		struct lc_proc now;

		if (p && lc_proc_read(p->pid, &now) == 0 && now.start_time == p->start_time)
			c->was_stopped[k] = now.state == 'T';
	}
	return 0;
}

/* Sends sig to every process of the tree that is still the one we found. */
static void signal_tree(const struct ckpt *c, int sig, bool skip_stopped)
{
	for (size_t k = 0; k < c->job.n_tree; k++) {
		const struct lc_proc *p = tree_proc(c, k);

		if (!p || (skip_stopped && c->was_stopped && c->was_stopped[k]))
			continue;
		if (lc_proc_alive(p->pid, p->start_time))
			(void)kill(p->pid, sig);
	}
}

static int wait_gone(const struct lc_job_procs *j, double seconds)
{
	double end = lc_now() + seconds;

	/* A killed stopped process is gone within a millisecond or two: look often first. */
	for (long ms = 1; lc_job_tree_alive(j); ms = ms < 32 ? 2 * ms : 32) {
		if (lc_now() >= end)
			return -ETIMEDOUT;
		lc_msleep(ms);
	}
	return 0;
}

/* Kills the committed job: the stopped tree first, then the rest of LSF's group. */
static int kill_job(const struct ckpt *c)
{
	lc_job_kill_tree(&c->job);
	if (wait_gone(&c->job, (double)c->cfg.kill_wait_seconds) < 0)
		log_warn("job processes still alive %ld s after SIGKILL", c->cfg.kill_wait_seconds);
	lc_job_kill_group_rest(c->o.pgid, 5);
	return wait_gone(&c->job, 10);
}

/* Ends a job whose run-limit checkpoint failed, as LSF would have at the limit. */
static void end_like_lsf(const struct ckpt *c)
{
	pid_t pg = c->o.pgid;

	log_error("the checkpoint was requested at job %s's run limit: ending the job as LSF "
		  "would",
		  c->jobid);
	(void)lc_kill_sequence(&pg, 1, lc_cfg_terminate_interval(&c->cfg));
	lc_job_kill_tree(&c->job); /* anything of the tree outside LSF's group */
}

/* ---- failure, and the guardian that covers our own death ---- */

/*
 * A process that outlives us must not hold LSF's stdio: a caller reading it
 * through a pipe would wait for that process too. It logs to the job log.
 */
static void quiet_stdio(void)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (null < 0)
		return;
	for (int fd = 0; fd < 3; fd++)
		(void)dup2(null, fd);
	if (null > 2)
		close(null);
	lc_log_stderr_level(LC_LOG_ERROR);
}

/*
 * Undoes a checkpoint that was not committed: resumes the processes criu
 * stopped, keeps only the logs of the image set, tells the ledger, and ends
 * a run-limit job as LSF would.
 */
/*
 * 0, or the errno with which the checkpoint filesystem refuses a small
 * write: a dump that met a full disk or quota often cannot even tell it in
 * its own log.
 */
static int refuses_writes(int fd)
{
	static const char zeros[65536];
	char name[64];
	int tmp, e = 0;

	snprintf(name, sizeof(name), ".lsf-criu-probe.%d", (int)getpid());
	tmp = openat(fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (tmp < 0)
		return errno == ENOSPC || errno == EDQUOT ? errno : 0;
	if (write(tmp, zeros, sizeof(zeros)) < 0 || fsync(tmp) < 0)
		e = errno == ENOSPC || errno == EDQUOT ? errno : 0;
	close(tmp);
	(void)unlinkat(fd, name, 0);
	return e;
}

static void roll_back(struct ckpt *c, const char *why)
{
	_cleanup_close_ int lock = -1;
	struct lc_ledger l;
	struct lc_err err = { 0 };
	char failed[96] = "", full[64] = "";
	bool must_end = false;
	int r = 0;

	if (c->o.kill || c->o.stop)
		signal_tree(c, SIGCONT, true);
	if (c->imgset[0] && (r = refuses_writes(c->dirfd)) != 0)
		snprintf(full, sizeof(full), " (the checkpoint filesystem refuses writes: %s)",
			 strerror(r));
	/* The images go first: on a full filesystem or quota, the log and the ledger need room. */
	if (c->imgset[0]) {
		if (c->imgfd >= 0)
			close(c->imgfd);
		c->imgfd = -1;
		r = lc_imgset_quarantine(c->dirfd, c->imgset, failed, sizeof(failed));
	}
	log_error("checkpoint of job %s failed: %s%s; %s", c->jobid, why, full,
		  c->overrun ? "it was asked at the run limit, so the job is ended"
		  : c->job.n_tree && !lc_job_tree_alive(&c->job) ? "the job is gone"
								 : "the job keeps running");
	if (r < 0)
		log_warn("cannot set the failed image set '%s' aside: %s, ignoring", c->imgset,
			 strerror(-r));
	else if (failed[0])
		log_info("the failed attempt's logs are kept in '%s'; its images are removed",
			 failed);
	lock = lc_chain_open(c->dirfd, c->jobid, false, 30, &l, &err);
	if (lock >= 0) {
		must_end = lc_chain_checkpoint_failed(&l, c->jobid, why);
		if (must_end && lc_chain_close(c->dirfd, &lock, &l, &err) < 0)
			log_warn("%s", err.msg);
	} else if (err.code != ENOENT) {
		log_warn("%s; the ledger is not updated", err.msg);
		must_end = c->overrun;
	}
	if (must_end)
		end_like_lsf(c);
}

static void guard_say(const struct ckpt *c, const void *msg, size_t len)
{
	if (c->guard >= 0)
		(void)!write(c->guard, msg, len);
}

static void on_criu_started(pid_t pgrp, void *arg)
{
	char msg[1 + sizeof(pid_t)];

	msg[0] = 'P';
	memcpy(msg + 1, &pgrp, sizeof(pgrp));
	guard_say(arg, msg, sizeof(msg));
}

/*
 * A set committed and the job killed, but LSF never heard of the checkpoint
 * (echkpnt.criu died before its exit status): LSF will not brestart it. The
 * chain ends, saying how to restore it anyway.
 */
static void orphaned_commit(struct ckpt *c, const char *why)
{
	_cleanup_close_ int lock = -1;
	struct lc_ledger l;
	struct lc_err err = { 0 };
	char real[PATH_MAX] = "", reason[128];

	(void)!realpath(c->chkdir, real);
	log_error("'%s' is committed but LSF has no record of it (%s): LSF will not brestart it; "
		  "'lsf-criu-restore %s %s' run by hand restores the job",
		  c->imgset, why, real, c->imgset);
	snprintf(reason, sizeof(reason),
		 "'%s' committed, but echkpnt.criu died before LSF "
		 "recorded it: restore it with lsf-criu-restore",
		 c->imgset);
	lock = lc_chain_open(c->dirfd, c->jobid, false, 30, &l, &err);
	if (lock < 0)
		return;
	lc_chain_terminated(&l, c->jobid, reason);
	(void)lc_chain_close(c->dirfd, &lock, &l, &err);
}

/*
 * The guardian: a child in its own session that waits for us. If we die
 * before saying 'D' (done), it kills criu, and then either finishes the
 * kill of a committed job ('C' said) or rolls the checkpoint back.
 */
static void guardian(struct ckpt *c, int rfd)
{
	pid_t criu = 0;
	bool committed = false;
	char b;

	(void)setsid();
	quiet_stdio();
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	c->guard = -1;
	for (;;) {
		ssize_t n = read(rfd, &b, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (b == 'D')
			_exit(0);
		if (b == 'C')
			committed = true;
		if (b == 'P' && read(rfd, &criu, sizeof(criu)) != (ssize_t)sizeof(criu))
			criu = 0;
	}
	log_error("echkpnt.criu died during the checkpoint of job %s; its guardian %s", c->jobid,
		  committed ? "finishes the kill of the committed job"
			    : "rolls the checkpoint back");
	if (criu > 0 && kill(-criu, SIGKILL) < 0)
		(void)kill(criu, SIGKILL);
	if (committed) {
		/*
		 * LSF saw this checkpoint fail. Ask it for another one, which hands
		 * the committed set over (see hand_over()): LSF then records it.
		 */
		struct lc_handover h = { 0 };
		struct lc_err err = { 0 };

		snprintf(h.jobid, sizeof(h.jobid), "%s", c->jobid);
		snprintf(h.imgset, sizeof(h.imgset), "%s", c->imgset);
		snprintf(h.why, sizeof(h.why), "echkpnt.criu died after committing it");
		if (lc_handover_save(c->dirfd, &h) == 0 && lc_lsf_bchkpnt_kill(c->jobid, &err) == 0)
			_exit(0); /* our exit releases the directory lock for that checkpoint */
		(void)unlinkat(c->dirfd, LC_HANDOVER_FILE, 0);
		(void)kill_job(c);
		orphaned_commit(c, err.msg[0] ? err.msg : strerror(errno));
	} else {
		/* Give criu's own clean-up (it resumes what it seized) a moment. */
		if (criu > 0)
			lc_msleep(200);
		roll_back(c, "echkpnt.criu died");
	}
	_exit(0);
}

static int start_guardian(struct ckpt *c)
{
	int pfd[2];
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -errno;
	}
	if (pid == 0) {
		close(pfd[1]);
		guardian(c, pfd[0]);
	}
	close(pfd[0]);
	c->guard = pfd[1];
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* ---- the steps ---- */

/* Whether this is the run-limit checkpoint of this job, and its deadline. */
static void plan(struct ckpt *c)
{
	_cleanup_close_ int lock = -1;
	struct lc_ledger l;
	struct lc_err err = { 0 };
	long long now = (long long)time(NULL);

	c->deadline = now + c->cfg.checkpoint_timeout_seconds;
	lock = lc_chain_open(c->dirfd, c->jobid, false, 30, &l, &err);
	if (lock < 0) {
		if (err.code != ENOENT)
			log_warn("%s; treating this as a checkpoint on request", err.msg);
		return;
	}
	if (lc_plan_rate(&l, &c->plan_rate, c->plan_from, sizeof(c->plan_from)) < 0)
		c->plan_rate = 0;
	if (l.n_ckpts > 0 && l.ckpts[l.n_ckpts - 1].seconds > 0.01 &&
	    l.ckpts[l.n_ckpts - 1].bytes >= (64LL << 20))
		c->disk_hint =
			(double)l.ckpts[l.n_ckpts - 1].bytes / l.ckpts[l.n_ckpts - 1].seconds;
	if (l.state != LC_CHAIN_OVERRUN || strcmp(l.req_jobid, c->jobid))
		return;
	c->overrun = true;
	c->deadline = l.req_deadline;
	log_info("run-limit checkpoint: it must be committed by the deadline of "
		 "ORUN_TIMEOUT_SECONDS (%lld s from now)",
		 c->deadline - now);
}

/*
 * A run-limit checkpoint whose memory cannot be written in what is left of
 * ORUN_TIMEOUT_SECONDS, at the rate of this chain's earlier checkpoints, is
 * said at once with the numbers. The dump is still tried.
 */
static void plan_fit(const struct ckpt *c)
{
	struct lc_plan p = { .bytes = c->mem_bytes };
	long long left = c->deadline - (long long)time(NULL);

	lc_plan_estimate(&p, c->plan_rate, c->plan_from);
	if (p.seconds > (double)left)
		log_warn("the run-limit checkpoint of job %s will probably not finish in time: "
			 "%.1f GiB of memory at %.0f MiB/s (%s) take about %.0f s, and %lld s of "
			 "ORUN_TIMEOUT_SECONDS are left; the job will be killed if it does not "
			 "finish (a larger ORUN_TIMEOUT_SECONDS would save it)",
			 c->jobid, (double)p.bytes / (1 << 30), p.rate / 1048576.0, p.rate_from,
			 p.seconds, left);
	else
		log_info("run-limit checkpoint planned: %.2f GiB of memory at %.0f MiB/s (%s), "
			 "about %.1f s of the %lld s left",
			 (double)p.bytes / (1 << 30), p.rate / 1048576.0, p.rate_from, p.seconds,
			 left);
}

/* Refuses a checkpoint that cannot fit in the room left on the filesystem. */
static int preflight(struct ckpt *c, struct lc_err *err)
{
	struct lc_space sp;
	long long need;
	int r;

	c->mem_bytes = lc_mem_estimate(c->job.tree, c->job.n_tree);
	if (c->overrun)
		plan_fit(c);
	r = lc_space_query(c->dirfd, getuid(), &sp, err);
	if (r < 0) {
		log_warn("%s; checking the room for the images is skipped", err->msg);
		return 0;
	}
	need = c->mem_bytes + c->cfg.space_margin_mb * 1048576LL;
	log_info("the job's memory is %.1f MiB; the checkpoint filesystem%s%s%s has %.1f MiB free"
		 "%s",
		 (double)c->mem_bytes / 1048576.0, sp.fstype[0] ? " (" : "", sp.fstype,
		 sp.fstype[0] ? ")" : "", (double)sp.free / 1048576.0,
		 sp.quota_left >= 0 ? ", quota permitting less" : "");
	if (lc_space_room(&sp) < need)
		return lc_err_set(err, ENOSPC,
				  "not enough room for the images: the job needs about "
				  "%.1f MiB (its memory plus a margin of %ld MiB), the checkpoint "
				  "filesystem has %.1f MiB%s",
				  (double)need / 1048576.0, c->cfg.space_margin_mb,
				  (double)lc_space_room(&sp) / 1048576.0,
				  sp.quota_left >= 0 && sp.quota_left < sp.free
					  ? " left under the user's disk quota"
					  : " free");
	return 0;
}

/*
 * The job file the root shell runs (argv[1] of its command line), resolved
 * against its cwd, or "" when the root is not running a script.
 */
static void root_script(pid_t pid, char *buf, size_t size)
{
	_cleanup_free_ char *cmd = NULL;
	_cleanup_close_ int cwd = -1, sfd = -1;
	char path[64], resolved[PATH_MAX];
	size_t len = 0, a0;
	ssize_t n;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if (lc_read_file_at(AT_FDCWD, path, 65536, (uid_t)-1, &cmd, &len) < 0 || len == 0)
		return;
	a0 = strlen(cmd);
	if (a0 + 1 >= len || cmd[a0 + 1] == '-')
		return;
	snprintf(path, sizeof(path), "/proc/%d/cwd", (int)pid);
	cwd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cwd < 0)
		return;
	sfd = openat(cwd, cmd + a0 + 1, O_RDONLY | O_CLOEXEC);
	if (sfd < 0)
		return;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", sfd);
	n = readlink(path, resolved, sizeof(resolved) - 1);
	if (n <= 0)
		return;
	resolved[n] = '\0';
	snprintf(buf, size, "%s", resolved);
}

/*
 * Records the root's stdio and saves a copy of the job file the root shell
 * reads, so a restore does not depend on LSF keeping that file. Nothing else
 * is copied: a restored process must keep using its real files (and its
 * locks on them).
 */
static void inspect_files(const struct lc_job_procs *j, int imgfd, const char *chkdir,
			  struct lc_meta *m)
{
	char script[PATH_MAX], own[PATH_MAX + 8] = "";
	_cleanup_closedir_ DIR *d = NULL;
	char path[64];
	struct dirent *de;

	for (int fd = 0; fd < 3; fd++) {
		struct lc_meta_stdio *s = &m->stdio[m->n_stdio];

		if (lc_proc_fd_target(j->root.pid, fd, s->target, sizeof(s->target)) < 0)
			continue;
		s->fd = fd;
		m->n_stdio++;
		log_info("job fd %d is '%s'", fd, s->target);
	}
	if (j->ns_init > 0)
		return; /* the root is the user's command, not LSF's job-file shell */
	root_script(j->root.pid, script, sizeof(script));
	/* After a restart the shell reads the copy a previous checkpoint saved here. */
	if (realpath(chkdir, own))
		strncat(own, "/ckpt.", sizeof(own) - strlen(own) - 1);
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)j->root.pid);
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d)) && m->n_files < LC_META_MAX_FILES) {
		struct lc_meta_file *f = &m->files[m->n_files];
		_cleanup_close_ int fd = -1;
		long num;
		int flags, r;
		struct stat st;
		char fdpath[96];

		if (lc_parse_long(de->d_name, 3, 1 << 20, &num) < 0)
			continue;
		if (lc_proc_fd_target(j->root.pid, (int)num, f->path, sizeof(f->path)) < 0 ||
		    (strcmp(f->path, script) && !(own[0] && !strncmp(f->path, own, strlen(own)) &&
						  strstr(f->path, "/file."))) ||
		    lc_proc_fdinfo(j->root.pid, (int)num, &f->pos, &flags) < 0 ||
		    (flags & O_ACCMODE) != O_RDONLY)
			continue;
		snprintf(fdpath, sizeof(fdpath), "/proc/%d/fd/%ld", (int)j->root.pid, num);
		fd = open(fdpath, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
		    st.st_size > MAX_FILE_COPY)
			continue;
		f->fd = (int)num;
		snprintf(f->copy, sizeof(f->copy), "file.%ld", num);
		r = lc_copy_fd_at(fd, imgfd, f->copy, 0600, MAX_FILE_COPY);
		if (r < 0) {
			log_warn("cannot save a copy of '%s': %s, ignoring", f->path, strerror(-r));
			continue;
		}
		log_info("saved a copy of '%s' (fd %ld, offset %lld), read by the job's root",
			 f->path, num, f->pos);
		m->n_files++;
	}
}

static int verify_images(int imgfd, pid_t root, struct lc_err *err)
{
	char core[64];
	const char *need[] = { "inventory.img", "pstree.img", core, NULL };
	struct stat st;

	snprintf(core, sizeof(core), "core-%d.img", (int)root);
	if (lc_stream_is_streamed(imgfd)) {
		struct lc_stream_stats vs;

		/* The streamer wrote and synced it: its footer, its index, these images. */
		return lc_stream_verify(imgfd, need, false, &vs, err);
	}
	for (size_t i = 0; need[i]; i++) {
		if (fstatat(imgfd, need[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
			return lc_err_set(err, errno, "image file '%s' is missing", need[i]);
		if (!S_ISREG(st.st_mode) || st.st_size == 0)
			return lc_err_set(err, EINVAL, "image file '%s' is empty", need[i]);
	}
	return 0;
}

/* A fresh image set for this attempt (before the guardian, which must know it). */
static int create_imgset(struct ckpt *c, struct lc_err *err)
{
	int r = lc_imgset_next(c->dirfd, c->imgset, sizeof(c->imgset));

	if (r < 0 || mkdirat(c->dirfd, c->imgset, 0700) < 0) {
		r = r < 0 ? r : -errno;
		c->imgset[0] = '\0';
		return lc_err_set(err, -r, "cannot create an image set in '%s'", c->chkdir);
	}
	c->imgfd = openat(c->dirfd, c->imgset, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (c->imgfd < 0)
		return lc_err_set(err, errno, "cannot open '%s'", c->imgset);
	return 0;
}

/* What the streamer did, in the log and in meta.json. */
static void note_stream(struct ckpt *c, const struct lc_stream_stats *ss)
{
	struct lc_meta *m = c->m;
	struct rusage ru;

	m->stream = true;
	m->raw_bytes = ss->raw_bytes;
	snprintf(m->compression, sizeof(m->compression), "%s", ss->zstd_raw ? "zstd-1" : "none");
	m->write_rate = ss->write_rate;
	m->zstd_rate = ss->zstd_rate;
	snprintf(m->decision, sizeof(m->decision), "%s", ss->decision);
	m->peak_rss_kib = ss->peak_rss_kib;
	if (getrusage(RUSAGE_SELF, &ru) == 0 && ru.ru_maxrss > m->peak_rss_kib)
		m->peak_rss_kib = ru.ru_maxrss;
	log_info("images: %d files, %.1f MiB stored as %.1f MiB (%s, %.0f%% of it compressed, "
		 "ratio %.2f); disk %.0f MiB/s%s, fdatasync %.3f s; %s; peak memory %.1f MiB",
		 ss->n_files, ss->raw_bytes / 1048576.0, ss->file_bytes / 1048576.0, m->compression,
		 ss->raw_bytes ? 100.0 * ss->zstd_raw / ss->raw_bytes : 0.0,
		 ss->zstd_raw ? (double)ss->zstd_stored / ss->zstd_raw : 1.0,
		 ss->write_rate / 1048576.0, ss->direct ? " (direct I/O)" : " (page cache)",
		 ss->sync_seconds, ss->decision, m->peak_rss_kib / 1024.0);
}

/* Runs criu into the image set; the job is left stopped (-k, -s) or running. */
static int dump(struct ckpt *c, struct lc_err *err)
{
	struct lc_dump_opts d = { 0 };
	char nspath[PATH_MAX];
	int r;

	snprintf(c->m->jobid, sizeof(c->m->jobid), "%s", c->jobid);
	c->m->created = (long long)time(NULL);
	c->m->root_pid = c->job.root.pid;
	c->m->root_start_time = c->job.root.start_time;
	c->m->uid = getuid();
	for (size_t k = 0; k < c->job.n_tree && k < LC_META_MAX_PIDS; k++)
		c->m->pids[c->m->n_pids++] = c->job.tree[k];
	inspect_files(&c->job, c->imgfd, c->chkdir, c->m);
	/*
	 * Always dump file locks: /proc/locks names a lock's owner by the PID that
	 * took it (possibly gone) or -1 (OFD locks), so a job's locks cannot be
	 * found reliably, and without --file-locks criu either refuses or, at
	 * restore, silently drops them.
	 */
	c->m->file_locks = true;
	if (lc_job_holds_locks(&c->job))
		log_info("the job holds file locks; they are dumped with it (--file-locks)");

	d.criu = c->cfg.criu;
	d.workfd = c->dirfd;
	d.imgdir = c->imgset;
	d.root = c->job.dump_pid;
	if (c->job.ns_init > 0) {
		/* criu runs inside the job's mount namespace, with "/" as its cwd. */
		char real[PATH_MAX];

		if (!realpath(c->chkdir, real) || snprintf(nspath, sizeof(nspath), "%s/%s", real,
							   c->imgset) >= (int)sizeof(nspath))
			return lc_err_set(err, ENAMETOOLONG, "cannot resolve '%s'", c->chkdir);
		d.imgdir = nspath;
		d.ns_init = c->job.ns_init;
		c->m->ns = true;
	}
	d.leave_running = !c->o.kill && !c->o.stop;
	d.leave_stopped = !d.leave_running;
	d.shell_job = true;
	d.file_locks = c->m->file_locks;
	d.deadline = c->deadline;
	d.started = on_criu_started;
	d.started_arg = c;
	d.stream = c->cfg.image_streaming;
	d.sopts.compress = (enum lc_compress)c->cfg.compression;
	d.sopts.disk_rate_hint = c->disk_hint;
	log_info("dumping %zu process(es) of job %s into '%s' with criu %s", c->job.n_tree,
		 c->jobid, c->imgset, c->m->criu_version);
	r = lc_criu_dump(&d, err);
	if (r < 0)
		return r;
	c->m->dump_seconds = d.seconds;
	if (d.stream)
		note_stream(c, &d.sstats);
	r = verify_images(c->imgfd, c->job.dump_pid, err);
	if (r == 0) {
		struct lc_err perr = { 0 };

		/* output.json and host-needs.json: what a restore rebinds and needs from a host */
		if (lc_portable_record(c->imgfd, c->dirfd, c->chkdir, &c->job, c->m,
				       d.leave_stopped, &perr) < 0)
			log_warn("%s; a restore will check less before it starts", perr.msg);
	}
	return r;
}

/* True while path still names the directory open as fd. */
static bool same_dir(const char *path, int fd)
{
	struct stat a, b;

	return stat(path, &a) == 0 && fstat(fd, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

/* Makes the image set durable and current, and records it in the ledger. */
static int commit(struct ckpt *c, struct lc_err *err)
{
	_cleanup_close_ int lock = -1;
	struct lc_ledger l;
	struct lc_ckpt_done done;
	int r;

	c->m->killed = c->o.kill;
	c->m->image_bytes = lc_dir_bytes(c->imgfd);
	r = lc_meta_save(c->imgfd, c->m);
	if (r < 0)
		return lc_err_set(err, -r, "cannot write '%s/meta.json'", c->imgset);
	r = lc_imgset_sync(c->imgfd);
	if (r < 0)
		return lc_err_set(err, -r, "cannot flush the images of '%s' to disk", c->imgset);
	/*
	 * LSF moves its files into LSB_CHKPNT_DIR by that path once we return:
	 * if the directory was moved away meanwhile, LSF cannot record the
	 * checkpoint, so we must not commit it either.
	 */
	if (!same_dir(c->chkdir, c->dirfd))
		return lc_err_set(err, ENOENT,
				  "the checkpoint directory '%s' was moved away during "
				  "the checkpoint",
				  c->chkdir);
	r = lc_current_save(c->dirfd, c->imgset);
	if (r < 0)
		return lc_err_set(err, -r, "cannot record '%s' as current", c->imgset);
	done = (struct lc_ckpt_done){ .jobid = c->jobid,
				      .imgset = c->imgset,
				      .killed = c->o.kill,
				      .time = c->m->created,
				      .seconds = c->m->dump_seconds,
				      .bytes = c->m->image_bytes,
				      .mem_bytes = c->mem_bytes };
	lock = lc_chain_open(c->dirfd, c->jobid, true, 30, &l, err);
	r = lock;
	if (lock >= 0 && lc_chain_checkpointed(&l, &done) < 0)
		r = lc_err_set(err, EINVAL, "the ledger's chain is '%s'",
			       lc_chain_state_name(l.state));
	else if (lock >= 0)
		r = lc_chain_close(c->dirfd, &lock, &l, err);
	if (r < 0 && !c->o.kill && !c->o.stop) {
		/* The job runs on whatever happens: the set is made, only the chain misses it. */
		log_warn("%s; the ledger is not updated", err->msg);
		memset(err, 0, sizeof(*err));
		return 0;
	}
	if (r < 0) {
		/* The previous set stays the one a brestart uses. */
		int e = c->prev[0] ? lc_current_save(c->dirfd, c->prev)
				   : (unlinkat(c->dirfd, LC_CURRENT_FILE, 0) < 0 ? -errno : 0);

		if (e < 0)
			log_warn("cannot put '%s' back to '%s': %s", LC_CURRENT_FILE, c->prev,
				 strerror(-e));
		return lc_err_wrap(err, "the checkpoint is not recorded");
	}
	return 0;
}

/* Removes older and failed image sets in the background, holding the directory lock. */
static void prune_later(const struct ckpt *c)
{
	pid_t pid = fork();

	if (pid != 0)
		return; /* the parent goes on; a failed fork leaves them for the next time */
	if (fork() != 0)
		_exit(0);
	(void)setsid();
	quiet_stdio();
	(void)lc_imgset_prune(c->dirfd, c->imgset);
	_exit(0);
}

/*
 * "bchkpnt -k" of a job that has a committed image set LSF does not know as
 * its checkpoint (lsf-criu.handover): no new dump; the set is made current,
 * recorded in the ledger, the job killed, and the exit status tells LSF that
 * the checkpoint exists.
 */
static int hand_over(struct ckpt *c, const struct lc_handover *h)
{
	_cleanup_close_ int imgfd = -1, lock = -1;
	struct lc_err err = { 0 };
	struct lc_ledger l;
	int r;

	log_info("handing image set '%s' to LSF as the checkpoint of job %s (%s)", h->imgset,
		 c->jobid, h->why);
	imgfd = openat(c->dirfd, h->imgset, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (imgfd < 0 || lc_meta_load(imgfd, getuid(), c->m, &err) < 0) {
		log_error("checkpoint of job %s failed: image set '%s' is unusable: %s", c->jobid,
			  h->imgset, imgfd < 0 ? strerror(errno) : err.msg);
		return LC_EXIT_FAILURE;
	}
	if (strcmp(c->prev, h->imgset) && (r = lc_current_save(c->dirfd, h->imgset)) < 0) {
		log_error("checkpoint of job %s failed: cannot record '%s' as current: %s",
			  c->jobid, h->imgset, strerror(-r));
		return LC_EXIT_FAILURE;
	}
	lock = lc_chain_open(c->dirfd, c->jobid, true, 30, &l, &err);
	if (lock >= 0 && (strcmp(l.ckpt_jobid, c->jobid) || strcmp(l.ckpt_imgset, h->imgset))) {
		struct lc_ckpt_done done = { .jobid = c->jobid,
					     .imgset = h->imgset,
					     .killed = true,
					     .time = (long long)time(NULL),
					     .seconds = c->m->dump_seconds,
					     .bytes = c->m->image_bytes };

		if (lc_chain_checkpointed(&l, &done) < 0 ||
		    lc_chain_close(c->dirfd, &lock, &l, &err) < 0)
			log_warn("cannot record the hand-over in the ledger: %s, ignoring",
				 err.msg[0] ? err.msg : "the chain refuses it");
	}
	r = lc_job_find(c->dirfd, c->o.pgid, c->jobid, &c->job, &err);
	if (r < 0 && r != -ESRCH) {
		log_error("checkpoint of job %s failed: %s", c->jobid, err.msg);
		return LC_EXIT_FAILURE;
	}
	if (r == 0 && kill_job(c) < 0) {
		log_error("checkpoint of job %s: processes of the job survive SIGKILL", c->jobid);
		return LC_EXIT_FAILURE;
	}
	(void)unlinkat(c->dirfd, LC_HANDOVER_FILE, 0);
	log_info("checkpoint of job %s done: '%s' handed over, job killed", c->jobid, h->imgset);
	return LC_EXIT_OK;
}

int main(int argc, char **argv)
{
	struct ckpt c = { .dirfd = -1, .imgfd = -1, .guard = -1 };
	struct lc_err err = { 0 };
	_cleanup_close_ int lockfd = -1;
	char cwd[4096] = "?";
	int r, ret = LC_EXIT_FAILURE;

	lc_log_init("echkpnt.criu");
	umask(077);
	if (parse_args(argc, argv, &c.o) < 0) {
		fprintf(stderr, "Try 'echkpnt.criu --help' for more information.\n");
		return LC_EXIT_USAGE;
	}
	c.jobid = getenv("LSB_JOBID");
	c.chkdir = getenv("LSB_CHKPNT_DIR");
	if (!lc_jobid_ok(c.jobid)) {
		log_error("LSB_JOBID is unset or not a job ID; not called by LSF?");
		return LC_EXIT_USAGE;
	}
	c.dirfd = lc_jobdir_open(c.chkdir, &err);
	if (c.dirfd < 0) {
		log_error("checkpoint of job %s refused: %s; the job keeps running", c.jobid,
			  err.msg);
		return -c.dirfd == EPERM ? LC_EXIT_REFUSED : LC_EXIT_FAILURE;
	}
	if (lc_jobdir_attach_log(c.dirfd, &err) < 0) {
		log_error("checkpoint of job %s failed: %s; the job keeps running", c.jobid,
			  err.msg);
		return LC_EXIT_FAILURE;
	}
	(void)!getcwd(cwd, sizeof(cwd));
	log_info("checkpoint of job %s requested: group %d,%s%s%s%s -d '%s', uid %u, cwd '%s', "
		 "dir '%s'",
		 c.jobid, (int)c.o.pgid, c.o.kill ? " kill" : "", c.o.stop ? " stop" : "",
		 c.o.copy ? " copy" : "", c.o.force ? " force" : "", c.o.tmpdir ? c.o.tmpdir : "",
		 (unsigned)getuid(), cwd, c.chkdir);
	lockfd = lc_jobdir_lock(c.dirfd, 30, &err);
	if (lockfd < 0) {
		log_error("checkpoint of job %s failed: %s; the job keeps running", c.jobid,
			  err.msg);
		return LC_EXIT_FAILURE;
	}
	lc_cfg_load(&c.cfg);
	c.m = calloc(1, sizeof(*c.m));
	if (!c.m)
		return lc_log_errno(ENOMEM, "out of memory"), LC_EXIT_FAILURE;
	plan(&c);
	if (lc_current_load(c.dirfd, getuid(), c.prev, sizeof(c.prev), &err) < 0)
		c.prev[0] = '\0';
	memset(&err, 0, sizeof(err));
	{
		struct lc_handover h;

		if (c.o.kill && lc_handover_load(c.dirfd, getuid(), &h, &err) == 0 &&
		    !strcmp(h.jobid, c.jobid)) {
			ret = hand_over(&c, &h);
			goto out;
		}
		memset(&err, 0, sizeof(err));
	}
	if (lc_criu_check(c.cfg.criu, c.m->criu_version, sizeof(c.m->criu_version), &err) < 0) {
		lc_err_wrap(&err, "criu is not usable");
		ret = LC_EXIT_NOTSUP;
		goto failed;
	}
	r = lc_job_find(c.dirfd, c.o.pgid, c.jobid, &c.job, &err);
	if (r == -ESRCH) {
		/* It ended by itself (at its run limit, too): the post-exec records how. */
		log_error("checkpoint of job %s failed: %s", c.jobid, err.msg);
		ret = LC_EXIT_GONE;
		goto out;
	}
	if (r < 0) {
		ret = r == -EPERM ? LC_EXIT_REFUSED : LC_EXIT_FAILURE;
		goto failed;
	}
	if (note_stopped(&c) < 0 || preflight(&c, &err) < 0 || create_imgset(&c, &err) < 0)
		goto failed;
	if (start_guardian(&c) < 0)
		log_warn("cannot start the guardian: %s; continuing without it", strerror(errno));
	if (dump(&c, &err) < 0 || commit(&c, &err) < 0)
		goto failed;
	guard_say(&c, "C", 1);
	log_info("committed '%s': durable, current and recorded%s", c.imgset,
		 c.o.kill ? "; killing the job" : "");
	if (c.o.kill) {
		if (kill_job(&c) < 0) {
			log_error(
				"checkpoint of job %s: '%s' is committed, but job processes survive "
				"SIGKILL",
				c.jobid, c.imgset);
			guard_say(&c, "D", 1);
			goto out;
		}
	} else if (c.o.stop) {
		log_info("job %s stays stopped (SIGSTOP) as asked by -s", c.jobid);
	}
	guard_say(&c, "D", 1);
	prune_later(&c);
	log_info("checkpoint of job %s done: '%s', %zu process(es), %.1f MiB in %.2f s "
		 "(%.0f MiB/s), job %s",
		 c.jobid, c.imgset, c.job.n_tree, (double)c.m->image_bytes / 1048576.0,
		 c.m->dump_seconds,
		 c.m->dump_seconds > 0 ? (double)c.m->image_bytes / 1048576.0 / c.m->dump_seconds
				       : 0.0,
		 c.o.kill   ? "killed"
		 : c.o.stop ? "stopped"
			    : "left running");
	ret = LC_EXIT_OK;
	goto out;
failed:
	roll_back(&c, err.msg);
	guard_say(&c, "D", 1);
out:
	if (c.imgfd >= 0)
		close(c.imgfd);
	lc_job_free(&c.job);
	free(c.was_stopped);
	free(c.m);
	close(c.dirfd);
	return ret;
}
