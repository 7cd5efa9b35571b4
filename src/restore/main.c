/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lsf-criu-restore - restores a job checkpointed by echkpnt.criu and stays
 * its parent.
 *
 *     lsf-criu-restore checkpoint_dir image_set
 *
 * erestart.criu writes "exec lsf-criu-restore <dir> <set>" into .restart_cmd,
 * so LSF runs this program as the restarted job's command: as the job owner,
 * inside the new job's process group, with the new job's stdout and stderr.
 *
 * Expected identity: the job owner (it refuses a directory or image set of
 * another uid).
 *
 * It waits (bounded) until every PID of the image is free, passes its own
 * stdin/stdout/stderr to criu with --inherit-fd in place of the files the job
 * had (so output continues in the output LSF gives the new job and a changed
 * file size cannot fail the restore), restores detached as its own child
 * (--restore-detached --restore-sibling), records the restored root for the
 * next checkpoint, and waits for it. Its exit status is the job's: the same
 * exit code, or death by the same signal. Signals sent to the job's process
 * group reach the restored processes directly (they are in the group); this
 * program ignores the usual terminating signals so it cannot die before the
 * job it reports on. If the restore itself fails it exits 70.
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
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "cleanup.h"
#include "cli.h"
#include "chain.h"
#include "criu.h"
#include "exitcodes.h"
#include "jobdir.h"
#include "ledger.h"
#include "log.h"
#include "lsfcmd.h"
#include "lsfenv.h"
#include "meta.h"
#include "nsjob.h"
#include "output.h"
#include "proc.h"
#include "treeguard.h"
#include "util.h"
#include "version.h"

static const int ignored_signals[] = { SIGINT,	SIGTERM, SIGHUP,  SIGQUIT, SIGUSR1,
				       SIGUSR2, SIGPIPE, SIGTSTP, SIGTTIN, SIGTTOU };

static void usage(FILE *out)
{
	fprintf(out, "Usage: lsf-criu-restore checkpoint_dir image_set\n"
		     "\n"
		     "Restore a job checkpointed by echkpnt.criu and exit with its status.\n"
		     "erestart.criu writes this command into .restart_cmd; it is not meant to be\n"
		     "run by hand.\n"
		     "\n"
		     "  -h, --help     show this help\n"
		     "  -V, --version  show the version\n"
		     "\n"
		     "See lsf-criu-restore(8).\n");
}

/* True when we run as the job inside the namespaces of lsf-criu-start. */
static bool inside_starter(void)
{
	char comm[64] = "";
	int fd;
	ssize_t n;

	if (getpid() != LC_NS_JOB_PID || getppid() != 1)
		return false;
	fd = open("/proc/1/comm", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, comm, sizeof(comm) - 1);
	close(fd);
	if (n <= 0)
		return false;
	comm[n] = '\0';
	return !strcmp(comm, "lsf-criu-start\n");
}

static bool pid_taken(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	return access(path, F_OK) == 0;
}

/*
 * Waits until no PID of the image (and not extra, the one a failed attempt
 * found taken) is in use; returns the first PID still taken, or 0. Reaps our
 * own children meanwhile: a failed attempt's restored root is one.
 */
static pid_t wait_pids_free(const struct lc_meta *m, pid_t extra, long seconds)
{
	double end = lc_now() + (double)seconds;
	bool logged = false;

	for (;;) {
		pid_t taken = extra > 0 && pid_taken(extra) ? extra : 0;

		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		for (int i = 0; i < m->n_pids && !taken; i++)
			if (pid_taken(m->pids[i]))
				taken = m->pids[i];
		if (!taken)
			return 0;
		if (lc_now() >= end)
			return taken;
		if (!logged) {
			log_info("waiting up to %ld s for PID %d of the image to be free", seconds,
				 (int)taken);
			logged = true;
		}
		lc_msleep(100);
	}
}

static bool key_usable(const char *target)
{
	size_t n = strlen(target);

	if (n > 10 && !strcmp(target + n - 10, " (deleted)"))
		return false;
	if (!strncmp(target, "pipe:[", 6))
		return true;
	return target[0] == '/' && strncmp(target, "/dev/", 5) && target[1];
}

