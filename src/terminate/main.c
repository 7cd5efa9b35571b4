/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lsf-criu-terminate - the queue's TERMINATE action:
 *     JOB_CONTROLS = TERMINATE[<LSF_SERVERDIR>/lsf-criu-terminate]
 *
 * LSF runs it with /bin/sh -c as the job owner, stdio on /dev/null, with the
 * job's environment plus LSB_JOBPGIDS, LSB_JOBPIDS, LSB_SUSP_REASONS and
 * LSB_SUSP_SUBREASONS, whenever the job is to be terminated (bkill, limits).
 *
 * Expected identity: the job owner.
 *
 * For a job that reached its run limit (SUSP_RES_LIMIT bit and sub-reason
 * RUNLIMIT), opted in with ENABLE_ORUN_CHKPNT=Y, is checkpointable with the
 * criu method, is neither interactive nor an array element, and whose restart
 * budget allows it, it records the request in the ledger, starts a watchdog
 * outside the job, asks LSF for "bchkpnt -k <jobid>" and exits at once (the
 * checkpoint can only start after the action returns). In every other case
 * it terminates the job as LSF would without an action: SIGINT, SIGTERM,
 * SIGKILL to the job's process groups, JOB_TERMINATE_INTERVAL apart. It never
 * calls bkill, which would re-enter the action.
 *
 * The watchdog (the same program, --watchdog, started by the action in its
 * own session) kills the job the same way if no successful checkpoint of it
 * is recorded ORUN_TIMEOUT_SECONDS after the request, and marks the chain
 * ended so nothing restarts it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "chain.h"
#include "cleanup.h"
#include "exitcodes.h"
#include "jobdir.h"
#include "killseq.h"
#include "log.h"
#include "lsfcmd.h"
#include "lsfenv.h"
#include "proc.h"
#include "spawn.h"
#include "util.h"
#include "version.h"

#define SUSP_RES_LIMIT	    0x00020000L
#define SUB_REASON_RUNLIMIT 0x1L
#define WATCHDOG_DIRFD	    3

struct action {
	const char *jobid;
	pid_t *pgids;
	int n_pgids;
	long interval;
	int dirfd;
	struct lc_cfg cfg;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: lsf-criu-terminate\n"
		"\n"
		"LSF TERMINATE job-control action: checkpoint a job that reached its run limit\n"
		"(and opted in with ENABLE_ORUN_CHKPNT=Y) instead of killing it; kill every\n"
		"other job as LSF would. Configure it in lsb.queues:\n"
		"    JOB_CONTROLS = TERMINATE[<LSF_SERVERDIR>/lsf-criu-terminate]\n"
		"\n"
		"  -h, --help     show this help\n"
		"  -V, --version  show the version\n"
		"\n"
		"See lsf-criu-terminate(8).\n");
}

/* Adds the group of every own process in pids to a->pgids (each once). */
static void add_groups_of(struct action *a, const pid_t *pids, int n)
{
	pid_t *g = realloc(a->pgids, sizeof(pid_t) * (size_t)(a->n_pgids + n + 1));

	if (!g)
		return;
	a->pgids = g;
	for (int i = 0; i < n; i++) {
		struct lc_proc p;
		bool seen = false;

		if (lc_proc_read(pids[i], &p) < 0 || !lc_proc_owned_by(&p, getuid()) || p.pgid < 2)
			continue;
		for (int j = 0; j < a->n_pgids && !seen; j++)
			seen = a->pgids[j] == p.pgid;
		if (!seen)
			a->pgids[a->n_pgids++] = p.pgid;
	}
}

