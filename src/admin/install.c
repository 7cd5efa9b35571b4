/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lsf-criu install: copies the programs from the directory of this lsf-criu
 * into LSF_SERVERDIR, each atomically, and prints the configuration lines.
 *
 * Expected identity: whoever may write the server directory (usually root).
 * It writes only the programs' files there.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin.h"
#include "cfg.h"
#include "cleanup.h"
#include "exitcodes.h"
#include "log.h"
#include "util.h"

#define MAX_PROGRAM (64 << 20)

/* The programs install copies, in the order it reports them. */
static const char *const programs[] = {
	"echkpnt.criu",	      "erestart.criu",	   "lsf-criu-restore",
	"lsf-criu-terminate", "lsf-criu-postexec", "lsf-criu-start", "lsf-criu",
};

static void install_usage(FILE *out)
{
	fprintf(out,
		"Usage: lsf-criu install --serverdir DIR [--criu PATH] [--dry-run]\n"
		"\n"
		"Copy the programs from the directory of this lsf-criu into DIR\n"
		"(LSF_SERVERDIR or LSB_ECHKPNT_METHOD_DIR) with mode 0755, each atomically;\n"
		"files already identical are left alone. Then print the lsb.queues lines, the\n"
		"lsf.conf hint and the setcap command for criu. The programs:\n"
		"\n");
	for (size_t i = 0; i < sizeof(programs) / sizeof(programs[0]); i++)
		fprintf(out, "%s%s", i % 4 ? " " : i ? "\n  " : "  ", programs[i]);
	fprintf(out,
		"\n"
		"\n"
		"  -s, --serverdir DIR  the directory to install into (it must exist and be\n"
		"                       writable)\n"
		"  -c, --criu PATH      the criu to print the setcap command for (default: the\n"
		"                       configured criu)\n"
		"  -n, --dry-run        only say what would be done\n"
		"  -h, --help           show this help\n"
		"  -V, --version        show the version\n");
}

/* True when the open file fd has exactly len bytes equal to buf. */
static bool same_content(int fd, const char *buf, size_t len)
{
	char chunk[65536];
	size_t off = 0;

	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return false;
		if (n == 0)
			return off == len;
		if ((size_t)n > len - off || memcmp(chunk, buf + off, (size_t)n))
			return false;
		off += (size_t)n;
	}
}

enum install_result { INST_UNCHANGED, INST_MODE, INST_WRITTEN };

/*
 * Installs one program into dirfd. The existing file counts as identical
 * only when it is a regular file (not a symlink) of the caller with the same
 * bytes; a mode other than 0755 is corrected in place. Anything else is replaced by a
 * temporary file renamed over it, so LSF never runs a half-written program.
 */
static int install_one(int srcdir, int dirfd, const char *name, bool dry_run,
		       enum install_result *ret, struct lc_err *err)
{
	_cleanup_free_ char *buf = NULL;
	_cleanup_close_ int fd = -1;
	struct stat st;
	size_t len = 0;
	int r;

	if (fstatat(srcdir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return lc_err_set(err, errno, "cannot find the program '%s' beside this lsf-criu",
				  name);
	if (st.st_size > MAX_PROGRAM)
		return lc_err_set(err, EFBIG, "the program '%s' is larger than %d MiB", name,
				  MAX_PROGRAM >> 20);
	r = lc_read_file_at(srcdir, name, (size_t)st.st_size, (uid_t)-1, &buf, &len);
	if (r < 0)
		return lc_err_set(err, -r, "cannot read the program '%s' beside this lsf-criu",
				  name);
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
	    (size_t)st.st_size == len && same_content(fd, buf, len)) {
		if ((st.st_mode & 07777) == 0755) {
			*ret = INST_UNCHANGED;
			return 0;
		}
		if (!dry_run && fchmod(fd, 0755) < 0)
			return lc_err_set(err, errno, "cannot set the mode of '%s'", name);
		*ret = INST_MODE;
		return 0;
	}
	if (!dry_run) {
		/* lc_write_atomic_at creates with mode & ~umask: umask 0 gives exactly 0755. */
		mode_t old = umask(0);

		r = lc_write_atomic_at(dirfd, name, buf, len, 0755);
		umask(old);
		if (r < 0)
			return lc_err_set(err, -r, "cannot write '%s'", name);
	}
	*ret = INST_WRITTEN;
	return 0;
}

/* The directory of the running executable, symlinks resolved. */
static int self_dir(char *buf, size_t size, struct lc_err *err)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n < 0)
		return lc_err_set(err, errno, "cannot read '/proc/self/exe'");
	exe[n] = '\0';
	snprintf(buf, size, "%s", dirname(exe));
	return 0;
}

