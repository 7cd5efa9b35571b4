/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lsf-criu-postexec - the queue's POST_EXEC command:
 *     POST_EXEC = <LSF_SERVERDIR>/lsf-criu-postexec
 *
 * LSF runs it after every job of the queue, as the job owner, in /tmp, with a
 * minimal PATH, stdio on /dev/null and the job's environment plus
 * LSB_JOBEXIT_STAT.
 *
 * Expected identity: the job owner. Run as root (LSB_PRE_POST_EXEC_USER=root)
 * it refuses to act: brestart must run as the job owner.
 *
 * When the ledger shows that this job was checkpointed because of its run
 * limit, ENABLE_ORUN_RESTART=Y, and the restart budget allows it, it counts
 * the restart in the ledger, then runs "$LSF_BINDIR/brestart -q <queue>
 * <base> <jobid>" and records the new job ID. Otherwise, when the chain ends,
 * it writes a summary for the user next to the job's output file (or into the
 * checkpoint directory without -o). It decides from the ledger only, never
 * from the job's exit status, which LSF reports differently for a
 * checkpointed job. A job without a checkpoint directory is left alone.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <limits.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "cli.h"
#include "chain.h"
#include "exitcodes.h"
#include "imgset.h"
#include "jobdir.h"
#include "ledger.h"
#include "log.h"
#include "lsfenv.h"
#include "meta.h"
#include "output.h"
#include "spawn.h"
#include "util.h"
#include "version.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: lsf-criu-postexec\n"
		"\n"
		"LSF POST_EXEC command: restart a job that was checkpointed at its run limit\n"
		"(brestart), up to ORUN_RESTART_LIMIT times, and write a summary when the chain\n"
		"of runs ends. Configure it in lsb.queues:\n"
		"    POST_EXEC = <LSF_SERVERDIR>/lsf-criu-postexec\n"
		"\n"
		"  -h, --help     show this help\n"
		"  -V, --version  show the version\n"
		"\n"
		"See lsf-criu-postexec(8).\n");
}

/*
 * The directory of the job's -o file, for the summary: LSB_OUTPUTFILE as LSF
 * passes it (possibly as typed, relative to the submission directory
 * LS_SUBCWD: POST_EXEC runs in /tmp), the directory itself when -o names
 * one. -1 (and a log line) when there is none or it is not the user's own.
 */
static int output_dir(const char *jobid)
{
	char path[PATH_MAX], copy[PATH_MAX];
	const char *dir;
	struct lc_err err;
	struct stat st;
	int r, fd;

	r = lc_lsf_outfile("LSB_OUTPUTFILE", jobid, false, path, sizeof(path));
	if (r == -ENOENT)
		return -1;
	if (r < 0) {
		log_info("not writing the summary beside the output file: LSB_OUTPUTFILE='%s' "
			 "cannot be resolved (LS_SUBCWD='%s')",
			 getenv("LSB_OUTPUTFILE"), getenv("LS_SUBCWD") ? getenv("LS_SUBCWD") : "");
		return -1;
	}
	snprintf(copy, sizeof(copy), "%s", path);
	dir = stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? path : dirname(copy);
	fd = lc_open_dir_verified(AT_FDCWD, dir, &err);
	if (fd < 0)
		log_info("not writing the summary beside the output file: %s", err.msg);
	return fd;
}

/*
 * How the chain ended, for the summary. When LSF passes on only an exit code
 * for a restarted job, a job killed by a signal looks as if it exited: the
 * restorer recorded the signal in the run, and that is what is reported.
 */
static void chain_end_text(const struct lc_ledger *l, char *buf, size_t size)
{
	const struct lc_run *last = l->n_runs ? &l->runs[l->n_runs - 1] : NULL;
	const char *end = l->end_reason[0] ? l->end_reason : "unknown";

	if (last && !strncmp(last->end_reason, "killed by signal", 16) && !strstr(end, "signal") &&
	    strstr(end, "exited"))
		snprintf(buf, size, "job %s was %s (LSF reported: %s)", last->jobid,
			 last->end_reason, end);
	else
		snprintf(buf, size, "%s", end);
}