/* Own processes whose environment says LSB_JOBID=<jobid>. */
static void add_groups_by_env(struct action *a)
{
	_cleanup_closedir_ DIR *d = opendir("/proc");
	char want[64];
	struct dirent *de;
	size_t wl;

	if (!d || !lc_jobid_ok(a->jobid))
		return;
	wl = (size_t)snprintf(want, sizeof(want), "LSB_JOBID=%s", a->jobid) + 1;
	while ((de = readdir(d))) {
		_cleanup_free_ char *env = NULL;
		char path[64];
		size_t len = 0;
		long pid;

		if (lc_parse_long(de->d_name, 2, 1 << 22, &pid) < 0 || pid == getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/environ", pid);
		if (lc_read_file_at(AT_FDCWD, path, 1 << 20, getuid(), &env, &len) < 0)
			continue;
		for (size_t off = 0; off < len; off += strlen(env + off) + 1) {
			if (len - off >= wl && !memcmp(env + off, want, wl)) {
				pid_t p = (pid_t)pid;

				add_groups_of(a, &p, 1);
				break;
			}
		}
	}
}

/*
 * The job's process groups: LSB_JOBPGIDS (every token that is one), else the
 * groups of LSB_JOBPIDS (never the PIDs themselves: the list holds LSF's res
 * too), else the group of LS_JOBPID, else the groups of our processes that
 * carry this job's LSB_JOBID. Only groups of our own processes come from the
 * fallbacks.
 */
static void find_groups(struct action *a)
{
	const char *s = getenv("LSB_JOBPGIDS");
	pid_t *pids = NULL;
	int bad = 0, n;

	n = lc_parse_pids(s, &a->pgids, &bad);
	a->n_pgids = n > 0 ? n : 0;
	if (bad > 0)
		log_warn("LSB_JOBPGIDS holds %d word(s) that are not process groups, ignoring them",
			 bad);
	if (n == -E2BIG)
		log_warn("LSB_JOBPGIDS is longer than %d bytes, ignoring it", LC_MAX_PIDLIST);
	if (a->n_pgids > 0)
		return;
	n = lc_parse_pids(getenv("LSB_JOBPIDS"), &pids, &bad);
	if (n > 0)
		add_groups_of(a, pids, n);
	free(pids);
	if (a->n_pgids > 0) {
		log_warn("LSB_JOBPGIDS is unusable; using the process groups of LSB_JOBPIDS");
		return;
	}
	n = lc_parse_pids(getenv("LS_JOBPID"), &pids, &bad);
	if (n > 0)
		add_groups_of(a, pids, n);
	free(pids);
	if (a->n_pgids > 0) {
		log_warn("LSB_JOBPGIDS and LSB_JOBPIDS are unusable; using the group of LS_JOBPID");
		return;
	}
	add_groups_by_env(a);
	if (a->n_pgids > 0)
		log_warn("no process group from LSF; using the groups of the processes with "
			 "LSB_JOBID=%s in their environment",
			 a->jobid);
}

static int kill_like_lsf(struct action *a, const char *why)
{
	log_info("terminating job %s as LSF would (%s): SIGINT, SIGTERM, SIGKILL %ld s apart",
		 a->jobid, why, a->interval);
	if (a->n_pgids == 0) {
		log_error("no process group of job %s could be found; nothing to signal", a->jobid);
		return LC_EXIT_FAILURE;
	}
	if (lc_kill_sequence(a->pgids, a->n_pgids, a->interval)) {
		log_info("job %s is gone", a->jobid);
		return LC_EXIT_OK;
	}
	log_error("job %s still has processes after SIGKILL", a->jobid);
	return LC_EXIT_FAILURE;
}

/* Ends the chain (so post-exec does not restart it), under the ledger lock. */
static void chain_end(int dirfd, const char *jobid, const char *reason)
{
	_cleanup_close_ int lock = -1;
	struct lc_ledger l;
	struct lc_err err = { 0 };

	if (dirfd < 0)
		return;
	lock = lc_chain_open(dirfd, jobid, false, 30, &l, &err);
	if (lock < 0) {
		if (err.code != ENOENT)
			log_warn("%s; leaving the ledger as it is", err.msg);
		return;
	}
	lc_chain_terminated(&l, jobid, reason);
	if (lc_chain_close(dirfd, &lock, &l, &err) < 0)
		log_warn("%s", err.msg);
}

static long long group_start(pid_t pgid)
{
	struct lc_proc p;

	return lc_proc_read(pgid, &p) == 0 ? lc_proc_start_epoch(&p) : 0;
}

/* Starts the watchdog in its own session, outside the job, with the directory as fd 3. */
static int start_watchdog(struct action *a, long long deadline)
{
	char self[PATH_MAX], dl[32];
	_cleanup_free_ char **argv = NULL;
	_cleanup_free_ char *pg = NULL;
	int n = 0, st;
	ssize_t len;
	pid_t pid;

	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len < 0)
		return -errno;
	self[len] = '\0';
	argv = calloc((size_t)a->n_pgids + 5, sizeof(char *));
	pg = malloc((size_t)a->n_pgids * 12 + 1);
	if (!argv || !pg)
		return -ENOMEM;
	snprintf(dl, sizeof(dl), "%lld", deadline);
	argv[n++] = self;
	argv[n++] = "--watchdog";
	argv[n++] = (char *)a->jobid;
	argv[n++] = dl;
	for (int i = 0; i < a->n_pgids; i++) {
		char *p = pg + (size_t)i * 12;

		snprintf(p, 12, "%d", (int)a->pgids[i]);
		argv[n++] = p;
	}
	argv[n] = NULL;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int log = lc_log_fd();
		int keep[2] = { WATCHDOG_DIRFD, WATCHDOG_DIRFD + 1 };

		if (setsid() < 0)
			_exit(1);
		if (dup2(a->dirfd, WATCHDOG_DIRFD) < 0 ||
		    (log >= 0 && dup2(log, WATCHDOG_DIRFD + 1) < 0))
			_exit(1);
		/* The grandchild is the watchdog: reparented away from the action. */
		if (lc_spawn(argv, -1, -1, keep, log >= 0 ? 2 : 1) < 0)
			_exit(1);
		_exit(0);
	}
	st = lc_wait_status(pid);
	return (st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0) ? 0 : -ECHILD;
}