static void print_config_hints(const char *dir, const char *criu)
{
	char line[PATH_MAX * 2];
	const char *setcap[] = { "setcap", "cap_checkpoint_restore,cap_setpcap=ep", criu, NULL };

	printf("\nIn lsb.queues, add to each queue whose jobs may be checkpointed at their run "
	       "limit:\n\n");
	printf("JOB_CONTROLS = TERMINATE[%s/lsf-criu-terminate]\n", dir);
	printf("POST_EXEC    = %s/lsf-criu-postexec\n", dir);
	printf("\nthen run 'badmin reconfig'. Jobs opt in with ENABLE_ORUN_CHKPNT=Y (and "
	       "ENABLE_ORUN_RESTART=Y).\n");
	printf("\nOptional, in lsf.conf: make criu the default checkpoint method, so that jobs\n"
	       "need only 'bsub -k DIR' instead of 'bsub -k \"DIR method=criu\"':\n\n");
	printf("LSB_ECHKPNT_METHOD=criu\n");
	printf("\nOn every execution host, give criu the least file capabilities non-root dumps "
	       "and\nrestores need (again after every copy or upgrade of criu):\n\n");
	lc_admin_cmdline(line, sizeof(line), setcap);
	printf("%s\n", line);
	printf("\nThen check each host, as root and as a job owner: lsf-criu check\n");
}

int lc_admin_install(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "serverdir", required_argument, NULL, 's' },
		{ "criu", required_argument, NULL, 'c' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *serverdir = NULL, *criu = NULL;
	_cleanup_close_ int dirfd = -1, srcfd = -1;
	char src[PATH_MAX], real[PATH_MAX];
	struct lc_err err = { 0 };
	struct lc_cfg cfg;
	struct stat st;
	bool dry_run = false;
	int c, failed = 0, written = 0;

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, "+:s:c:nhV", longopts, NULL)) != -1) {
		switch (c) {
		case 's': serverdir = optarg; break;
		case 'c': criu = optarg; break;
		case 'n': dry_run = true; break;
		case 'h': install_usage(stdout); return LC_EXIT_OK;
		case 'V': lc_admin_version("install"); return LC_EXIT_OK;
		case ':':
			return lc_admin_usage_error("install: option '%s' needs an argument",
						    argv[optind - 1]);
		default:
			return lc_admin_usage_error("install: unknown option '%s'",
						    argv[optind - 1]);
		}
	}
	if (optind < argc)
		return lc_admin_usage_error("install: unexpected argument '%s'", argv[optind]);
	if (!serverdir || !*serverdir)
		return lc_admin_usage_error("install: --serverdir DIR is required");
	if (criu && criu[0] != '/')
		return lc_admin_usage_error("install: --criu needs an absolute path, not '%s'",
					    criu);
	if (!criu) {
		lc_cfg_load(&cfg);
		criu = cfg.criu;
	}
	if (!realpath(serverdir, real) ||
	    (dirfd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		int e = errno;

		log_error("cannot install into '%s': %s%s", serverdir, strerror(e),
			  e == EACCES ? "; run as a user who may write there (usually root)" : "");
		return LC_EXIT_FAILURE;
	}
	if (!dry_run && faccessat(dirfd, ".", W_OK | X_OK, AT_EACCESS) < 0) {
		log_error("cannot install into '%s': %s; run as a user who may write there "
			  "(usually root)",
			  real, strerror(errno));
		return LC_EXIT_FAILURE;
	}
	if (fstat(dirfd, &st) == 0 && (st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
		log_warn("'%s' is writable by group or others (mode %04o): they could replace the "
			 "programs LSF runs for every user; chmod go-w it",
			 real, (unsigned)(st.st_mode & 07777));
	if (self_dir(src, sizeof(src), &err) < 0) {
		log_error("%s", err.msg);
		return LC_EXIT_FAILURE;
	}
	srcfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (srcfd < 0) {
		log_error("cannot open '%s': %s", src, strerror(errno));
		return LC_EXIT_FAILURE;
	}
	printf("%s the programs from '%s' into '%s'%s:\n", dry_run ? "would install" : "installing",
	       src, real, dry_run ? " (dry run, nothing is written)" : "");
	for (size_t i = 0; i < sizeof(programs) / sizeof(programs[0]); i++) {
		enum install_result res = INST_UNCHANGED;

		if (install_one(srcfd, dirfd, programs[i], dry_run, &res, &err) < 0) {
			printf("  %-20s FAILED: %s\n", programs[i], err.msg);
			log_error("install: %s", err.msg);
			failed++;
			continue;
		}
		written += res != INST_UNCHANGED;
		printf("  %-20s %s\n", programs[i],
		       res == INST_UNCHANGED ? "unchanged"
		       : res == INST_MODE ? (dry_run ? "would set mode 0755" : "mode set to 0755")
					  : (dry_run ? "would install" : "installed"));
	}
	if (!dry_run && written > 0 && fsync(dirfd) < 0)
		log_warn("cannot flush '%s': %s, ignoring", real, strerror(errno));
	if (failed) {
		log_error("%d of %zu programs not installed", failed,
			  sizeof(programs) / sizeof(programs[0]));
		return LC_EXIT_FAILURE;
	}
	if (written == 0)
		printf("all programs unchanged\n");
	print_config_hints(real, criu);
	return LC_EXIT_OK;
}
