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

#include "cleanup.h"
#include "exitcodes.h"
#include "jobdir.h"
#include "killseq.h"
#include "ledger.h"
#include "log.h"
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
	pid_t pgids[LC_MAX_PGIDS];
	int n_pgids;
	long interval;
	int dirfd;
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

/*
 * Fallback when LSB_JOBPGIDS is unusable: the process groups of the PIDs in
 * LSB_JOBPIDS (never the PIDs themselves: the list holds LSF's res too, and
 * a blind kill of it is what the predecessor got wrong). Only groups of our
 * own processes count.
 */
static int groups_of_pids(const char *list, pid_t *out, int max)
{
	pid_t pids[LC_MAX_PGIDS];
	int n = lc_parse_pids(list, pids, LC_MAX_PGIDS), k = 0;

	for (int i = 0; i < n && k < max; i++) {
		struct lc_proc p;
		bool seen = false;

		if (lc_proc_read(pids[i], &p) < 0 || !lc_proc_owned_by(&p, getuid()))
			continue;
		for (int j = 0; j < k; j++)
			seen |= out[j] == p.pgid;
		if (!seen)
			out[k++] = p.pgid;
	}
	if (k > 0)
		log_warn("LSB_JOBPGIDS is unusable; using the process groups of LSB_JOBPIDS");
	return k;
}

static long terminate_interval(void)
{
	return lc_env_long("JOB_TERMINATE_INTERVAL", 1, 3600, 10);
}

static int kill_like_lsf(struct action *a, const char *why)
{
	log_info("terminating job %s as LSF would (%s): SIGINT, SIGTERM, SIGKILL %ld s apart",
		 a->jobid, why, a->interval);
	if (a->n_pgids == 0) {
		log_error("LSB_JOBPGIDS names no process group; nothing to signal");
		return LC_EXIT_FAILURE;
	}
	if (lc_kill_sequence(a->pgids, a->n_pgids, a->interval)) {
		log_info("job %s is gone", a->jobid);
		return LC_EXIT_OK;
	}
	log_error("job %s still has processes after SIGKILL", a->jobid);
	return LC_EXIT_FAILURE;
}

