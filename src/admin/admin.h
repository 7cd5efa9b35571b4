/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The subcommands of the admin tool lsf-criu and what its files share.
 * Private to src/admin/: main.c (dispatch, install, status), check.c (the
 * check command, its table and the criu probes) and probes.c (the kernel,
 * checkpoint directory and LSF configuration probes).
 */
#ifndef LC_ADMIN_H
#define LC_ADMIN_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Each returns the exit status of the tool (exitcodes.h). */
int lc_admin_check(int argc, char **argv);
int lc_admin_export(int argc, char **argv);

/* Prints "lsf-criu: <message>" and the "Try ..." line to stderr; returns LC_EXIT_USAGE. */
int lc_admin_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints the version line of the tool or of one subcommand (sub may be NULL). */
void lc_admin_version(const char *sub);
/* Formats argv as one shell command line (words quoted only when needed). */
void lc_admin_cmdline(char *buf, size_t size, const char *const argv[]);

/* ---- check: shared by check.c and probes.c ---- */

#define LC_CHK_LEAST_CAPS "cap_checkpoint_restore,cap_setpcap"
#define LC_CHK_BIT(c)	  (1ULL << (c))

enum lc_chk_verdict { LC_CHK_OK, LC_CHK_WARN, LC_CHK_FAIL };

struct lc_chk_result {
	enum lc_chk_verdict verdict;
	char finding[1024]; /* one line */
	char fix[2048];	    /* the command that fixes it; lines split by '\n' */
};

/* What every probe may read; filled once before the probes run. */
struct lc_chk_ctx {
	char criu[PATH_MAX];
	const char *criu_from; /* where the path came from, for the findings */
	const char *dir;       /* --dir, or NULL */
	const char *envdir;    /* --lsf-envdir, or NULL */
	uid_t uid;	       /* the caller (effective) */
	bool criu_file;	       /* criu is a regular file the caller may execute */
	char criu_why[600];    /* why not */
	int ptrace_scope;      /* Yama's, -1 without Yama */
};

struct lc_chk_mount {
	char point[PATH_MAX];
	char opts[512]; /* per-mount options, e.g. "rw,nosuid" */
	char fstype[64];
};

void lc_chk_finding(struct lc_chk_result *r, enum lc_chk_verdict v, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void lc_chk_fix(struct lc_chk_result *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Sets the fix to "setcap <caps>=ep <path>", quoted for the shell. */
void lc_chk_fix_setcap(struct lc_chk_result *r, const char *caps, const char *path);
/* Reads a file holding one number (/proc/sys/...); a negative errno on failure. */
int lc_chk_read_long(const char *path, long *ret);
/* One word quoted for the shell when it needs it. */
void lc_chk_quote(const char *s, char *buf, size_t size);
/* The mount holding path (absolute, symlinks resolved); -ENOENT if none matches. */
int lc_chk_find_mount(const char *path, struct lc_chk_mount *ret);
/*
 * The permitted and effective file capabilities of path as bit sets, and as
 * text in cap_to_text() form ("none" without any). A negative errno when they
 * cannot be read (-ENOTSUP: the filesystem holds no capabilities).
 */
int lc_chk_file_caps(const char *path, uint64_t *ret_perm, uint64_t *ret_eff, char *text,
		     size_t size);

/* The probes of probes.c. */
void lc_probe_userns(const struct lc_chk_ctx *c, struct lc_chk_result *r);
void lc_probe_ptrace(const struct lc_chk_ctx *c, struct lc_chk_result *r);
void lc_probe_cgroup(const struct lc_chk_ctx *c, struct lc_chk_result *r);
void lc_probe_pid_max(const struct lc_chk_ctx *c, struct lc_chk_result *r);
void lc_probe_ckpt_dir(const struct lc_chk_ctx *c, struct lc_chk_result *r);
void lc_probe_ckpt_space(const struct lc_chk_ctx *c, struct lc_chk_result *r);
void lc_probe_lsb_queues(const struct lc_chk_ctx *c, struct lc_chk_result *r);

#endif
