/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the files of the admin tool lsf-criu share. Private to src/admin/:
 *
 *   main.c        the command table, dispatch, --help/--version, usage errors
 *   check.c       "check": its options, the table of probes, the presentation
 *                 (a table for humans, --json for scripts)
 *   probe.c       what every probe may use: findings, fixes, file
 *                 capabilities, the mount of a path (libmount)
 *   probe_criu.c  the probes of the criu binary (path, version, criu check,
 *                 file capabilities, its mount)
 *   probe_host.c  the probes of the host: kernel settings, the checkpoint
 *                 directory (--dir), the LSF configuration (--lsf-envdir)
 *   probe_image.c the probe of a checkpoint (--dir): would it restore here
 *   status.c      "status": a chain's ledger and newest checkpoint
 *   install.c     "install": the programs into LSF_SERVERDIR
 *
 * Adding a subcommand "foo":
 *   1. write foo.c with "int lc_admin_foo(int argc, char **argv)": it parses
 *      its own options (argv[0] is "foo"; reset optind to 0 first), answers
 *      -h/--help and -V/--version (lc_admin_version("foo")), reports misuse with
 *      lc_admin_usage_error() and returns an exit code of exitcodes.h; it
 *      prints results to stdout and problems with log_error() to stderr;
 *   2. declare it below and add a row to the commands[] table in main.c (the
 *      order there is the order of "lsf-criu --help");
 *   3. document it in man/lsf-criu.8 and test it in tests/system/test_admin.py
 *      (every command must pass CommandLine.test_help_and_version).
 *
 * Adding a probe to "check" (a probe reads, never changes anything, and
 * judges only from the caller's point of view):
 *   1. write "void lc_probe_foo(const struct lc_chk_ctx *c, struct lc_chk_result *r)"
 *      in probe_criu.c or probe_host.c (or a new probe_<area>.c): it sets the
 *      verdict and a one-line finding with lc_chk_finding() and, when not OK,
 *      the command that fixes it with lc_chk_fix(); it never prints;
 *   2. declare it below and add a row to the probes[] table in check.c: its
 *      name (lower-case, dashes), whether it is required (only required probes
 *      can fail the check), what it needs (NEEDS_DIR: --dir, NEEDS_ENVDIR:
 *      --lsf-envdir) and a one-line help;
 *   3. anything several probes need is computed once in ctx_init() (check.c)
 *      and kept in struct lc_chk_ctx;
 *   4. list it in man/lsf-criu.8 and test OK and each non-OK verdict.
 */
#ifndef LC_ADMIN_H
#define LC_ADMIN_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- the subcommands (main.c's table); each returns an exit code ---- */

int lc_admin_check(int argc, char **argv);
int lc_admin_status(int argc, char **argv);
int lc_admin_install(int argc, char **argv);
int lc_admin_export(int argc, char **argv);

/* Prints "lsf-criu: <message>" and the "Try ..." line to stderr; returns LC_EXIT_USAGE. */
int lc_admin_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints the version line of the tool or of one subcommand (sub may be NULL). */
void lc_admin_version(const char *sub);
/* Formats argv as one shell command line (words quoted only when needed). */
void lc_admin_cmdline(char *buf, size_t size, const char *const argv[]);

/* ---- check: the probes' interface (check.c runs them, probe*.c implement them) ---- */

#define LC_CHK_LEAST_CAPS "cap_checkpoint_restore,cap_setpcap"
/* Before Linux 5.9 (no CAP_CHECKPOINT_RESTORE) criu accepts CAP_SYS_ADMIN instead. */
#define LC_CHK_OLD_KERNEL_CAPS "cap_sys_admin,cap_setpcap"
/* The group that may run the capable criu (least exposure). */
#define LC_CHK_GROUP  "lsf-criu"
#define LC_CHK_BIT(c) (1ULL << (c))

enum lc_chk_verdict { LC_CHK_OK, LC_CHK_WARN, LC_CHK_FAIL };

struct lc_chk_result {
	enum lc_chk_verdict verdict;
	char finding[1024]; /* one line */
	char fix[2048];	    /* the command that fixes it; lines split by '\n' */
};

/* What every probe may read; filled once by check.c before the probes run. */
struct lc_chk_ctx {
	char criu[PATH_MAX];
	const char *criu_from; /* where the path came from, for the findings */
	const char *dir;       /* --dir, or NULL */
	const char *envdir;    /* --lsf-envdir, or NULL */
	uid_t uid;	       /* the caller (effective) */
	bool criu_file;	       /* criu is a regular file the caller may execute */
	char criu_why[600];    /* why not */
	int ptrace_scope;      /* Yama's, -1 without Yama */
	bool starter_only;     /* install_mode = starter-only in lsf-criu.conf */
	const char *conf;      /* the configuration file read, or "/etc/lsf-criu.conf" */
	bool kernel_cr;	       /* the kernel has CAP_CHECKPOINT_RESTORE (Linux 5.9) */
};

struct lc_chk_mount {
	char point[PATH_MAX];
	char opts[512]; /* per-mount (VFS) options, e.g. "rw,nosuid" */
	char fstype[64];
};

/* probe.c: helpers for the probes. */
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
/*
 * The mount holding path (absolute, symlinks resolved), read from
 * /proc/self/mountinfo with libmount: the longest mount point that is a
 * prefix of path, the latest when mounts are stacked. -ENOENT if none
 * matches, another negative errno when the table cannot be read.
 */
int lc_chk_find_mount(const char *path, struct lc_chk_mount *ret);
/* True if the comma-separated option list opts holds exactly opt. */
bool lc_chk_has_opt(const char *opts, const char *opt);
/*
 * The permitted and effective file capabilities of path as bit sets, and as
 * text in cap_to_text() form ("none" without any). A negative errno when they
 * cannot be read (-ENOTSUP: the filesystem holds no capabilities).
 */
int lc_chk_file_caps(const char *path, uint64_t *ret_perm, uint64_t *ret_eff, char *text,
		     size_t size);

/* probe_criu.c */
void lc_probe_criu_path(const struct lc_chk_ctx *c, struct lc_chk_result *r);
void lc_probe_criu_version(const struct lc_chk_ctx *c, struct lc_chk_result *r);
void lc_probe_criu_check(const struct lc_chk_ctx *c, struct lc_chk_result *r);
void lc_probe_criu_caps(const struct lc_chk_ctx *c, struct lc_chk_result *r);
void lc_probe_criu_mount(const struct lc_chk_ctx *c, struct lc_chk_result *r);
void lc_probe_install_mode(const struct lc_chk_ctx *c, struct lc_chk_result *r);

/* probe_host.c */
void lc_probe_userns(const struct lc_chk_ctx *c, struct lc_chk_result *r);
void lc_probe_ptrace(const struct lc_chk_ctx *c, struct lc_chk_result *r);
void lc_probe_cgroup(const struct lc_chk_ctx *c, struct lc_chk_result *r);
void lc_probe_pid_max(const struct lc_chk_ctx *c, struct lc_chk_result *r);
void lc_probe_ckpt_dir(const struct lc_chk_ctx *c, struct lc_chk_result *r);
void lc_probe_ckpt_space(const struct lc_chk_ctx *c, struct lc_chk_result *r);
void lc_probe_lsb_queues(const struct lc_chk_ctx *c, struct lc_chk_result *r);

/* probe_image.c */
void lc_probe_ckpt_restore(const struct lc_chk_ctx *c, struct lc_chk_result *r);

#endif
