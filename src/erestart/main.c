/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * erestart.criu - the LSF restart method "criu".
 *
 * LSF's generic erestart execs this program as
 *     erestart.criu [-c] [-f] checkpoint_dir
 * as the job owner, where checkpoint_dir is the NEW job's checkpoint
 * directory (<base>/<new job ID>, already renamed by LSF).
 *
 * Expected identity: the job owner.
 *
 * It does not run the job. It checks that the directory holds a verified
 * image set and that this host can restore it (before LSF commits the
 * restart, so that a failure leaves the checkpoint restartable elsewhere:
 * LSF renames the directory back): criu usable and not older than the criu
 * that made the image; every path the image needs (host-needs.json: cwds,
 * executables, mapped and open files) present with the size criu will
 * check; the CPU features the job may use; for a host-PID image every PID of
 * the image free (waiting for zombies and dying processes), for a namespaced
 * one user namespaces allowed. Any problem: one log line naming the path,
 * PID or feature, exit 6. Then it writes .restart_cmd with one line,
 *     LSB_RESTART_CMD=exec '<dir of this program>/lsf-criu-restore' '<dir>' 'ckpt.<N>'
 * which LSF substitutes for the job's command, so the restorer becomes the
 * job and exits with the restored job's status. Missing or invalid images:
 * by default exit 1 (the restart fails and the job ends); with
 * "restore_missing_images = rerun" write nothing and exit 0, so LSF runs the
 * job again from its start. Either way a log line says so.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "cleanup.h"
#include "exitcodes.h"
#include "jobdir.h"
#include "log.h"
#include "imgstream.h"
#include "meta.h"
#include "portable.h"
#include "util.h"
#include "version.h"

#define RESTORER "lsf-criu-restore"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: erestart.criu [-c] [-f] checkpoint_dir\n"
		"\n"
		"LSF restart method: prepare the restart of a job checkpointed by echkpnt.criu.\n"
		"Run by LSF's erestart (brestart); writes checkpoint_dir/.restart_cmd.\n"
		"\n"
		"  -c, -f         accepted for LSF compatibility\n"
		"  -h, --help     show this help\n"
		"  -V, --version  show the version\n"
		"\n"
		"See erestart.criu(8).\n");
}