static bool key_seen(const struct lc_restore_opts *ro, const char *key)
{
	for (int i = 0; i < ro->n_inherit; i++)
		if (!strcmp(ro->inherit[i].key, key))
			return true;
	return false;
}

static void add_inherit(struct lc_restore_opts *ro, int fd, const char *target, const char *what)
{
	const char *key = target[0] == '/' ? target + 1 : target;

	snprintf(ro->inherit[ro->n_inherit].key, sizeof(ro->inherit[0].key), "%s", key);
	ro->inherit[ro->n_inherit].fd = fd;
	ro->n_inherit++;
	log_info("the job's '%s' becomes %s", target, what);
}

/*
 * For an image set made before output.json existed: a pipe, a file that is
 * gone, the -o/-e file or the very file LSF gives this job is LSF's output;
 * anything else is reopened as it was.
 */
static void legacy_output(const struct lc_meta *m, const char *jobid, struct lc_output *o)
{
	memset(o, 0, sizeof(*o));
	for (int i = 0; i < m->n_stdio && o->n < 3; i++) {
		const struct lc_meta_stdio *s = &m->stdio[i];
		struct lc_out_fd *f = &o->fds[o->n++];
		char path[PATH_MAX];
		struct stat st, cmp;

		f->fd = s->fd;
		snprintf(f->path, sizeof(f->path), "%s", s->target);
		f->kind = !strncmp(s->target, "pipe:[", 6) ? LC_OUT_PIPE
			  : s->target[0] == '/'		   ? LC_OUT_FILE
							   : LC_OUT_OTHER;
		if (f->fd == 0 || f->kind == LC_OUT_OTHER)
			continue;
		if (f->kind == LC_OUT_PIPE || stat(s->target, &st) < 0) {
			f->lsf = true;
			continue;
		}
		f->dev = (unsigned long long)st.st_dev;
		f->ino = (unsigned long long)st.st_ino;
		f->lsf = (fstat(s->fd, &cmp) == 0 && cmp.st_dev == st.st_dev &&
			  cmp.st_ino == st.st_ino) ||
			 (lc_lsf_outfile(s->fd == 2 ? "LSB_ERRORFILE" : "LSB_OUTPUTFILE", jobid,
					 true, path, sizeof(path)) == 0 &&
			  stat(path, &cmp) == 0 && cmp.st_dev == st.st_dev &&
			  cmp.st_ino == st.st_ino);
		snprintf(f->why, sizeof(f->why), "%s",
			 f->lsf ? "the output LSF gives this job" : "a file the job opened itself");
	}
}

/*
 * The output LSF had given the job (recorded by identity at checkpoint time,
 * see output.h) is replaced by the output LSF gives this job: our own fd 1
 * or 2, passed to criu with --inherit-fd. Every other file, the job's own
 * ("> file", ">> file", "exec > file", in any directory), is reopened by criu
 * as it was, so it keeps receiving the job's lines.
 */
/*
 * The identity of the output LSF gave the run the image comes from, for fd
 * (1 or 2): the image's record of that file, or, when the job wrote into a
 * pipe (lsf-criu-start's pumps), what that run recorded in lsf-criu.stdio.
 */
static void previous_output(const struct lc_out_fd *f, const struct lc_given *prev,
			    const struct lc_meta *m, unsigned long long *dev,
			    unsigned long long *ino)
{
	*dev = *ino = 0;
	if (f->kind == LC_OUT_FILE) {
		*dev = f->dev;
		*ino = f->ino;
		return;
	}
	if (!prev || strcmp(prev->jobid, m->jobid))
		return;
	for (int i = 0; i < prev->n; i++) {
		if (prev->fds[i].fd == f->fd) {
			*dev = prev->fds[i].dev;
			*ino = prev->fds[i].ino;
		}
	}
}

