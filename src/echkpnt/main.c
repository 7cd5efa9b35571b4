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
 * $LSB_CHKPNT_DIR/ckpt.<N>/, verifies it, and only then points
 * $LSB_CHKPNT_DIR/lsf-criu.current at it. Exit 0 only when a complete,
 * verified image set exists and, with -k, no job process is left; every
 * other outcome exits non-zero with one log line saying why. A failed dump
 * leaves the job running.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "cfg.h"
#include "cleanup.h"
#include "criu.h"
#include "exitcodes.h"
#include "job.h"
#include "jobdir.h"
#include "killseq.h"
#include "ledger.h"
#include "lsfenv.h"
#include "log.h"
#include "meta.h"
#include "portable.h"
#include "util.h"
#include "version.h"

#define MAX_FILE_COPY (4 << 20)

struct opts {
	bool copy, force, kill, stop, x;
	const char *tmpdir;
	pid_t pgid;
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
		"  -c          accepted for LSF compatibility (criu always saves what it needs)\n"
		"  -f          accepted for LSF compatibility\n"
		"  -k          kill the job once the checkpoint is verified\n"
		"  -s          stop (SIGSTOP) the job once the checkpoint is verified\n"
		"  -d dir      LSF's temporary checkpoint directory; left empty on purpose\n"
		"  -x          accepted for LSF compatibility\n"
		"  -h, --help  show this help\n"
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
		case ':':
			log_error("option '-%c' needs an argument", optopt);
			return -EINVAL;
		default:
			log_warn("unknown option '%s', ignoring", argv[optind - 1]);
			break;
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

/*
 * Records the outcome in the chain's ledger. A failed checkpoint that was
 * requested because the job reached its run limit must still end the job:
 * LSF does not issue TERMINATE again.
 */
static void record_outcome(int dirfd, const char *jobid, pid_t pgid, bool ok, bool killed,
			   const char *imgset, const struct lc_meta *m)
{
	_cleanup_close_ int lock = -1;
	struct lc_ledger l;
	struct lc_err err = { 0 };
	bool overrun;
	int r;

	lock = lc_ledger_lock(dirfd, 30, &err);
	if (lock < 0) {
		log_warn("%s; the ledger is not updated", err.msg);
		return;
	}
	r = lc_ledger_load(dirfd, getuid(), &l, &err);
	if (r == -ENOENT) {
		if (!ok)
			return;
		lc_ledger_init(&l, jobid, getuid());
	} else if (r < 0) {
		log_warn("%s; the ledger is not updated (no automatic restart will follow)",
			 err.msg);
		return;
	}
	overrun = l.state == LC_CHAIN_OVERRUN && !strcmp(l.req_jobid, jobid);
	if (ok) {
		snprintf(l.ckpt_jobid, sizeof(l.ckpt_jobid), "%s", jobid);
		snprintf(l.ckpt_imgset, sizeof(l.ckpt_imgset), "%s", imgset);
		l.ckpt_time = m->created;
		l.ckpt_seconds = m->dump_seconds;
		l.ckpt_bytes = m->image_bytes;
		/* Only the checkpoint that ended the job answers the run-limit request. */
		if (overrun && killed)
			l.state = LC_CHAIN_CHECKPOINTED;
	} else if (overrun) {
		l.state = LC_CHAIN_ENDED;
		snprintf(l.end_reason, sizeof(l.end_reason), "the run-limit checkpoint failed; killed");
		struct lc_run *run = lc_ledger_run(&l, jobid, 0);
		if (run)
			snprintf(run->end_reason, sizeof(run->end_reason),
				 "killed at the run limit: the checkpoint failed");
	}
	r = lc_ledger_save(dirfd, &l);
	if (r < 0)
		log_warn("cannot write the ledger: %s", strerror(-r));
	close(lock);
	lock = -1;
	if (!ok && overrun) {
		log_error("the checkpoint was requested at job %s's run limit: ending the job as LSF "
			  "would", jobid);
		(void)lc_kill_sequence(&pgid, 1, lc_env_long("JOB_TERMINATE_INTERVAL", 1, 3600, 10));
	}
}

/* The deadline of a run-limit checkpoint of this job, or 0 for any other checkpoint. */
static long long overrun_deadline(int dirfd, const char *jobid)
{
	_cleanup_close_ int lock = -1;
	struct lc_ledger l;
	struct lc_err err = { 0 };

	lock = lc_ledger_lock(dirfd, 30, &err);
	if (lock < 0 || lc_ledger_load(dirfd, getuid(), &l, &err) < 0)
		return 0;
	if (l.state != LC_CHAIN_OVERRUN || strcmp(l.req_jobid, jobid))
		return 0;
	log_info("run-limit checkpoint: criu must finish by the deadline of ORUN_TIMEOUT_SECONDS "
		 "(%lld s from now)", l.req_deadline - (long long)time(NULL));
	return l.req_deadline;
}

/* The next free image set number: one more than the highest ckpt.<N> present. */
static int next_imgset(int dirfd, char *name, size_t size)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	long max = 0, v;
	int fd;

	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		char num[16];