/* A ledger that will not become readable by waiting (not a lock timeout or a missing file). */
static bool is_unusable(int code)
{
	return code == EINVAL || code == ERANGE || code == EPROTONOSUPPORT || code == EPERM ||
	       code == EFBIG;
}

/*
 * The job is gone. If a run-limit checkpoint of it was committed, the
 * post-exec now restarts it (or ends the chain). Should the post-exec not
 * act (killed, timed out by LSF, or no POST_EXEC in the queue), the watchdog
 * runs it after postexec_grace_seconds: the chain never stays checkpointed
 * with nobody to carry it on. A late real post-exec finds the work done.
 */
static int after_job(struct action *a)
{
	double end = lc_now() + (double)a->cfg.postexec_grace_seconds;
	char self[PATH_MAX], *slash;
	ssize_t n;

	for (;;) {
		_cleanup_close_ int lock = -1;
		struct lc_ledger l;
		struct lc_err err = { 0 };
		bool waiting, stuck;

		lock = lc_chain_open(a->dirfd, a->jobid, false, 30, &l, &err);
		if (lock < 0)
			return LC_EXIT_OK;
		/* Counted but never submitted: the post-exec died between the two. */
		stuck = l.state == LC_CHAIN_RESTARTING && l.n_runs > 0 &&
			!strcmp(l.runs[l.n_runs - 1].jobid, a->jobid);
		waiting = stuck ||
			  (l.state == LC_CHAIN_CHECKPOINTED && !strcmp(l.ckpt_jobid, a->jobid) &&
			   !strcmp(l.req_jobid, a->jobid));
		if (!waiting)
			return LC_EXIT_OK;
		if (lc_now() >= end && stuck) {
			/* Whether brestart ran is unknown: a second one could run the job twice. */
			lc_chain_restart_failed(&l, a->jobid,
						"the post-exec died before it recorded "
						"brestart's answer");
			(void)lc_chain_close(a->dirfd, &lock, &l, &err);
			log_error(
				"watchdog: the post-exec of job %s counted a restart but died before "
				"recording brestart's answer; if no restarted job runs, 'brestart' by "
				"hand continues the chain from '%s'",
				a->jobid, l.ckpt_imgset);
			return LC_EXIT_FAILURE;
		}
		if (lc_now() >= end)
			break;
		close(lock);
		lock = -1;
		lc_msleep(1000);
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return LC_EXIT_FAILURE;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash ||
	    (size_t)snprintf(slash, sizeof(self) - (size_t)(slash - self), "/lsf-criu-postexec") >=
		    sizeof(self) - (size_t)(slash - self))
		return LC_EXIT_FAILURE;
	log_warn("watchdog: job %s was checkpointed at its run limit, but no post-exec acted "
		 "within %ld s of its end; running '%s'",
		 a->jobid, a->cfg.postexec_grace_seconds, self);
	lc_log_attach_fd(-1);
	execl(self, self, (char *)NULL);
	log_error("watchdog: cannot run '%s': %s", self, strerror(errno));
	return LC_EXIT_FAILURE;
}