static int prepare_inherit(const struct lc_meta *m, int imgfd, const char *jobid,
			   const struct lc_given *prev, struct lc_restore_opts *ro)
{
	struct lc_output o;
	struct lc_err err = { 0 };
	int r;

	r = lc_output_load(imgfd, getuid(), &o, &err);
	if (r < 0) {
		if (r != -ENOENT)
			log_warn("%s; deciding from the files as they are now", err.msg);
		legacy_output(m, jobid, &o);
	}
	for (int i = 0; i < o.n; i++) {
		const struct lc_out_fd *f = &o.fds[i];
		unsigned long long dev, ino;
		char what[96];
		int fd;

		if (!f->lsf) {
			if (f->kind == LC_OUT_FILE)
				log_info("the job's fd %d '%s' is %s; it is reopened as it was",
					 f->fd, f->path,
					 f->why[0] ? f->why : "a file of the job's own");
			continue;
		}
		if (!key_usable(f->path) || key_seen(ro, f->path[0] == '/' ? f->path + 1 : f->path))
			continue;
		if (fcntl(f->fd, F_GETFD) < 0) {
			log_warn("this job has no fd %d to give the restored job, ignoring", f->fd);
			continue;
		}
		previous_output(f, prev, m, &dev, &ino);
		lc_output_reused_spool(f->fd, dev, ino,
				       f->fd == 2 ? "LSB_ERRORFILE" : "LSB_OUTPUTFILE", jobid);
		fd = fcntl(f->fd, F_DUPFD_CLOEXEC, 10);
		if (fd < 0)
			return lc_log_errno(errno, "dup of fd %d", f->fd);
		snprintf(what, sizeof(what), "this job's fd %d (it was %s)", f->fd,
			 f->why[0] ? f->why : "LSF's output");
		add_inherit(ro, fd, f->path, what);
	}
	for (int i = 0; i < m->n_files && ro->n_inherit < LC_MAX_INHERIT; i++) {
		const struct lc_meta_file *f = &m->files[i];
		char what[128];
		int fd;

		if (!key_usable(f->path) || key_seen(ro, f->path + 1))
			continue;
		fd = openat(imgfd, f->copy, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			return lc_log_errno(errno, "cannot open the saved copy '%s'", f->copy);
		if (lseek(fd, (off_t)f->pos, SEEK_SET) < 0)
			return lc_log_errno(errno, "cannot seek in '%s'", f->copy);
		snprintf(what, sizeof(what), "its saved copy '%s' at offset %lld", f->copy, f->pos);
		add_inherit(ro, fd, f->path, what);
	}
	return 0;
}

/* Records this run's start in the chain's ledger, if there is one. */
static void note_run(int dirfd, const char *jobid)
{
	_cleanup_close_ int lock = -1;
	struct lc_ledger l;
	struct lc_err err = { 0 };
	char host[64] = "";

	lock = lc_chain_open(dirfd, jobid, false, 30, &l, &err);
	if (lock < 0) {
		if (err.code != ENOENT)
			log_warn("%s; the ledger is not updated", err.msg);
		return;
	}
	(void)gethostname(host, sizeof(host) - 1);
	lc_chain_run_started(&l, jobid, (long long)time(NULL), host);
	if (lc_chain_close(dirfd, &lock, &l, &err) < 0)
		log_warn("%s, ignoring", err.msg);
	else if (l.restart_limit >= 0)
		log_info("automatic restart %ld of %ld of job %s is running as job %s", l.restarts,
			 l.restart_limit, l.chain_id, jobid);
	else
		log_info("job %s of the chain of job %s is running", jobid, l.chain_id);
}

/* Where the image came from, for the recovery hint of a failed restore. */
static struct {
	char dir[PATH_MAX]; /* the checkpoint directory, as LSF renamed it for this job */
	char oldid[32];	    /* the job whose checkpoint it is */
} hint;

/*
 * The restore failed after LSF committed the restart: the directory carries
 * the new job's ID and brestart of the old one is refused. criu does not
 * touch the images, so the checkpoint is still good: say how to restart it
 * again, here once the cause is fixed or on another host.
 */
static int restore_failed(const char *jobid)
{
	char base[PATH_MAX], *slash;

	if (!hint.dir[0] || !hint.oldid[0] || !strcmp(hint.oldid, jobid))
		return LC_EXIT_RESTORE_FAILED;
	snprintf(base, sizeof(base), "%s", hint.dir);
	slash = strrchr(base, '/');
	if (!slash || slash == base)
		return LC_EXIT_RESTORE_FAILED;
	*slash = '\0';
	log_error("the checkpoint of job %s is unchanged in '%s'; to restart it again (on this "
		  "host once the cause above is fixed, or on another with 'brestart -m host'): "
		  "brestart '%s' %s; where LSF refuses that (this job made no checkpoint of its "
		  "own), as its owner: rm '%s/%s' && mv '%s' '%s/%s' && brestart '%s' %s",
		  hint.oldid, hint.dir, base, jobid, base, hint.oldid, hint.dir, base, hint.oldid,
		  base, hint.oldid);
	return LC_EXIT_RESTORE_FAILED;
}

/*
 * The restore failed on this host, after LSF committed the restart: LSF
 * would refuse to brestart either job ID now. So the checkpoint is handed
 * back to LSF as a checkpoint of this job ("bchkpnt -k", which echkpnt.criu
 * answers without a new dump, killing us): "brestart <base> <this job>"
 * can then retry it, on another host if this one cannot restore it.
 * Returns the exit status for when LSF does not take it.
 */
static int hand_back(int dirfd, const char *dir, const char *jobid, const char *imgset,
		     const char *why)
{
	struct lc_handover h = { 0 };
	struct lc_err err = { 0 };
	char real[PATH_MAX], *slash;

	if (!lc_jobid_ok(jobid) || !realpath(dir, real))
		return restore_failed(jobid);
	snprintf(h.jobid, sizeof(h.jobid), "%s", jobid);
	snprintf(h.imgset, sizeof(h.imgset), "%s", imgset);
	snprintf(h.why, sizeof(h.why), "the restore of job %s failed: %.100s", jobid, why);
	if (lc_handover_save(dirfd, &h) < 0 || lc_lsf_bchkpnt_kill(jobid, &err) < 0) {
		(void)unlinkat(dirfd, LC_HANDOVER_FILE, 0);
		log_error("the checkpoint '%s' cannot be handed back to LSF (%s)", imgset,
			  err.msg[0] ? err.msg : "cannot write the hand-over record");
		return restore_failed(jobid);
	}
	slash = strrchr(real, '/');
	if (slash)
		*slash = '\0';
	log_error("restore of job %s failed on this host; its checkpoint '%s' is handed back to "
		  "LSF as a checkpoint of job %s: 'brestart %s %s' retries it (with -m, on another "
		  "host)",
		  jobid, imgset, jobid, real, jobid);
	/* echkpnt.criu kills us once LSF records the checkpoint; criu's leftovers are reaped. */
	for (int i = 0; i < 1200; i++) {
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		lc_msleep(100);
	}
	log_error("LSF did not take the checkpoint back within 120 s");
	return LC_EXIT_RESTORE_FAILED;
}

/*
 * A restarted job that dies of a signal: LSF's generic erestart may pass on
 * only an exit code (the job then looks DONE), so the signal is recorded in
 * the run's entry of the ledger, for the log and the summary. Returns false
 * when a checkpoint of this run ended it (its kill is no news).
 */
static bool note_signal(int dirfd, const char *jobid, int sig)
{
	_cleanup_close_ int lock = -1;
	struct lc_ledger l;
	struct lc_err err = { 0 };
	struct lc_run *run;

	lock = lc_chain_open(dirfd, jobid, false, 10, &l, &err);
	if (lock < 0)
		return true;
	if ((l.state == LC_CHAIN_CHECKPOINTED || l.state == LC_CHAIN_HELD) &&
	    !strcmp(l.ckpt_jobid, jobid))
		return false; /* a checkpoint with -k of this run: it was killed on purpose */
	run = lc_ledger_run(&l, jobid, 0);
	if (!run)
		return true;
	/* Only the run's own record: how the chain goes on is the post-exec's business. */
	snprintf(run->end_reason, sizeof(run->end_reason), "killed by signal %d (%s)", sig,
		 strsignal(sig));
	if (lc_chain_close(dirfd, &lock, &l, &err) < 0)
		log_warn("cannot record the signal in the ledger: %s, ignoring", err.msg);
	return true;
}

/* Logs how the restored job ended and ends the same way. */
static int report_exit(int dirfd, const char *jobid, int st)
{
	if (WIFEXITED(st)) {
		log_info("restored job %s exited with status %d", jobid, WEXITSTATUS(st));
	} else if (WIFSIGNALED(st)) {
		int sig = WTERMSIG(st);

		if (note_signal(dirfd, jobid, sig))
			log_info("restored job %s was killed by signal %d (%s); LSF may report only "
				 "an exit code for a restarted job: the ledger keeps the signal",
				 jobid, sig, strsignal(sig));
		else
			log_info("restored job %s was killed by signal %d (%s) after its checkpoint",
				 jobid, sig, strsignal(sig));
	}
	lc_log_attach_fd(-1);
	return lc_exit_like(st);
}

/*
 * Restores an image dumped inside a job's own namespaces: new user, PID and
 * mount namespaces with the same id maps and a reaping init, criu run as our
 * child inside them, the init adopting the restored job. No host PID of the
 * image matters, so this never collides.
 */
static int restore_in_ns(int dirfd, const char *dir, const char *imgset, const char *jobid,
			 const struct lc_cfg *cfg, struct lc_restore_opts *ro)
{
	struct lc_starter_rec rec = { 0 };
	struct lc_err err = { 0 };
	struct lc_pump pumps[4];
	int npumps = 0;
	_cleanup_close_ int procfd = -1;
	char real[PATH_MAX], abs[PATH_MAX];
	int status_fd = -1, r, st;
	sigset_t set;
	pid_t init;

	if (!realpath(dir, real) ||
	    snprintf(abs, sizeof(abs), "%s/%s", real, imgset) >= (int)sizeof(abs)) {
		log_error("restore of job %s failed: cannot resolve '%s'", jobid, dir);
		return restore_failed(jobid);
	}
	procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	/* From now on LSF's signals reach the job through the init's sentinel. */
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(ignored_signals) / sizeof(ignored_signals[0]); i++)
		sigaddset(&set, ignored_signals[i]);
	sigprocmask(SIG_BLOCK, &set, NULL);
	for (size_t i = 0; i < sizeof(ignored_signals) / sizeof(ignored_signals[0]); i++)
		signal(ignored_signals[i], SIG_DFL);
	if (lc_ns_create(&err) < 0) {
		log_error("restore of job %s failed: the image was taken inside the job's own "
			  "namespaces, and %s",
			  jobid, err.msg);
		return hand_back(dirfd, dir, jobid, imgset, err.msg);
	}
	init = lc_ns_start_init(NULL, &status_fd, &err);
	if (init < 0) {
		log_error("restore of job %s failed: %s", jobid, err.msg);
		return hand_back(dirfd, dir, jobid, imgset, err.msg);
	}
	/* The job wrote into pipes read outside: give it new ones, pumped into our stdio. */
	for (int i = 0; i < ro->n_inherit && npumps < 4; i++) {
		int pfd[2];

		if (strncmp(ro->inherit[i].key, "pipe:[", 6))
			continue;
		if (pipe2(pfd, O_CLOEXEC) < 0)
			return lc_log_errno(errno, "pipe"),
			       hand_back(dirfd, dir, jobid, imgset, "pipe");
		pumps[npumps].from = pfd[0];
		pumps[npumps].to = ro->inherit[i].fd; /* our dup of fd 1 or 2 */
		npumps++;
		ro->inherit[i].fd = pfd[1];
	}
	ro->criu = cfg->criu;
	ro->imgdir = abs;
	ro->ns_here = true;
	ro->pidfile = NULL;
	r = lc_criu_restore(ro, &err);
	for (int i = 0; i < ro->n_inherit; i++)
		close(ro->inherit[i].fd);
	if (r < 0) {
		kill(init, SIGKILL);
		waitpid(init, NULL, 0);
		log_error("restore of job %s failed: %s; criu's log is '%s/%s'", jobid, err.msg,
			  imgset, ro->logname);
		return hand_back(dirfd, dir, jobid, imgset, err.msg);
	}
	snprintf(rec.jobid, sizeof(rec.jobid), "%s", jobid);
	rec.init_pid = init;
	rec.init_start = lc_proc_start_time_at(procfd, init);
	if (lc_starter_save(dirfd, &rec) < 0)
		log_warn("cannot record the namespace's init; the next checkpoint of job %s will "
			 "fail",
			 jobid);
	log_info("job %s restored in its own namespaces in %.2f s: init %d, job PID %d inside; "
		 "waiting for it",
		 jobid, ro->seconds, (int)init, LC_NS_JOB_PID);
	note_run(dirfd, jobid);
	st = lc_ns_supervise(init, status_fd, pumps, npumps);
	if (st == -1) {
		log_error("restored job %s: its namespace's init ended without a status", jobid);
		return LC_EXIT_RESTORE_FAILED;
	}
	return report_exit(dirfd, jobid, st);
}