		if (strncmp(de->d_name, "ckpt.", 5))
			continue;
		snprintf(num, sizeof(num), "%.*s", (int)strcspn(de->d_name + 5, "."),
			 de->d_name + 5);
		if (lc_parse_long(num, 1, 999999999, &v) == 0 && v > max)
			max = v;
	}
	if (max >= 999999999)
		return -EOVERFLOW;
	snprintf(name, size, "ckpt.%ld", max + 1);
	return 0;
}

/* Removes every image set but keep (and LSF's own files, which never match). */
static void prune_imgsets(int dirfd, const char *keep)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int fd;

	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "ckpt.", 5) || !strcmp(de->d_name, keep))
			continue;
		if (lc_rmtree_at(dirfd, de->d_name) == 0)
			log_info("removed the older image set '%s'", de->d_name);
	}
}

/*
 * The job file the root shell runs (argv[1] of its command line), resolved
 * against its cwd, or "" when the root is not running a script.
 */
static void root_script(pid_t pid, char *buf, size_t size)
{
	_cleanup_free_ char *cmd = NULL;
	char path[64], resolved[PATH_MAX];
	size_t len = 0, a0;
	int fd;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if (lc_read_file_at(AT_FDCWD, path, 65536, (uid_t)-1, &cmd, &len) < 0 || len == 0)
		return;
	a0 = strlen(cmd);
	if (a0 + 1 >= len || cmd[a0 + 1] == '-')
		return;
	snprintf(path, sizeof(path), "/proc/%d/cwd", (int)pid);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	{
		int sfd = openat(fd, cmd + a0 + 1, O_RDONLY | O_CLOEXEC);
		char link[64];
		ssize_t n;

		close(fd);
		if (sfd < 0)
			return;
		snprintf(link, sizeof(link), "/proc/self/fd/%d", sfd);
		n = readlink(link, resolved, sizeof(resolved) - 1);
		close(sfd);
		if (n <= 0)
			return;
		resolved[n] = '\0';
	}
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
		    (strcmp(f->path, script) &&
		     !(own[0] && !strncmp(f->path, own, strlen(own)) && strstr(f->path, "/file."))) ||
		    lc_proc_fdinfo(j->root.pid, (int)num, &f->pos, &flags) < 0 ||
		    (flags & O_ACCMODE) != O_RDONLY)
			continue;
		snprintf(fdpath, sizeof(fdpath), "/proc/%d/fd/%ld", (int)j->root.pid, num);
		fd = open(fdpath, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_FILE_COPY)
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
	const char *need[] = { "inventory.img", "pstree.img", core };
	struct stat st;

	snprintf(core, sizeof(core), "core-%d.img", (int)root);
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		if (fstatat(imgfd, need[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
			return lc_err_set(err, errno, "image file '%s' is missing", need[i]);
		if (!S_ISREG(st.st_mode) || st.st_size == 0)
			return lc_err_set(err, EINVAL, "image file '%s' is empty", need[i]);
	}
	if (syncfs(imgfd) < 0)
		return lc_err_set(err, errno, "cannot flush the images to disk");
	return 0;
}

static int wait_gone(const struct lc_job_procs *j, double seconds)
{
	double end = lc_now() + seconds;

	while (lc_job_tree_alive(j)) {
		if (lc_now() >= end)
			return -ETIMEDOUT;
		lc_msleep(50);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct lc_err err = { 0 };
	struct lc_cfg cfg;
	struct lc_job_procs job = { 0 };
	struct lc_dump_opts dump = { 0 };
	_cleanup_free_ struct lc_meta *m = NULL;
	_cleanup_close_ int dirfd = -1, lockfd = -1, imgfd = -1;
	char imgset[64], failed[80], cwd[4096] = "?", nspath[PATH_MAX];
	const char *jobid, *chkdir;
	int r, ret = LC_EXIT_FAILURE;

	lc_log_init("echkpnt.criu");
	umask(077);
	if (parse_args(argc, argv, &o) < 0) {
		fprintf(stderr, "Try 'echkpnt.criu --help' for more information.\n");
		return LC_EXIT_USAGE;
	}
	jobid = getenv("LSB_JOBID");
	chkdir = getenv("LSB_CHKPNT_DIR");
	if (!lc_jobid_ok(jobid)) {
		log_error("LSB_JOBID is unset or not a job ID; not called by LSF?");
		return LC_EXIT_USAGE;
	}
	dirfd = lc_jobdir_open(chkdir, &err);
	if (dirfd < 0) {
		log_error("checkpoint of job %s refused: %s; the job keeps running", jobid, err.msg);
		return -dirfd == EPERM ? LC_EXIT_REFUSED : LC_EXIT_FAILURE;
	}
	if (lc_jobdir_attach_log(dirfd, &err) < 0) {
		log_error("checkpoint of job %s failed: %s; the job keeps running", jobid, err.msg);
		return LC_EXIT_FAILURE;
	}
	(void)!getcwd(cwd, sizeof(cwd));
	log_info("checkpoint of job %s requested: group %d,%s%s%s%s -d '%s', uid %u, cwd '%s', "
		 "dir '%s'", jobid, (int)o.pgid, o.kill ? " kill" : "", o.stop ? " stop" : "",
		 o.copy ? " copy" : "", o.force ? " force" : "", o.tmpdir ? o.tmpdir : "",
		 (unsigned)getuid(), cwd, chkdir);
	lockfd = lc_jobdir_lock(dirfd, 30, &err);
	if (lockfd < 0) {
		log_error("checkpoint of job %s failed: %s; the job keeps running", jobid, err.msg);
		return LC_EXIT_FAILURE;
	}
	lc_cfg_load(&cfg);
	m = calloc(1, sizeof(*m));
	if (!m)
		return lc_log_errno(ENOMEM, "out of memory"), LC_EXIT_FAILURE;
	if (lc_criu_check(cfg.criu, m->criu_version, sizeof(m->criu_version), &err) < 0) {
		log_error("checkpoint of job %s failed: criu is not usable: %s; the job keeps "
			  "running", jobid, err.msg);
		ret = LC_EXIT_NOTSUP;
		goto failed;
	}
	r = lc_job_find(dirfd, o.pgid, jobid, &job, &err);
	if (r < 0) {
		log_error("checkpoint of job %s failed: %s", jobid, err.msg);
		ret = r == -ESRCH ? LC_EXIT_GONE : r == -EPERM ? LC_EXIT_REFUSED : LC_EXIT_FAILURE;
		goto failed;
	}
	r = next_imgset(dirfd, imgset, sizeof(imgset));
	if (r < 0 || mkdirat(dirfd, imgset, 0700) < 0) {
		log_error("checkpoint of job %s failed: cannot create an image set in '%s': %s; the "
			  "job keeps running", jobid, chkdir, strerror(r < 0 ? -r : errno));
		goto failed;
	}
	imgfd = openat(dirfd, imgset, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (imgfd < 0) {
		log_error("checkpoint of job %s failed: cannot open '%s': %s", jobid, imgset,
			  strerror(errno));
		goto failed;
	}
	snprintf(m->jobid, sizeof(m->jobid), "%s", jobid);
	m->created = (long long)time(NULL);
	m->root_pid = job.root.pid;
	m->root_start_time = job.root.start_time;
	m->uid = getuid();
	for (size_t k = 0; k < job.n_tree && k < LC_META_MAX_PIDS; k++)
		m->pids[m->n_pids++] = job.tree[k];
	inspect_files(&job, imgfd, chkdir, m);
	{
		struct lc_err perr = { 0 };

		/* output.json and host-needs.json: what a restore rebinds and needs from a host */
		if (lc_portable_record(imgfd, dirfd, chkdir, &job, m, &perr) < 0)
			log_warn("%s; a restore will check less before it starts", perr.msg);
	}
	/*
	 * Always dump file locks: /proc/locks names a lock's owner by the PID that
	 * took it (possibly gone) or -1 (OFD locks), so a job's locks cannot be
	 * found reliably, and without --file-locks criu either refuses or, at
	 * restore, silently drops them.
	 */
	m->file_locks = true;
	if (lc_job_holds_locks(&job))
		log_info("the job holds file locks; they are dumped with it (--file-locks)");

	dump.criu = cfg.criu;
	dump.workfd = dirfd;
	dump.imgdir = imgset;
	dump.root = job.dump_pid;
	if (job.ns_init > 0) {
		/* criu runs inside the job's mount namespace, with "/" as its cwd. */
		char real[PATH_MAX];

		if (!realpath(chkdir, real) ||
		    snprintf(nspath, sizeof(nspath), "%s/%s", real, imgset) >= (int)sizeof(nspath)) {
			log_error("checkpoint of job %s failed: cannot resolve '%s'", jobid, chkdir);
			goto failed;
		}
		dump.imgdir = nspath;
		dump.ns_init = job.ns_init;
		m->ns = true;
	}
	dump.leave_running = !o.kill;
	dump.shell_job = true;
	dump.file_locks = m->file_locks;
	dump.deadline = overrun_deadline(dirfd, jobid);
	log_info("dumping %zu process(es) of job %s into '%s' with criu %s", job.n_tree, jobid,
		 imgset, m->criu_version);
	r = lc_criu_dump(&dump, &err);
	if (r == 0)
		r = verify_images(imgfd, job.dump_pid, &err);
	if (r < 0) {
		snprintf(failed, sizeof(failed), "%s.failed", imgset);
		(void)renameat(dirfd, imgset, dirfd, failed);
		log_error("checkpoint of job %s failed: %s; %s; images and criu's log kept in '%s'",
			  jobid, err.msg,
			  lc_job_tree_alive(&job) ? "the job keeps running" : "the job is gone",
			  failed);
		goto failed;
	}
	m->dump_seconds = dump.seconds;
	m->killed = o.kill;
	m->image_bytes = lc_dir_bytes(imgfd);
	r = lc_meta_save(imgfd, m);
	if (r < 0) {
		log_error("checkpoint of job %s failed: cannot write '%s/meta.json': %s", jobid,
			  imgset, strerror(-r));
		goto failed;
	}
	if (o.kill) {
		if (wait_gone(&job, (double)cfg.kill_wait_seconds) < 0)
			log_warn("job processes still alive %ld s after the dump", cfg.kill_wait_seconds);
		lc_job_kill_group_rest(o.pgid, 5);
		lc_job_kill_tree(&job);
		if (wait_gone(&job, 10) < 0) {
			log_error("checkpoint of job %s: images are complete in '%s', but job "
				  "processes survive SIGKILL", jobid, imgset);
			goto out;
		}
	} else if (o.stop) {
		for (size_t k = 0; k < job.n_tree; k++)
			if (lc_proc_alive(job.tree[k], 0))
				(void)kill(job.tree[k], SIGSTOP);
		log_info("job %s stopped (SIGSTOP) as asked by -s", jobid);
	}
	r = lc_current_save(dirfd, imgset);
	if (r < 0) {
		log_error("checkpoint of job %s failed: cannot record '%s' as current: %s", jobid,
			  imgset, strerror(-r));
		goto out;
	}
	prune_imgsets(dirfd, imgset);
	record_outcome(dirfd, jobid, o.pgid, true, o.kill, imgset, m);
	log_info("checkpoint of job %s done: '%s', %zu process(es), %.1f MiB in %.2f s "
		 "(%.0f MiB/s), job %s", jobid, imgset, job.n_tree,
		 (double)m->image_bytes / 1048576.0, dump.seconds,
		 dump.seconds > 0 ? (double)m->image_bytes / 1048576.0 / dump.seconds : 0.0,
		 o.kill ? "killed" : o.stop ? "stopped" : "left running");
	ret = LC_EXIT_OK;
	goto out;
failed:
	/* A failed run-limit checkpoint must still end the job (record_outcome). */
	lc_job_free(&job);
	record_outcome(dirfd, jobid, o.pgid, false, o.kill, NULL, m);
	return ret;
out:
	lc_job_free(&job);
	return ret;
}