/* The summary file: beside the -o file when that directory is ours, else in the checkpoint dir. */
static void write_summary(int dirfd, const struct lc_ledger *l)
{
	char name[96], line[512], t1[32], t2[32], d[32], end[256];
	_cleanup_free_ char *text = NULL;
	_cleanup_close_ int outdir = -1;
	size_t len = 0, cap = 8192;
	long long total = 0;
	int r, target = dirfd;

	text = malloc(cap);
	if (!text)
		return;
#define ADD(...)                                                                                   \
	do {                                                                                       \
		int n_ = snprintf(line, sizeof(line), __VA_ARGS__);                                \
		if (n_ > 0 && len + (size_t)n_ < cap) {                                            \
			memcpy(text + len, line, (size_t)n_);                                      \
			len += (size_t)n_;                                                         \
		}                                                                                  \
	} while (0)
	ADD("lsf-criu summary of job %s\n\n", l->chain_id);
	ADD("%-12s %-20s %-12s %s\n", "job", "started", "ran", "how it ended");
	for (int i = 0; i < l->n_runs; i++) {
		const struct lc_run *run = &l->runs[i];
		long long dur = run->start > 0 && run->end >= run->start ? run->end - run->start
									 : -1;

		if (dur > 0)
			total += dur;
		lc_fmt_time(run->start, t1, sizeof(t1));
		lc_fmt_duration(dur, d, sizeof(d));
		ADD("%-12s %-20s %-12s %s\n", run->jobid, t1, d,
		    run->end_reason[0] ? run->end_reason : "unknown");
	}
	lc_fmt_duration(total, d, sizeof(d));
	lc_fmt_time((long long)time(NULL), t2, sizeof(t2));
	chain_end_text(l, end, sizeof(end));
	ADD("\nruns: %d, restarts: %ld", l->n_runs, l->restarts);
	if (l->restart_limit >= 0)
		ADD(" of %ld allowed", l->restart_limit);
	ADD(", total run time: %s\nchain ended: %s\nwritten: %s\n", d, end, t2);
#undef ADD
	snprintf(name, sizeof(name), "overrun-summary-%s.txt", l->chain_id);
	outdir = output_dir(l->n_runs ? l->runs[l->n_runs - 1].jobid : l->chain_id);
	if (outdir >= 0)
		target = outdir;
	r = lc_write_atomic_at(target, name, text, len, 0600);
	if (r < 0)
		log_warn("cannot write the summary '%s': %s", name, strerror(-r));
	else
		log_info("wrote the summary '%s' %s", name,
			 target == dirfd ? "into the checkpoint directory"
					 : "beside the output file");
	if (strcmp(end, l->end_reason[0] ? l->end_reason : "unknown"))
		log_info("chain of job %s: %s", l->chain_id, end);
}