/*
 * The watchdog: kills the job at the deadline unless a checkpoint of it was
 * committed, or the chain was ended by someone who also ends the job. It
 * runs from before the request is recorded, so an action that dies half-way
 * still leaves the job guarded.
 */
static int watchdog(int argc, char **argv)
{
	struct action a = { .dirfd = WATCHDOG_DIRFD };
	long long deadline;
	long v;

	if (fcntl(WATCHDOG_DIRFD + 1, F_GETFD) >= 0)
		lc_log_attach_fd(WATCHDOG_DIRFD + 1);
	if (argc < 3 || !lc_jobid_ok(argv[0]) || lc_parse_long(argv[1], 0, 1L << 40, &v) < 0)
		return LC_EXIT_USAGE;
	a.jobid = argv[0];
	deadline = v;
	a.pgids = calloc((size_t)argc, sizeof(pid_t));
	if (!a.pgids)
		return LC_EXIT_FAILURE;
	for (int i = 2; i < argc; i++) {
		if (lc_parse_long(argv[i], 2, 1 << 22, &v) < 0)
			return LC_EXIT_USAGE;
		a.pgids[a.n_pgids++] = (pid_t)v;
	}
	lc_cfg_load(&a.cfg);
	a.interval = lc_cfg_terminate_interval(&a.cfg);
	for (int warned = 0;; lc_msleep(500)) {
		_cleanup_close_ int lock = -1;
		struct lc_ledger l;
		struct lc_err err = { 0 };
		bool expired = (long long)time(NULL) >= deadline;

		if (!lc_groups_alive(a.pgids, a.n_pgids))
			return after_job(&a); /* the job is gone: nothing to guard */
		lock = lc_chain_open(a.dirfd, a.jobid, false, 30, &l, &err);
		if (lock >= 0 && l.state == LC_CHAIN_ENDED)
			return LC_EXIT_OK; /* ended by whoever also kills the job */
		if (lock >= 0 && (l.state == LC_CHAIN_CHECKPOINTED || l.state == LC_CHAIN_HELD) &&
		    !strcmp(l.ckpt_jobid, a.jobid)) {
			/* Committed: echkpnt.criu kills the job; then the post-exec's turn. */
			close(lock);
			lock = -1;
			while (lc_groups_alive(a.pgids, a.n_pgids))
				lc_msleep(200);
			return after_job(&a);
		}
		if (lock < 0 && is_unusable(err.code)) {
			/* No checkpoint can be committed without the ledger: do not wait. */
			log_error(
				"watchdog: %s; no checkpoint of job %s can be recorded, killing it "
				"now, no restart",
				err.msg, a.jobid);
			return kill_like_lsf(&a, "the ledger is unusable");
		}
		if (expired) {
			if (lock >= 0 && lc_chain_timed_out(&l, a.jobid) &&
			    lc_chain_close(a.dirfd, &lock, &l, &err) < 0)
				log_warn("%s", err.msg);
			log_error("watchdog: no successful checkpoint of job %s was recorded by the "
				  "deadline%s; killing it, no restart",
				  a.jobid,
				  lock < 0 && err.code ? " (the ledger is unreadable)" : "");
			return kill_like_lsf(&a, "checkpoint timeout");
		}
		if (lock < 0 && err.code != ENOENT && !warned++)
			log_warn("watchdog of job %s: %s; checking again until the deadline",
				 a.jobid, err.msg);
	}
}