/* Marks the chain ended (so post-exec does not restart it), under the ledger lock. */
static void ledger_end(int dirfd, const char *jobid, const char *reason)
{
	_cleanup_close_ int lock = -1;
	struct lc_ledger l;
	struct lc_err err = { 0 };
	int r;

	if (dirfd < 0)
		return;
	lock = lc_ledger_lock(dirfd, 30, &err);
	if (lock < 0) {
		log_warn("%s, ignoring", err.msg);
		return;
	}
	r = lc_ledger_load(dirfd, getuid(), &l, &err);
	if (r == -ENOENT)
		return; /* no chain: nothing to stop */
	if (r < 0) {
		log_warn("%s; leaving it as it is", err.msg);
		return;
	}
	l.state = LC_CHAIN_ENDED;
	snprintf(l.end_reason, sizeof(l.end_reason), "%s", reason);
	struct lc_run *run = lc_ledger_run(&l, jobid, 0);
	if (run && !run->end_reason[0])
		snprintf(run->end_reason, sizeof(run->end_reason), "%s", reason);
	r = lc_ledger_save(dirfd, &l);
	if (r < 0)
		log_warn("cannot write the ledger: %s", strerror(-r));
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
	char *argv[8 + LC_MAX_PGIDS];
	char pg[LC_MAX_PGIDS][16];
	int n = 0, st;
	ssize_t len;
	pid_t pid;

	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len < 0)
		return -errno;
	self[len] = '\0';
	snprintf(dl, sizeof(dl), "%lld", deadline);
	argv[n++] = self;
	argv[n++] = "--watchdog";
	argv[n++] = (char *)a->jobid;
	argv[n++] = dl;
	for (int i = 0; i < a->n_pgids; i++) {
		snprintf(pg[i], sizeof(pg[i]), "%d", (int)a->pgids[i]);
		argv[n++] = pg[i];
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

static int request_checkpoint(const char *jobid, struct lc_err *err)
{
	const char *bindir = getenv("LSF_BINDIR");
	char path[PATH_MAX], out[1024];
	char *argv[] = { path, "-k", (char *)jobid, NULL };
	int r, st = 0;

	if (!bindir || bindir[0] != '/' || strlen(bindir) > PATH_MAX - 16)
		return lc_err_set(err, ENOENT, "LSF_BINDIR is unset or not absolute; cannot find "
				  "bchkpnt");
	snprintf(path, sizeof(path), "%s/bchkpnt", bindir);
	log_info("running: %s -k %s", path, jobid);
	r = lc_run_capture(argv, 60, out, sizeof(out), &st);
	if (r < 0)
		return lc_err_set(err, -r, "'%s' did not finish", path);
	out[strcspn(out, "\n")] = '\0';
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return lc_err_set(err, EPROTO, "'%s -k %s' failed: %s", path, jobid, out);
	log_info("bchkpnt: %s", out);
	return 0;
}

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
	for (int i = 2; i < argc && a.n_pgids < LC_MAX_PGIDS; i++) {
		if (lc_parse_long(argv[i], 2, 1 << 22, &v) < 0)
			return LC_EXIT_USAGE;
		a.pgids[a.n_pgids++] = (pid_t)v;
	}
	a.interval = terminate_interval();
	for (;;) {
		_cleanup_close_ int lock = -1;
		struct lc_ledger l;
		struct lc_err err = { 0 };
		bool expired = (long long)time(NULL) >= deadline;
		int r;

		if (!lc_groups_alive(a.pgids, a.n_pgids))
			return LC_EXIT_OK; /* the job is gone: nothing to guard */
		lock = lc_ledger_lock(a.dirfd, 30, &err);
		r = lock < 0 ? -err.code : lc_ledger_load(a.dirfd, getuid(), &l, &err);
		if (r == 0 && (l.state != LC_CHAIN_OVERRUN || strcmp(l.req_jobid, a.jobid)))
			return LC_EXIT_OK; /* checkpointed, ended or superseded */
		if (r < 0 && !expired) {
			log_warn("watchdog of job %s: %s; checking again", a.jobid, err.msg);
		} else if (expired) {
			if (r == 0) {
				l.state = LC_CHAIN_ENDED;
				snprintf(l.end_reason, sizeof(l.end_reason),
					 "no checkpoint within ORUN_TIMEOUT_SECONDS; killed");
				struct lc_run *run = lc_ledger_run(&l, a.jobid, 0);
				if (run)
					snprintf(run->end_reason, sizeof(run->end_reason),
						 "killed: no checkpoint before the timeout");
				(void)lc_ledger_save(a.dirfd, &l);
			}
			close(lock);
			lock = -1;
			log_error("watchdog: no successful checkpoint of job %s was recorded by the "
				  "deadline%s; killing it, no restart", a.jobid,
				  r < 0 ? " (the ledger is unreadable)" : "");
			return kill_like_lsf(&a, "checkpoint timeout");
		}
		close(lock);
		lock = -1;
		lc_msleep(500);
	}
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
	_cleanup_close_ int lock = -1;
	struct lc_ledger l;
	long reasons, subreasons, limit, timeout;
	const char *method, *chkdir, *idx, *s;
	char why[160] = "";
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
	a.interval = terminate_interval();
	s = getenv("LSB_JOBPGIDS");
	a.n_pgids = lc_parse_pids(s, a.pgids, LC_MAX_PGIDS);
	if (a.n_pgids == 0)
		a.n_pgids = groups_of_pids(getenv("LSB_JOBPIDS"), a.pgids, LC_MAX_PGIDS);
	chkdir = getenv("LSB_CHKPNT_DIR");
	if (chkdir && *chkdir) {
		a.dirfd = lc_jobdir_open(chkdir, &err);
		if (a.dirfd >= 0)
			(void)lc_jobdir_attach_log(a.dirfd, &err);
		else
			log_warn("checkpoint directory unusable: %s", err.msg);
	}
	reasons = lc_env_long("LSB_SUSP_REASONS", 0, LONG_MAX, 0);
	subreasons = lc_env_long("LSB_SUSP_SUBREASONS", 0, LONG_MAX, 0);
	log_info("TERMINATE action for job %s: reasons %ld/%ld, process groups '%s'", a.jobid,
		 reasons, subreasons, s ? s : "");
	if (a.n_pgids == 0)
		log_error("LSB_JOBPGIDS='%.64s' is not a list of process groups", s ? s : "");

	/* Eligibility, in the order an admin reads the log. */
	method = getenv("LSB_ECHKPNT_METHOD");
	idx = getenv("LSB_JOBINDEX");
	if (!(reasons & SUSP_RES_LIMIT) || subreasons != SUB_REASON_RUNLIMIT)
		snprintf(why, sizeof(why), "not a run-limit overrun");
	else if (!lc_env_flag("ENABLE_ORUN_CHKPNT"))
		snprintf(why, sizeof(why), "the job did not opt in (ENABLE_ORUN_CHKPNT is not Y)");
	else if (!chkdir || !*chkdir)
		snprintf(why, sizeof(why), "the job is not checkpointable (no LSB_CHKPNT_DIR)");
	else if (a.dirfd < 0)
		snprintf(why, sizeof(why), "the checkpoint directory is unusable");
	else if (method && *method && strcmp(method, "criu"))
		snprintf(why, sizeof(why), "the job's checkpoint method is '%.32s', not criu", method);
	else if (lc_env_flag("LSB_INTERACTIVE"))
		snprintf(why, sizeof(why), "interactive jobs are not checkpointed");
	else if (idx && *idx && strcmp(idx, "0"))
		snprintf(why, sizeof(why), "job array elements are not checkpointed");
	else if (!lc_jobid_ok(a.jobid) || a.n_pgids == 0)
		snprintf(why, sizeof(why), "LSB_JOBID or LSB_JOBPGIDS is unusable");
	if (why[0]) {
		ledger_end(a.dirfd, a.jobid, why);
		return kill_like_lsf(&a, why);
	}

	limit = lc_env_long("ORUN_RESTART_LIMIT", 0, LC_LEDGER_MAX_RUNS - 4, 2);
	timeout = lc_env_long("ORUN_TIMEOUT_SECONDS", 1, 86400, 180);
	lock = lc_ledger_lock(a.dirfd, 30, &err);
	r = lock < 0 ? -err.code : lc_ledger_load(a.dirfd, getuid(), &l, &err);
	if (r == -ENOENT) {
		lc_ledger_init(&l, a.jobid, getuid());
	} else if (r < 0) {
		log_error("%s", err.msg);
		if (lock >= 0)
			close(lock);
		lock = -1;
		return kill_like_lsf(&a, "the ledger is unusable; no checkpoint without it");
	}
	if (l.state == LC_CHAIN_OVERRUN && !strcmp(l.req_jobid, a.jobid)) {
		log_info("a checkpoint of job %s was already requested; nothing more to do", a.jobid);
		return LC_EXIT_OK;
	}
	if (l.state == LC_CHAIN_ENDED || l.state == LC_CHAIN_CHECKPOINTED) {
		close(lock);
		lock = -1;
		return kill_like_lsf(&a, "the chain has already ended or been checkpointed");
	}
	if (l.restart_limit < 0)
		l.restart_limit = limit;
	if (!(l.restarts < l.restart_limit || (l.restart_limit == 0 && l.restarts == 0))) {
		snprintf(why, sizeof(why), "restart budget used up (%ld of %ld)",
			 l.restarts, l.restart_limit);
		l.state = LC_CHAIN_ENDED;
		snprintf(l.end_reason, sizeof(l.end_reason), "%s", why);
		struct lc_run *run = lc_ledger_run(&l, a.jobid, group_start(a.pgids[0]));
		if (run)
			snprintf(run->end_reason, sizeof(run->end_reason), "killed at the run limit");
		(void)lc_ledger_save(a.dirfd, &l);
		close(lock);
		lock = -1;
		return kill_like_lsf(&a, why);
	}
	l.state = LC_CHAIN_OVERRUN;
	snprintf(l.req_jobid, sizeof(l.req_jobid), "%s", a.jobid);
	l.req_time = (long long)time(NULL);
	l.req_deadline = l.req_time + timeout;
	if (!lc_ledger_run(&l, a.jobid, group_start(a.pgids[0])))
		log_warn("the ledger holds %d runs already; not recording this one",
			 LC_LEDGER_MAX_RUNS);
	r = lc_ledger_save(a.dirfd, &l);
	close(lock);
	lock = -1;
	if (r < 0) {
		log_error("cannot write the ledger: %s", strerror(-r));
		return kill_like_lsf(&a, "the ledger cannot be written");
	}
	log_info("job %s reached its run limit: checkpointing it instead of killing it "
		 "(restarts so far %ld of %ld, timeout %ld s)", a.jobid, l.restarts, l.restart_limit,
		 timeout);
	r = start_watchdog(&a, l.req_deadline);
	if (r < 0) {
		log_error("cannot start the watchdog: %s", strerror(-r));
		ledger_end(a.dirfd, a.jobid, "the watchdog could not be started; killed");
		return kill_like_lsf(&a, "no watchdog");
	}
	r = request_checkpoint(a.jobid, &err);
	if (r < 0) {
		log_error("%s", err.msg);
		ledger_end(a.dirfd, a.jobid, "bchkpnt failed; killed");
		return kill_like_lsf(&a, "the checkpoint request failed");
	}
	return LC_EXIT_OK;
}