int main(int argc, char **argv)
{
	struct lc_err err = { 0 };
	struct lc_cfg cfg;
	struct lc_restore_opts ro = { 0 };
	struct lc_root_rec rec = { 0 };
	struct lc_given prev;
	bool have_prev;
	struct lc_proc rp;
	_cleanup_free_ struct lc_meta *m = NULL;
	_cleanup_close_ int dirfd = -1, imgfd = -1;
	char logname[80], pidfile[80], version[32];
	const char *jobid, *imgset;
	pid_t root = -1, taken;
	int c, r, st, guard = -1;

	lc_log_init("lsf-criu-restore");
	/* stderr is the job's own: only a failure to restore belongs there. */
	lc_log_stderr_level(LC_LOG_ERROR);
	umask(077);
	c = lc_cli_simple(argc, argv, "lsf-criu-restore", usage);
	if (c >= 0)
		return c;
	if (argc - optind != 2) {
		log_error("expected a checkpoint directory and an image set");
		fprintf(stderr, "Try 'lsf-criu-restore --help' for more information.\n");
		return LC_EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof(ignored_signals) / sizeof(ignored_signals[0]); i++)
		signal(ignored_signals[i], SIG_IGN);
	jobid = getenv("LSB_JOBID");
	if (!jobid || !*jobid || strlen(jobid) >= sizeof(rec.jobid))
		jobid = "?";
	imgset = argv[optind + 1];
	dirfd = lc_jobdir_open(argv[optind], &err);
	if (dirfd < 0) {
		log_error("restore of job %s refused: %s", jobid, err.msg);
		return LC_EXIT_RESTORE_FAILED;
	}
	if (lc_jobdir_attach_log(dirfd, &err) < 0) {
		log_error("restore of job %s failed: %s", jobid, err.msg);
		return LC_EXIT_RESTORE_FAILED;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return lc_log_errno(ENOMEM, "restore failed"), LC_EXIT_RESTORE_FAILED;
	if (!lc_imgset_name_ok(imgset)) {
		log_error("restore of job %s refused: '%s' is not an image set name", jobid,
			  imgset);
		return LC_EXIT_RESTORE_FAILED;
	}
	imgfd = openat(dirfd, imgset, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (imgfd < 0 || lc_meta_load(imgfd, getuid(), m, &err) < 0) {
		log_error("restore of job %s failed: image set '%s': %s", jobid, imgset,
			  imgfd < 0 ? strerror(errno) : err.msg);
		return LC_EXIT_RESTORE_FAILED;
	}
	if (m->uid != getuid()) {
		log_error("restore of job %s refused: image set '%s' belongs to uid %u", jobid,
			  imgset, (unsigned)m->uid);
		return LC_EXIT_RESTORE_FAILED;
	}
	log_info("restore of job %s from '%s' (checkpoint of job %s, %d process(es)) started",
		 jobid, imgset, m->jobid, m->n_pids);
	if (realpath(argv[optind], hint.dir))
		snprintf(hint.oldid, sizeof(hint.oldid), "%s", m->jobid);
	if (inside_starter()) {
		/*
		 * A job starter ran lsf-criu-start around us in a way it did not
		 * recognise: we are the job in its namespaces, where criu has no
		 * privilege and the image's PIDs are not ours to give.
		 */
		log_error("restore of job %s refused: lsf-criu-restore runs as the job inside the "
			  "namespaces of lsf-criu-start, which ran it through another program (a "
			  "JOB_STARTER such as 'lsf-criu-start /bin/sh -c \"%%USRCMD\"'); with "
			  "'<dir>/lsf-criu-start %%USRCMD' it runs the restore as it is",
			  jobid);
		return hand_back(dirfd, argv[optind], jobid, imgset,
				 "lsf-criu-restore ran inside lsf-criu-start's namespaces");
	}
	/* What LSF gave the run the image comes from, then what it gives this one. */
	have_prev = lc_given_load(dirfd, getuid(), &prev, &err) == 0;
	memset(&err, 0, sizeof(err));
	if (lc_given_record(dirfd, jobid) < 0)
		log_warn("cannot record the output LSF gives job %s, ignoring", jobid);
	lc_cfg_load(&cfg);
	if (lc_criu_check(cfg.criu, version, sizeof(version), &err) < 0) {
		log_error("restore of job %s failed: criu is not usable: %s", jobid, err.msg);
		return hand_back(dirfd, argv[optind], jobid, imgset, err.msg);
	}
	if (prepare_inherit(m, imgfd, jobid, have_prev ? &prev : NULL, &ro) < 0)
		return hand_back(dirfd, argv[optind], jobid, imgset,
				 "the job's files could not be prepared");
	snprintf(logname, sizeof(logname), "restore.%s.log", jobid);
	ro.logname = logname;
	ro.workfd = dirfd;
	ro.file_locks = m->file_locks;
	if (m->ns)
		return restore_in_ns(dirfd, argv[optind], imgset, jobid, &cfg, &ro);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		log_warn("cannot become a subreaper: %s, ignoring", strerror(errno));
	snprintf(logname, sizeof(logname), "restore.%s.log", jobid);
	snprintf(pidfile, sizeof(pidfile), "restore.%s.pid", jobid);
	ro.criu = cfg.criu;
	ro.workfd = dirfd;
	ro.imgdir = imgset;
	ro.logname = logname;
	ro.pidfile = pidfile;
	ro.shell_job = true;
	ro.file_locks = m->file_locks;
	/* Kills the restored job if we die: it must never run on outside LSF's view. */
	guard = lc_tree_guard_start();
	for (int attempt = 1; attempt <= 3; attempt++) {
		taken = wait_pids_free(m, ro.busy_pid, cfg.pid_wait_seconds);
		if (taken) {
			log_error("restore of job %s failed: PID %d of the image is still in use "
				  "after %ld s",
				  jobid, (int)taken, cfg.pid_wait_seconds);
			return hand_back(dirfd, argv[optind], jobid, imgset,
					 "PIDs of the image are taken on this host");
		}
		(void)unlinkat(imgfd, pidfile, 0);
		root = lc_criu_restore(&ro, &err);
		if (root != -EEXIST)
			break;
		log_warn("attempt %d: a PID of the image was taken during the restore; retrying",
			 attempt);
		lc_msleep(1000);
	}
	for (int i = 0; i < ro.n_inherit; i++)
		close(ro.inherit[i].fd);
	if (root < 0) {
		log_error("restore of job %s failed: %s; criu's log is '%s/%s'", jobid,
			  root == -EEXIST ? "PIDs of the image stay taken" : err.msg, imgset,
			  logname);
		return hand_back(dirfd, argv[optind], jobid, imgset,
				 root == -EEXIST ? "PIDs of the image stay taken" : err.msg);
	}
	snprintf(rec.jobid, sizeof(rec.jobid), "%s", jobid);
	snprintf(rec.imgset, sizeof(rec.imgset), "%s", imgset);
	rec.pid = root;
	if (lc_proc_read(root, &rp) == 0)
		rec.start_time = rp.start_time;
	lc_tree_guard_root(guard, root, rec.start_time);
	r = lc_root_save(dirfd, &rec);
	if (r < 0)
		log_warn("cannot record the restored root: %s; the next checkpoint of this job "
			 "will fail",
			 strerror(-r));
	log_info("job %s restored in %.2f s: root process %d; waiting for it", jobid, ro.seconds,
		 (int)root);
	note_run(dirfd, jobid);
	for (;;) {
		pid_t p = waitpid(-1, &st, 0);

		if (p < 0 && errno == EINTR)
			continue;
		if (p < 0) {
			log_error("restored root %d is not a child of lsf-criu-restore: %s",
				  (int)root, strerror(errno));
			return LC_EXIT_RESTORE_FAILED;
		}
		if (p == root)
			break;
	}
	lc_tree_guard_stop(guard);
	return report_exit(dirfd, jobid, st);
}