/* Why the job is not checkpointed at this termination, or "" if it is. */
static void eligibility(const struct action *a, const char *chkdir, char *why, size_t size)
{
	long reasons = lc_env_long("LSB_SUSP_REASONS", 0, LONG_MAX, 0);
	long subreasons = lc_env_long("LSB_SUSP_SUBREASONS", 0, LONG_MAX, 0);
	const char *method = getenv("LSB_ECHKPNT_METHOD"), *idx = getenv("LSB_JOBINDEX");

	why[0] = '\0';
	/* In the order an admin reads the log. */
	if (!(reasons & SUSP_RES_LIMIT) || subreasons != SUB_REASON_RUNLIMIT)
		snprintf(why, size, "not a run-limit overrun");
	else if (!lc_env_flag("ENABLE_ORUN_CHKPNT"))
		snprintf(why, size, "the job did not opt in (ENABLE_ORUN_CHKPNT is not Y)");
	else if (!chkdir || !*chkdir)
		snprintf(why, size, "the job is not checkpointable (no LSB_CHKPNT_DIR)");
	else if (a->dirfd < 0)
		snprintf(why, size, "the checkpoint directory is unusable");
	else if (method && *method && strcmp(method, "criu"))
		snprintf(why, size, "the job's checkpoint method is '%.32s', not criu", method);
	else if (lc_env_flag("LSB_INTERACTIVE"))
		snprintf(why, size, "interactive jobs are not checkpointed");
	else if (idx && *idx && strcmp(idx, "0"))
		snprintf(why, size, "job array elements are not checkpointed");
	else if (!lc_jobid_ok(a->jobid) || a->n_pgids == 0)
		snprintf(why, size, "LSB_JOBID or LSB_JOBPGIDS is unusable");
}