/* LSF queue names: letters, digits, '_', '-' and '.', not starting with '-'. */
static bool queue_ok(const char *q)
{
	size_t n = q ? strlen(q) : 0;

	return n > 0 && n < 128 && q[0] != '-' &&
	       strspn(q, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") == n;
}

static int run_brestart(const char *base, const char *jobid, char *newid, size_t size,
			struct lc_err *err)
{
	const char *bindir = getenv("LSF_BINDIR"), *queue = getenv("LSB_QUEUE");
	char path[PATH_MAX], out[2048], *p;
	char *argv[8];
	int n = 0, r, st = 0;

	if (!bindir || bindir[0] != '/' || strlen(bindir) > PATH_MAX - 16)
		return lc_err_set(err, ENOENT,
				  "LSF_BINDIR is unset or not absolute; cannot find "
				  "brestart");
	snprintf(path, sizeof(path), "%s/brestart", bindir);
	argv[n++] = path;
	if (queue_ok(queue)) {
		argv[n++] = "-q";
		argv[n++] = (char *)queue;
	}
	argv[n++] = (char *)base;
	argv[n++] = (char *)jobid;
	argv[n] = NULL;
	log_info("running: %s%s%s %s %s", path, n == 5 ? " -q " : "", n == 5 ? queue : "", base,
		 jobid);
	r = lc_run_capture(argv, 120, out, sizeof(out), &st);
	if (r < 0)
		return lc_err_set(err, -r, "'%s' did not finish", path);
	out[strcspn(out, "\n")] = '\0';
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return lc_err_set(err, EPROTO, "brestart failed (status %d): %s",
				  WIFEXITED(st) ? WEXITSTATUS(st) : -1, out);
	log_info("brestart: %s", out);
	p = strstr(out, "Job <");
	if (!p)
		return lc_err_set(err, EPROTO, "brestart printed no job ID: %s", out);
	p += 5;
	snprintf(newid, size, "%.*s", (int)strcspn(p, ">"), p);
	if (!lc_jobid_ok(newid))
		return lc_err_set(err, EPROTO, "brestart printed no job ID: %s", out);
	return 0;
}

/*
 * LSB_JOBEXIT_INFO="SIGNAL <n> SIG_TERM_USER" and the like: LSF itself ended the
 * job on someone's request. Such a job is never restarted, even if a
 * checkpoint ended it first. A run-limit or checkpoint kill is not this.
 * Returns the variable's value, or NULL.
 */
static const char *user_killed(void)
{
	const char *info = getenv("LSB_JOBEXIT_INFO");
	const char *sig = info ? strstr(info, "SIG_") : NULL;

	if (!sig)
		return NULL;
	if (!strncmp(sig, "SIG_CHKPNT", 10) || !strncmp(sig, "SIG_TERM_RUNLIMIT", 17))
		return NULL;
	return !strncmp(sig, "SIG_TERM_", 9) || !strncmp(sig, "SIG_KILL", 8) ? info : NULL;
}

static void describe_exit(char *buf, size_t size)
{
	int st = (int)lc_env_long("LSB_JOBEXIT_STAT", 0, 0xffff, -1);

	if (st < 0)
		snprintf(buf, size, "ended (no exit status given)");
	else if (WIFEXITED(st))
		snprintf(buf, size, "exited with status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, size, "killed by signal %d", WTERMSIG(st));
	else
		snprintf(buf, size, "ended with wait status %d", st);
}

/* The chain ended: the summary, and only the newest image set is kept. */
static void chain_ended(int dirfd, const char *jobid, const struct lc_ledger *l)
{
	char current[64];
	struct lc_err err = { 0 };

	log_info("post-exec of job %s: the chain ends: %s", jobid, l->end_reason);
	write_summary(dirfd, l);
	if (lc_current_load(dirfd, getuid(), current, sizeof(current), &err) < 0)
		current[0] = '\0';
	(void)lc_imgset_prune(dirfd, current[0] ? current : NULL);
}

/*
 * Counts the restart in the ledger. Done by the process that runs brestart,
 * so that whoever is killed before this point leaves the chain checkpointed
 * (the watchdog's post-exec carries it on), and a restart once counted is
 * never submitted twice. 0 when counted, 1 when another post-exec did, -1
 * on failure.
 */
static int count_restart(int dirfd, const char *jobid, long *n, long *of)
{
	struct lc_err err = { 0 };
	_cleanup_close_ int lock = -1;
	struct lc_ledger l;

	lock = lc_chain_open(dirfd, jobid, true, 60, &l, &err);
	if (lock >= 0 && l.state == LC_CHAIN_RESTARTING) {
		log_info("post-exec of job %s: another post-exec counted restart %ld and runs "
			 "brestart; nothing to do",
			 jobid, l.restarts);
		return 1;
	}
	if (lock < 0 || lc_chain_restart_begin(&l, jobid) < 0 ||
	    lc_chain_close(dirfd, &lock, &l, &err) < 0) {
		if (lock >= 0 && !err.msg[0])
			lc_err_set(&err, EINVAL, "the chain is in no state to restart (%s)",
				   lc_chain_state_name(l.state));
		log_error("post-exec of job %s: cannot record the restart: %s; no restart", jobid,
			  err.msg);
		return -1;
	}
	*n = l.restarts;
	*of = l.restart_limit;
	return 0;
}

/* Runs brestart for a counted restart and records its answer. */
static int do_restart(int dirfd, const char *chkdir, const char *jobid)
{
	struct lc_err err = { 0 };
	_cleanup_close_ int lock = -1;
	struct lc_ledger l;
	char base[PATH_MAX], tmp[PATH_MAX], newid[32];
	int r;

	if (strlen(chkdir) >= sizeof(base)) {
		lc_err_set(&err, ENAMETOOLONG, "the checkpoint directory path is too long");
		r = -ENAMETOOLONG;
	} else {
		snprintf(tmp, sizeof(tmp), "%s", chkdir);
		snprintf(base, sizeof(base), "%s", dirname(tmp));
		r = run_brestart(base, jobid, newid, sizeof(newid), &err);
	}
	/* The directory may already be renamed: dirfd still reaches it. */
	lock = lc_chain_open(dirfd, jobid, false, 60, &l, &err);
	if (lock < 0) {
		log_error("post-exec of job %s: %s; the restart%s is not recorded", jobid, err.msg,
			  r < 0 ? " failure" : "");
		return LC_EXIT_FAILURE;
	}
	if (r < 0) {
		log_error("post-exec of job %s: %s; the chain ends", jobid, err.msg);
		lc_chain_restart_failed(&l, jobid, err.msg);
		if (lc_chain_close(dirfd, &lock, &l, &err) < 0)
			log_warn("%s", err.msg);
		chain_ended(dirfd, jobid, &l);
		return LC_EXIT_FAILURE;
	}
	lc_chain_restart_submitted(&l, jobid, newid);
	if (lc_chain_close(dirfd, &lock, &l, &err) < 0)
		log_warn("cannot record the new job %s: %s", newid, err.msg);
	log_info("job %s restarted as job %s (restart %ld of %ld)", jobid, newid, l.restarts,
		 l.restart_limit);
	return LC_EXIT_OK;
}

/*
 * Counts the restart and runs brestart in a child of its own session, so
 * that the restart completes even if LSF kills the post-exec
 * (JOB_POSTPROC_TIMEOUT) meanwhile; waits for it unless we are killed.
 */
static int restart_detached(int dirfd, const char *chkdir, const char *jobid)
{
	int p[2] = { -1, -1 }, st, r;
	long counted[2];
	ssize_t n;
	pid_t pid;

	pid = pipe2(p, O_CLOEXEC) < 0 ? -1 : fork();
	if (pid < 0) {
		log_warn("cannot start a process for brestart: %s; restarting in the post-exec "
			 "itself",
			 strerror(errno));
		if (p[0] >= 0) {
			close(p[0]);
			close(p[1]);
		}
		r = count_restart(dirfd, jobid, &counted[0], &counted[1]);
		if (r != 0)
			return r < 0 ? LC_EXIT_FAILURE : LC_EXIT_OK;
		return do_restart(dirfd, chkdir, jobid);
	}
	if (pid == 0) {
		close(p[0]);
		(void)setsid();
		r = count_restart(dirfd, jobid, &counted[0], &counted[1]);
		if (r != 0)
			_exit(r < 0 ? LC_EXIT_FAILURE : LC_EXIT_OK);
		/* The parent only logs this: a dead parent changes nothing. */
		(void)signal(SIGPIPE, SIG_IGN);
		(void)!write(p[1], counted, sizeof(counted));
		(void)signal(SIGPIPE, SIG_DFL);
		close(p[1]);
		_exit(do_restart(dirfd, chkdir, jobid));
	}
	close(p[1]);
	do
		n = read(p[0], counted, sizeof(counted));
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(counted))
		log_info("post-exec of job %s: restart %ld of %ld counted; brestart runs in a "
			 "process of its own",
			 jobid, counted[0], counted[1]);
	close(p[0]);
	st = lc_wait_status(pid);
	return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : LC_EXIT_FAILURE;
}

/*
 * LSB_CHKPNT_DIR of a restarted job whose restart failed is gone: LSF renamed
 * the directory back to the old job ID. The chain is the one whose ledger
 * lists this job as a run, in a directory of ours beside it.
 */
static int find_chain_dir(const char *chkdir, const char *jobid)
{
	char tmp[PATH_MAX], base[PATH_MAX];
	_cleanup_close_ int bfd = -1;
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	struct lc_err err = { 0 };

	if (strlen(chkdir) >= sizeof(tmp))
		return -ENAMETOOLONG;
	snprintf(tmp, sizeof(tmp), "%s", chkdir);
	snprintf(base, sizeof(base), "%s", dirname(tmp));
	bfd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (bfd < 0 || !(d = fdopendir(dup(bfd))))
		return -ENOENT;
	while ((de = readdir(d))) {
		_cleanup_close_ int fd = -1;
		struct lc_ledger l;

		if (!lc_jobid_ok(de->d_name))
			continue;
		fd = lc_open_dir_verified(bfd, de->d_name, &err);
		if (fd < 0 || lc_ledger_load(fd, getuid(), &l, &err) < 0 ||
		    !lc_ledger_find_run(&l, jobid))
			continue;
		log_info("'%s' is gone; the chain of job %s (with job %s) is in '%s/%s'", chkdir,
			 l.chain_id, jobid, base, de->d_name);
		return TAKE_FD(fd);
	}
	return -ENOENT;
}

int main(int argc, char **argv)
{
	struct lc_err err = { 0 };
	struct lc_ledger l;
	struct lc_job_ended e = { 0 };
	_cleanup_close_ int dirfd = -1, lock = -1;
	char how[96], base[PATH_MAX];
	const char *jobid, *chkdir;
	int c;

	lc_log_init("lsf-criu-postexec");
	umask(077);
	c = lc_cli_operands(argc, argv, "lsf-criu-postexec", usage, 0, 0);
	if (c >= 0)
		return c;
	jobid = getenv("LSB_JOBID");
	chkdir = getenv("LSB_CHKPNT_DIR");
	if (!chkdir || !*chkdir)
		return LC_EXIT_OK; /* not a checkpointable job: nothing of ours */
	if (!lc_env_flag("ENABLE_ORUN_CHKPNT"))
		return LC_EXIT_OK; /* the job did not opt in: nothing of ours to restart */
	if (getuid() == 0) {
		log_error("post-exec of job %s runs as root; lsf-criu restarts jobs only as their "
			  "owner, so it does nothing",
			  jobid ? jobid : "?");
		return LC_EXIT_REFUSED;
	}
	if (!lc_jobid_ok(jobid)) {
		log_error("LSB_JOBID is unset or not a job ID; nothing done");
		return LC_EXIT_USAGE;
	}
	dirfd = lc_jobdir_open(chkdir, &err);
	if (dirfd == -ENOENT)
		dirfd = find_chain_dir(chkdir, jobid);
	if (dirfd < 0) {
		log_error("post-exec of job %s: %s; no restart", jobid, err.msg);
		return LC_EXIT_FAILURE;
	}
	(void)lc_jobdir_attach_log(dirfd, &err);
	describe_exit(how, sizeof(how));
	log_info("post-exec of job %s: the job %s", jobid, how);
	lock = lc_chain_open(dirfd, jobid, true, 60, &l, &err);
	if (lock < 0) {
		log_error("post-exec of job %s: %s; no restart", jobid, err.msg);
		return LC_EXIT_FAILURE;
	}
	e = (struct lc_job_ended){ .jobid = jobid,
				   .now = (long long)time(NULL),
				   .how = how,
				   .killed_by = user_killed(),
				   .restart_enabled = lc_env_flag("ENABLE_ORUN_RESTART") };
	switch (lc_chain_job_ended(&l, &e)) {
	case LC_END_STALE:
		if (lc_chain_close(dirfd, &lock, &l, &err) < 0)
			log_warn("%s", err.msg);
		log_info("post-exec of job %s: a newer run of the chain exists; nothing to do",
			 jobid);
		return LC_EXIT_OK;
	case LC_END_HELD:
		if (lc_chain_close(dirfd, &lock, &l, &err) < 0)
			log_warn("%s", err.msg);
		snprintf(base, sizeof(base), "%s", chkdir);
		log_info("job %s was checkpointed and killed on request; 'brestart %s %s' continues "
			 "it (no automatic restart)",
			 jobid, dirname(base), jobid);
		return LC_EXIT_OK;
	case LC_END_ENDED:
		if (lc_chain_close(dirfd, &lock, &l, &err) < 0)
			log_warn("%s", err.msg);
		chain_ended(dirfd, jobid, &l);
		return LC_EXIT_OK;
	case LC_END_RESTART: break;
	}
	if (lc_chain_close(dirfd, &lock, &l, &err) < 0) {
		log_error("post-exec of job %s: %s; no restart", jobid, err.msg);
		return LC_EXIT_FAILURE;
	}
	return restart_detached(dirfd, chkdir, jobid);
}
