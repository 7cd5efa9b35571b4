/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lsf-criu-start - job starter: runs the job in its own user, PID and mount
 * namespaces so that a checkpoint of it can always be restored, whatever
 * PIDs are taken on the host at restore time.
 *
 *     JOB_STARTER = <LSF_SERVERDIR>/lsf-criu-start %USRCMD     (lsb.queues)
 *     bsub ... <LSF_SERVERDIR>/lsf-criu-start ./job args       (by hand)
 *
 * Expected identity: the job owner, any uid. No privilege is needed or used:
 * the user namespace maps only the owner's own uid and gid, so the job keeps
 * its real ids and holds no capability.
 *
 * This process stays in LSF's process group, copies the job's output into
 * the files LSF gave it, and exits with the job's status (or dies of the
 * same signal). The namespace's init dies with it, taking the whole namespace
 * along, so the job cannot outlive a SIGKILL of this process or of LSF's
 * group. LSF's signals reach the job through the init's sentinel, which
 * stays in LSF's process group (see nsinit.c): catchable ones are relayed
 * once, SIGSTOP/SIGTSTP stop the job, SIGCONT continues it, SIGKILL kills it.
 * This process forwards nothing itself.
 *
 * It records the init in $LSB_CHKPNT_DIR/lsf-criu.starter so that
 * echkpnt.criu dumps the job (PID 1001 inside) rather than LSF's job-file
 * shell. When no namespace can be created (user namespaces disabled), it logs
 * that and runs the job directly with host PIDs.
 *
 * Exit status: the job's own, or death by the job's signal. If the init is
 * killed from outside (SIGKILL, its cgroup killed) the kernel kills the job
 * with it, and this process dies of that signal too. 1 if the job could not
 * be started in its namespaces (logged); 126/127 if the command cannot be
 * run at all.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "cli.h"
#include "exitcodes.h"
#include "jobdir.h"
#include "log.h"
#include "lsfenv.h"
#include "nsjob.h"
#include "portable.h"
#include "proc.h"
#include "util.h"
#include "version.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: lsf-criu-start [--] command [argument...]\n"
		"\n"
		"Run an LSF job in its own user, PID and mount namespaces, so that lsf-criu can\n"
		"restore its checkpoints on any host state. Use it as the queue's job starter:\n"
		"    JOB_STARTER = <LSF_SERVERDIR>/lsf-criu-start %%USRCMD\n"
		"\n"
		"  -h, --help     show this help\n"
		"  -V, --version  show the version\n"
		"\n"
		"See lsf-criu-start(8).\n");
}

int main(int argc, char **argv)
{
	struct lc_err err = { 0 };
	struct lc_starter_rec rec = { 0 };
	_cleanup_close_ int dirfd = -1, procfd = -1;
	const char *jobid, *chkdir;
	char **rargv = NULL;
	struct lc_pump pumps[2];
	int status_fd = -1, c, r, st, npumps;
	pid_t init;

	lc_log_init("lsf-criu-start");
	/* stderr is the job's own: only failures belong there. */
	lc_log_stderr_level(LC_LOG_WARN);
	c = lc_cli_simple(argc, argv, "lsf-criu-start", usage);
	if (c >= 0)
		return c;
	if (optind >= argc) {
		log_error("no command to run");
		fprintf(stderr, "Try 'lsf-criu-start --help' for more information.\n");
		return LC_EXIT_USAGE;
	}
	/*
	 * A queue's JOB_STARTER may wrap a restarted job's restore command too.
	 * lsf-criu-restore creates what its image needs itself (its own
	 * namespaces for a namespaced image, host PIDs otherwise): run it as it is.
	 */
	if (lc_is_restore_command(argv + optind, &rargv)) {
		log_info("job %s is a restart: running '%s' without namespaces of ours; it "
			 "creates those its image needs",
			 getenv("LSB_JOBID") ? getenv("LSB_JOBID") : "?", rargv[0]);
		execv(rargv[0], rargv);
		log_error("cannot run '%s': %s", rargv[0], strerror(errno));
		return errno == ENOENT ? 127 : 126;
	}
	jobid = getenv("LSB_JOBID");
	chkdir = getenv("LSB_CHKPNT_DIR");
	if (chkdir && *chkdir) {
		dirfd = lc_jobdir_open(chkdir, &err);
		if (dirfd >= 0)
			(void)lc_jobdir_attach_log(dirfd, &err);
	}
	if (dirfd < 0 || !lc_jobid_ok(jobid)) {
		/* Not checkpointable: nothing to gain from namespaces. */
		execvp(argv[optind], argv + optind);
		log_error("cannot run '%s': %s", argv[optind], strerror(errno));
		return errno == ENOENT ? 127 : 126;
	}
	/* What LSF gave this run, and the restart count the job can read (portable.h). */
	lc_portable_run_started(dirfd, jobid, lc_env_flag("LSB_RESTART"));
	r = lc_ns_create(&err);
	if (r == -EAGAIN) {
		log_warn("%s; running job %s with host PIDs (its restore will need the same PIDs "
			 "free)",
			 err.msg, jobid);
		close(dirfd);
		execvp(argv[optind], argv + optind);
		log_error("cannot run '%s': %s", argv[optind], strerror(errno));
		return errno == ENOENT ? 127 : 126;
	}
	if (r < 0) {
		log_error("job %s cannot run: %s", jobid, err.msg);
		return LC_EXIT_FAILURE;
	}
	npumps = lc_ns_make_pumps(pumps, &err);
	if (npumps < 0) {
		log_error("job %s: %s", jobid, err.msg);
		return LC_EXIT_FAILURE;
	}
	/* The host's /proc, kept open: the init mounts its own over /proc. */
	procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	init = lc_ns_start_init(argv + optind, &status_fd, &err);
	/* Only the init and the job may hold the pipes' write ends, or they never close. */
	lc_ns_unpump_self(pumps, npumps);
	if (init < 0) {
		log_error("job %s cannot run: %s", jobid, err.msg);
		return LC_EXIT_FAILURE;
	}
	snprintf(rec.jobid, sizeof(rec.jobid), "%s", jobid);
	rec.init_pid = init;
	rec.init_start = lc_proc_start_time_at(procfd, init);
	if (lc_starter_save(dirfd, &rec) < 0)
		log_warn("cannot record the namespace's init; job %s cannot be checkpointed",
			 jobid);
	log_info("job %s runs in its own namespaces: init %d, job PID %d inside", jobid, (int)init,
		 LC_NS_JOB_PID);
	lc_log_attach_fd(-1);
	st = lc_ns_supervise(init, status_fd, pumps, npumps);
	if (st == -1) {
		log_error("job %s: the namespace's init ended without the job's status; the job "
			  "could not be started",
			  jobid);
		return LC_EXIT_FAILURE;
	}
	return lc_exit_like(st);
}