/* The run limit of an eligible job: checkpoint it, or kill it as the chain says. */
static int overrun(struct action *a, long long now, long timeout)
{
	struct lc_err err = { 0 };
	_cleanup_close_ int lock = -1;
	struct lc_ledger l;
	struct lc_overrun_req q = { 0 };
	char why[160] = "", host[64] = "";
	long limit;
	int r;

	limit = lc_cfg_capped_env("ORUN_RESTART_LIMIT", 0, LC_LEDGER_MAX_RUNS - 4, 2,
				  a->cfg.max_restart_limit);
	lock = lc_chain_open(a->dirfd, a->jobid, true, 30, &l, &err);
	if (lock < 0) {
		log_error("%s", err.msg);
		return kill_like_lsf(a, "the ledger is unusable; no checkpoint without it");
	}
	(void)gethostname(host, sizeof(host) - 1);
	q = (struct lc_overrun_req){ .jobid = a->jobid,
				     .now = now,
				     .timeout = timeout,
				     .restart_limit = limit,
				     .run_start = group_start(a->pgids[0]),
				     .host = host };
	switch (lc_chain_overrun(&l, &q, why, sizeof(why))) {
	case LC_OVERRUN_PENDING:
		log_info("a checkpoint of job %s was already requested; its deadline is in %lld s",
			 a->jobid, l.req_deadline - q.now);
		return LC_EXIT_OK;
	case LC_OVERRUN_OVERDUE:
		(void)lc_chain_timed_out(&l, a->jobid);
		if (lc_chain_close(a->dirfd, &lock, &l, &err) < 0)
			log_warn("%s", err.msg);
		log_error("the checkpoint of job %s requested at its run limit is overdue; killing "
			  "it",
			  a->jobid);
		return kill_like_lsf(a, "checkpoint overdue");
	case LC_OVERRUN_KILL:
		if (lc_chain_close(a->dirfd, &lock, &l, &err) < 0)
			log_warn("%s", err.msg);
		return kill_like_lsf(a, why);
	case LC_OVERRUN_CHECKPOINT: break;
	}
	if (lc_chain_close(a->dirfd, &lock, &l, &err) < 0) {
		log_error("%s", err.msg);
		return kill_like_lsf(a, "the ledger cannot be written");
	}
	log_info("job %s reached its run limit: checkpointing it instead of killing it "
		 "(restarts so far %ld of %ld, timeout %ld s)",
		 a->jobid, l.restarts, l.restart_limit, timeout);
	r = lc_lsf_bchkpnt_kill(a->jobid, &err);
	if (r < 0) {
		log_error("%s", err.msg);
		lock = lc_chain_open(a->dirfd, a->jobid, false, 30, &l, &err);
		if (lock >= 0 && lc_chain_checkpoint_failed(&l, a->jobid, "bchkpnt failed"))
			(void)lc_chain_close(a->dirfd, &lock, &l, &err);
		return kill_like_lsf(a, "the checkpoint request failed");
	}
	return LC_EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "watchdog", no_argument, NULL, 'W' },
		{ NULL, 0, NULL, 0 },
	};
	struct action a = { .dirfd = -1 };
	struct lc_err err = { 0 };
	const char *chkdir;
	char why[160];
	long long now = 0;
	long timeout = 0;
	int c, r;

	lc_log_init("lsf-criu-terminate");
	umask(077);
	while ((c = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'h': usage(stdout); return fflush(stdout) ? LC_EXIT_FAILURE : LC_EXIT_OK;
		case 'V':
			printf("lsf-criu-terminate (lsf-criu) %s (%s)\n", LC_VERSION, LC_GIT_ID);
			return fflush(stdout) ? LC_EXIT_FAILURE : LC_EXIT_OK;
		case 'W': return watchdog(argc - optind, argv + optind);
		default:
			fprintf(stderr, "Try 'lsf-criu-terminate --help' for more information.\n");
			return LC_EXIT_USAGE;
		}
	}
	a.jobid = getenv("LSB_JOBID");
	if (!lc_jobid_ok(a.jobid))
		a.jobid = "?";
	chkdir = getenv("LSB_CHKPNT_DIR");
	if (chkdir && *chkdir) {
		a.dirfd = lc_jobdir_open(chkdir, &err);
		if (a.dirfd >= 0)
			(void)lc_jobdir_attach_log(a.dirfd, &err);
		else
			log_warn("checkpoint directory unusable: %s", err.msg);
	}
	lc_cfg_load(&a.cfg);
	a.interval = lc_cfg_terminate_interval(&a.cfg);
	find_groups(&a);
	eligibility(&a, chkdir, why, sizeof(why));
	if (!why[0]) {
		/*
		 * The watchdog before anything else: whatever happens to this action
		 * from now on, the job is killed at the deadline unless a checkpoint
		 * of it is committed.
		 */
		now = (long long)time(NULL);
		timeout = lc_cfg_capped_env("ORUN_TIMEOUT_SECONDS", 1, 86400, 180,
					    a.cfg.max_timeout_seconds);
		r = start_watchdog(&a, now + timeout);
		if (r < 0) {
			log_error("cannot start the watchdog: %s", strerror(-r));
			snprintf(why, sizeof(why), "the watchdog could not be started");
		}
	}
	log_info("TERMINATE action for job %s: reasons %s/%s, process groups '%.200s'", a.jobid,
		 getenv("LSB_SUSP_REASONS") ? getenv("LSB_SUSP_REASONS") : "",
		 getenv("LSB_SUSP_SUBREASONS") ? getenv("LSB_SUSP_SUBREASONS") : "",
		 getenv("LSB_JOBPGIDS") ? getenv("LSB_JOBPGIDS") : "");
	if (why[0]) {
		chain_end(a.dirfd, a.jobid, why);
		return kill_like_lsf(&a, why);
	}
	return overrun(&a, now, timeout);
}