static int check_images(int dirfd, char *imgset, size_t size, struct lc_meta *m, struct lc_err *err)
{
	_cleanup_close_ int imgfd = -1;
	struct stat st;

	if (lc_current_load(dirfd, getuid(), imgset, size, err) < 0)
		return -err->code;
	imgfd = openat(dirfd, imgset, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (imgfd < 0)
		return lc_err_set(err, errno, "cannot open image set '%s'", imgset);
	if (fstat(imgfd, &st) < 0 || st.st_uid != getuid())
		return lc_err_set(err, EPERM, "image set '%s' does not belong to uid %u", imgset,
				  (unsigned)getuid());
	if (lc_meta_load(imgfd, getuid(), m, err) < 0)
		return lc_err_wrap(err, "image set '%s'", imgset);
	if (m->uid != getuid())
		return lc_err_set(err, EPERM, "image set '%s' was made by uid %u", imgset,
				  (unsigned)m->uid);
	if (lc_stream_is_streamed(imgfd)) {
		static const char *const need[] = { "inventory.img", NULL };
		struct lc_stream_stats vs;

		/* The container's footer and index, not every chunk (the restore checks those). */
		if (lc_stream_verify(imgfd, need, false, &vs, err) < 0)
			return lc_err_wrap(err, "image set '%s'", imgset);
	} else if (fstatat(imgfd, "inventory.img", &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		   st.st_size == 0) {
		return lc_err_set(err, ENOENT, "image set '%s' has no inventory.img", imgset);
	}
	log_info("image set '%s' of job %s (%d process(es), %.1f MiB) is ready", imgset, m->jobid,
		 m->n_pids, (double)m->image_bytes / 1048576.0);
	return 0;
}

static int restorer_path(char *buf, size_t size)
{
	char self[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n < 0)
		return -errno;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return -EINVAL;
	*slash = '\0';
	if ((size_t)snprintf(buf, size, "%s/%s", self, RESTORER) >= size)
		return -ENAMETOOLONG;
	return access(buf, X_OK) < 0 ? -errno : 0;
}

/* The base directory: the parent of the job checkpoint directory (static buffer). */
static const char *base_of(const char *dir)
{
	static char base[PATH_MAX];
	char *slash;

	snprintf(base, sizeof(base), "%s", dir);
	slash = strrchr(base, '/');
	if (slash && slash != base)
		*slash = '\0';
	return base;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct lc_err err = { 0 };
	struct lc_cfg cfg;
	_cleanup_free_ struct lc_meta *m = calloc(1, sizeof(*m));
	_cleanup_close_ int dirfd = -1;
	_cleanup_free_ char *qr = NULL, *qd = NULL, *qi = NULL, *line = NULL;
	char imgset[64], restorer[PATH_MAX], dir[PATH_MAX];
	const char *jobid, *old;
	int c, r;

	lc_log_init("erestart.criu");
	umask(077);
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+cfhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
		case 'f': break;
		case 'h': usage(stdout); return fflush(stdout) ? LC_EXIT_FAILURE : LC_EXIT_OK;
		case 'V':
			printf("erestart.criu (lsf-criu) %s (%s)\n", LC_VERSION, LC_GIT_ID);
			return fflush(stdout) ? LC_EXIT_FAILURE : LC_EXIT_OK;
		default: log_warn("unknown option '%s', ignoring", argv[optind - 1]); break;
		}
	}
	if (argc - optind != 1) {
		log_error("expected exactly one checkpoint directory, got %d arguments",
			  argc - optind);
		fprintf(stderr, "Try 'erestart.criu --help' for more information.\n");
		return LC_EXIT_USAGE;
	}
	jobid = getenv("LSB_JOBID");
	old = getenv("LSB_OLD_JOBID");
	lc_cfg_load(&cfg);
	dirfd = lc_jobdir_open(argv[optind], &err);
	if (dirfd < 0) {
		log_error("restart of job %s refused: %s", jobid ? jobid : "?", err.msg);
		return -dirfd == EPERM ? LC_EXIT_REFUSED : LC_EXIT_FAILURE;
	}
	if (lc_jobdir_attach_log(dirfd, &err) < 0) {
		log_error("restart of job %s failed: %s", jobid ? jobid : "?", err.msg);
		return LC_EXIT_FAILURE;
	}
	if (!realpath(argv[optind], dir) || strchr(dir, '\n')) {
		log_error("restart failed: cannot resolve '%s'", argv[optind]);
		return LC_EXIT_FAILURE;
	}
	log_info("restart of job %s (was job %s) requested in '%s'", jobid ? jobid : "?",
		 old ? old : "?", dir);
	if (!m)
		return lc_log_errno(ENOMEM, "restart failed"), LC_EXIT_FAILURE;
	r = check_images(dirfd, imgset, sizeof(imgset), m, &err);
	if (r < 0) {
		if (cfg.missing == LC_MISSING_RERUN) {
			log_warn("no usable checkpoint: %s; writing no restart command, so LSF runs "
				 "the job again from its start (restore_missing_images = rerun)",
				 err.msg);
			return LC_EXIT_OK;
		}
		log_error("restart failed: no usable checkpoint: %s (restore_missing_images = "
			  "fail)",
			  err.msg);
		return LC_EXIT_FAILURE;
	}
	r = lc_preflight(dirfd, imgset, m, cfg.criu, cfg.pid_wait_seconds, getuid(), &err);
	if (r < 0) {
		char host[256] = "?";

		(void)gethostname(host, sizeof(host) - 1);
		log_error(
			"restart of job %s refused on host %s: %s; LSF keeps the checkpoint of job "
			"%s: 'brestart -m <another host> %s %s' restarts it elsewhere",
			jobid ? jobid : "?", host, err.msg, m->jobid, base_of(dir), m->jobid);
		return LC_EXIT_HOST;
	}
	r = restorer_path(restorer, sizeof(restorer));
	if (r < 0 || strchr(restorer, '\n')) {
		log_error(
			"restart failed: '%s' beside erestart.criu is missing or not executable: %s",
			RESTORER, strerror(r < 0 ? -r : EINVAL));
		return LC_EXIT_FAILURE;
	}
	qr = lc_shell_quote(restorer);
	qd = lc_shell_quote(dir);
	qi = lc_shell_quote(imgset);
	if (!qr || !qd || !qi || asprintf(&line, "LSB_RESTART_CMD=exec %s %s %s\n", qr, qd, qi) < 0)
		return lc_log_errno(ENOMEM, "restart failed"), LC_EXIT_FAILURE;
	r = lc_write_atomic_at(dirfd, ".restart_cmd", line, strlen(line), 0600);
	if (r < 0) {
		log_error("restart failed: cannot write '.restart_cmd': %s", strerror(-r));
		return LC_EXIT_FAILURE;
	}
	line[strcspn(line, "\n")] = '\0';
	log_info("wrote .restart_cmd: %s", line);
	return LC_EXIT_OK;
}
