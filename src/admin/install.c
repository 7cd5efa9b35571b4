/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lsf-criu install: copies or links the programs (from beside this lsf-criu,
 * else from LIBEXECDIR) into LSF_SERVERDIR, each atomically, and prints the
 * configuration lines; with --remove takes them out again (only its own).
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

#ifndef LC_LIBEXECDIR
#define LC_LIBEXECDIR "/usr/local/libexec/lsf-criu"
#endif

/* The programs install copies, in the order it reports them. */
static const char *const programs[] = {
	"echkpnt.criu",	     "erestart.criu",  "lsf-criu-restore",  "lsf-criu-terminate",
	"lsf-criu-postexec", "lsf-criu-start", "lsf-criu-streamer", "lsf-criu",
};

static void install_usage(FILE *out)
{
	fprintf(out,
		"Usage: lsf-criu install --serverdir DIR [--link] [--criu PATH] [--dry-run]\n"
		"       lsf-criu install --serverdir DIR --remove [--dry-run]\n"
		"\n"
		"Put the programs LSF runs into DIR (LSF_SERVERDIR or LSB_ECHKPNT_METHOD_DIR):\n"
		"copies with mode 0755, or with --link symbolic links to the installed programs\n"
		"(a package upgrade then reaches LSF at once). Each is written atomically;\n"
		"files already identical are left alone. Then print the lsb.queues lines, the\n"
		"lsf.conf hint and the commands for criu. The programs come from beside this\n"
		"lsf-criu, else from " LC_LIBEXECDIR ":\n"
		"\n");
	for (size_t i = 0; i < sizeof(programs) / sizeof(programs[0]); i++)
		fprintf(out, "%s%s", i % 4 ? " " : i ? "\n  " : "  ", programs[i]);
	fprintf(out, "\n"
		     "\n"
		     "  -s, --serverdir DIR  the directory to install into (it must exist and be\n"
		     "                       writable)\n"
		     "  -l, --link           symbolic links instead of copies\n"
		     "  -r, --remove         remove the programs from DIR instead (only links to\n"
		     "                       them and identical copies; anything else is kept)\n"
		     "  -c, --criu PATH      the criu to print the commands for (default: the\n"
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

enum install_result {
	INST_UNCHANGED,
	INST_MODE,
	INST_WRITTEN,
	INST_REMOVED,
	INST_ABSENT,
	INST_KEPT
};

static const char *const result_text[][2] = {
	[INST_UNCHANGED] = { "unchanged", "unchanged" },
	[INST_MODE] = { "mode set to 0755", "would set mode 0755" },
	[INST_WRITTEN] = { "installed", "would install" },
	[INST_REMOVED] = { "removed", "would remove" },
	[INST_ABSENT] = { "not there", "not there" },
	[INST_KEPT] = { "kept: not this lsf-criu's program",
			"would keep: not this lsf-criu's program" },
};

/* Where one program comes from: an open directory and its path. */
struct source {
	int dirfd;
	const char *dir;
};

/* Reads the program name of src into a heap buffer. */
static int read_program(const struct source *src, const char *name, char **ret, size_t *ret_len,
			struct lc_err *err)
{
	struct stat st;
	int r;

	if (fstatat(src->dirfd, name, &st, 0) < 0)
		return lc_err_set(err, errno, "cannot find the program '%s' in '%s'", name,
				  src->dir);
	if (st.st_size > MAX_PROGRAM)
		return lc_err_set(err, EFBIG, "the program '%s' is larger than %d MiB", name,
				  MAX_PROGRAM >> 20);
	r = lc_read_file_at(src->dirfd, name, (size_t)st.st_size, (uid_t)-1, ret, ret_len);
	if (r < 0)
		return lc_err_set(err, -r, "cannot read the program '%s' in '%s'", name, src->dir);
	return 0;
}

/* True when dirfd/name is a symlink to target. */
static bool links_to(int dirfd, const char *name, const char *target)
{
	char buf[PATH_MAX];
	ssize_t n = readlinkat(dirfd, name, buf, sizeof(buf) - 1);

	if (n < 0)
		return false;
	buf[n] = '\0';
	return !strcmp(buf, target);
}

/* True when dirfd/name is a regular file of the caller with exactly the bytes buf. */
static bool same_file(int dirfd, const char *name, const char *buf, size_t len, struct stat *st)
{
	_cleanup_close_ int fd =
		openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

	return fd >= 0 && fstat(fd, st) == 0 && S_ISREG(st->st_mode) && st->st_uid == geteuid() &&
	       (size_t)st->st_size == len && same_content(fd, buf, len);
}

/*
 * Installs one program into dirfd: a copy (the existing file counts as
 * identical only when it is a regular file of the caller with the same
 * bytes; a mode other than 0755 is corrected in place) or, with link, a
 * symbolic link to the installed program. Anything else is replaced by a
 * temporary file or link renamed over it, so LSF never runs a half-written
 * program.
 */
static int install_one(const struct source *src, int dirfd, const char *name, bool link,
		       bool dry_run, enum install_result *ret, struct lc_err *err)
{
	_cleanup_free_ char *buf = NULL;
	char target[PATH_MAX], tmp[NAME_MAX + 1];
	struct stat st;
	size_t len = 0;
	int r;

	if (link) {
		snprintf(target, sizeof(target), "%s/%s", src->dir, name);
		if (faccessat(src->dirfd, name, X_OK, 0) < 0)
			return lc_err_set(err, errno, "cannot find the program '%s'", target);
		if (links_to(dirfd, name, target)) {
			*ret = INST_UNCHANGED;
			return 0;
		}
		*ret = INST_WRITTEN;
		if (dry_run)
			return 0;
		snprintf(tmp, sizeof(tmp), ".%s.%d.tmp", name, (int)getpid());
		(void)unlinkat(dirfd, tmp, 0);
		if (symlinkat(target, dirfd, tmp) < 0)
			return lc_err_set(err, errno, "cannot link '%s'", name);
		if (renameat(dirfd, tmp, dirfd, name) < 0) {
			r = errno;
			(void)unlinkat(dirfd, tmp, 0);
			return lc_err_set(err, r, "cannot link '%s'", name);
		}
		return 0;
	}
	r = read_program(src, name, &buf, &len, err);
	if (r < 0)
		return r;
	if (same_file(dirfd, name, buf, len, &st)) {
		*ret = (st.st_mode & 07777) == 0755 ? INST_UNCHANGED : INST_MODE;
		if (*ret == INST_MODE && !dry_run && fchmodat(dirfd, name, 0755, 0) < 0)
			return lc_err_set(err, errno, "cannot set the mode of '%s'", name);
		return 0;
	}
	*ret = INST_WRITTEN;
	if (!dry_run) {
		/* lc_write_atomic_at creates with mode & ~umask: umask 0 gives exactly 0755. */
		mode_t old = umask(0);

		r = lc_write_atomic_at(dirfd, name, buf, len, 0755);
		umask(old);
		if (r < 0)
			return lc_err_set(err, -r, "cannot write '%s'", name);
	}
	return 0;
}

/* Removes one program from dirfd, but only a link to this lsf-criu's or an identical copy. */
static int remove_one(const struct source *src, int dirfd, const char *name, bool dry_run,
		      enum install_result *ret, struct lc_err *err)
{
	_cleanup_free_ char *buf = NULL;
	char target[PATH_MAX];
	struct stat st;
	size_t len = 0;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			return lc_err_set(err, errno, "cannot look at '%s'", name);
		*ret = INST_ABSENT;
		return 0;
	}
	snprintf(target, sizeof(target), "%s/%s", src->dir, name);
	*ret = INST_KEPT;
	if (S_ISLNK(st.st_mode) && links_to(dirfd, name, target))
		*ret = INST_REMOVED;
	else if (S_ISREG(st.st_mode) && read_program(src, name, &buf, &len, err) == 0 &&
		 same_file(dirfd, name, buf, len, &st))
		*ret = INST_REMOVED;
	if (*ret == INST_REMOVED && !dry_run && unlinkat(dirfd, name, 0) < 0)
		return lc_err_set(err, errno, "cannot remove '%s'", name);
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
	const char *copy[] = { "install", "-o",	  "root",	    "-g", "lsf-criu",
			       "-m",	  "0750", "/usr/sbin/criu", criu, NULL };

	printf("\nIn lsb.queues, add to each queue whose jobs may be checkpointed at their run "
	       "limit:\n\n");
	printf("JOB_CONTROLS = TERMINATE[%s/lsf-criu-terminate]\n", dir);
	printf("POST_EXEC    = %s/lsf-criu-postexec\n", dir);
	printf("JOB_STARTER  = %s/lsf-criu-start %%USRCMD      (optional, see below)\n", dir);
	printf("\nthen run 'badmin reconfig'. Jobs opt in with ENABLE_ORUN_CHKPNT=Y (and "
	       "ENABLE_ORUN_RESTART=Y).\n");
	printf("\nOptional, in lsf.conf: make criu the default checkpoint method, so that jobs\n"
	       "need only 'bsub -k DIR' instead of 'bsub -k \"DIR method=criu\"':\n\n");
	printf("LSB_ECHKPNT_METHOD=criu\n");
	printf("\nOn every execution host, a private copy of criu with the least file "
	       "capabilities\nnon-root dumps and restores need, executable only by the group "
	       "lsf-criu (the\nusers whose jobs are checkpointed; see lsf-criu(8), LEAST "
	       "EXPOSURE), again after\nevery upgrade of criu:\n\n");
	lc_admin_cmdline(line, sizeof(line), copy);
	printf("%s\n", line);
	lc_admin_cmdline(line, sizeof(line), setcap);
	printf("%s\n", line);
	printf("\nOr, where every checkpointable queue has the JOB_STARTER line, no file "
	       "capability\nat all: in /etc/lsf-criu.conf, install_mode = starter-only and "
	       "criu = /usr/sbin/criu.\n");
	printf("\nThen check each host, as root and as a job owner: lsf-criu check\n");
}

int lc_admin_install(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "serverdir", required_argument, NULL, 's' },
		{ "criu", required_argument, NULL, 'c' },
		{ "link", no_argument, NULL, 'l' },
		{ "remove", no_argument, NULL, 'r' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *serverdir = NULL, *criu = NULL;
	_cleanup_close_ int dirfd = -1, selffd = -1, progfd = -1;
	char self[PATH_MAX], real[PATH_MAX];
	struct source from_self, from_progs;
	struct lc_err err = { 0 };
	struct lc_cfg cfg;
	struct stat st;
	bool dry_run = false, link = false, remove = false;
	int c, failed = 0, changed = 0;

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, "+:s:c:lrnhV", longopts, NULL)) != -1) {
		switch (c) {
		case 's': serverdir = optarg; break;
		case 'c': criu = optarg; break;
		case 'l': link = true; break;
		case 'r': remove = true; break;
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
	if (link && remove)
		return lc_admin_usage_error("install: --link and --remove exclude each other");
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
		log_error("cannot %s '%s': %s; run as a user who may write there (usually root)",
			  remove ? "remove from" : "install into", real, strerror(errno));
		return LC_EXIT_FAILURE;
	}
	if (!remove && fstat(dirfd, &st) == 0 && (st.st_mode & (S_IWGRP | S_IWOTH)) &&
	    !(st.st_mode & S_ISVTX))
		log_warn("'%s' is writable by group or others (mode %04o): they could replace the "
			 "programs LSF runs for every user; chmod go-w it",
			 real, (unsigned)(st.st_mode & 07777));
	/*
	 * The programs come from beside this lsf-criu (a build tree, or a copy in
	 * a server directory), else from the installation's LIBEXECDIR (the
	 * packages put lsf-criu on PATH and the method programs there).
	 */
	if (self_dir(self, sizeof(self), &err) < 0) {
		log_error("%s", err.msg);
		return LC_EXIT_FAILURE;
	}
	selffd = open(self, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (selffd < 0) {
		log_error("cannot open '%s': %s", self, strerror(errno));
		return LC_EXIT_FAILURE;
	}
	from_self = (struct source){ selffd, self };
	from_progs = from_self;
	if (faccessat(selffd, programs[0], F_OK, 0) < 0) {
		progfd = open(LC_LIBEXECDIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (progfd < 0) {
			log_error("no lsf-criu programs beside '%s' and none in '%s': %s", self,
				  LC_LIBEXECDIR, strerror(errno));
			return LC_EXIT_FAILURE;
		}
		from_progs = (struct source){ progfd, LC_LIBEXECDIR };
	}
	printf("%s the programs %s '%s' %s '%s'%s:\n",
	       remove ? (dry_run ? "would remove" : "removing")
		      : (dry_run ? "would install" : "installing"),
	       remove ? "of" : "from", from_progs.dir,
	       remove ? "from"
	       : link ? "as links into"
		      : "into",
	       real, dry_run ? " (dry run, nothing is written)" : "");
	for (size_t i = 0; i < sizeof(programs) / sizeof(programs[0]); i++) {
		const struct source *src = strcmp(programs[i], "lsf-criu") ? &from_progs
									   : &from_self;
		enum install_result res = INST_UNCHANGED;
		int r;

		r = remove ? remove_one(src, dirfd, programs[i], dry_run, &res, &err)
			   : install_one(src, dirfd, programs[i], link, dry_run, &res, &err);
		if (r < 0) {
			printf("  %-20s FAILED: %s\n", programs[i], err.msg);
			log_error("install: %s", err.msg);
			failed++;
			continue;
		}
		changed += res == INST_MODE || res == INST_WRITTEN || res == INST_REMOVED;
		printf("  %-20s %s\n", programs[i], result_text[res][dry_run]);
	}
	if (!dry_run && changed > 0 && fsync(dirfd) < 0)
		log_warn("cannot flush '%s': %s, ignoring", real, strerror(errno));
	if (failed) {
		log_error("%d of %zu programs not %s", failed,
			  sizeof(programs) / sizeof(programs[0]), remove ? "removed" : "installed");
		return LC_EXIT_FAILURE;
	}
	if (changed == 0)
		printf("all programs unchanged\n");
	if (remove) {
		printf("\nRemove lsf-criu's lines from lsb.queues too, then run 'badmin reconfig'.\n");
		return LC_EXIT_OK;
	}
	print_config_hints(real, criu);
	return LC_EXIT_OK;
}
