/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * All use of criu goes through this module. It runs the criu binary by its
 * configured absolute path with an argv built here (never a shell), always
 * with a log file at level 4, and judges success by the exit status only.
 */
#ifndef LC_CRIU_H
#define LC_CRIU_H

#include <stdbool.h>
#include <sys/types.h>

#include "err.h"
#include "imgstream.h"

#define LC_MAX_INHERIT 16

/*
 * The environment criu runs with: a fixed PATH and nothing of the job's.
 * criu reads ~/.criu/default.conf (through HOME) and $CRIU_CONFIG_FILE, both
 * in the user's hands; it always gets --no-default-config and this
 * environment, so only our command line configures it.
 */
char *const *lc_criu_envp(void);

/*
 * Which criu lsf-criu accepts (criuver.c): one that exists, is executable and
 * is new enough for what this kernel needs, by the facts of the kernel, not
 * one fixed version. The rules, strictest applicable one wins:
 *
 *   kernel fact                                          criu needed
 *   any (lsf-criu runs criu as the job owner,            >= 3.18 (--unprivileged)
 *        --unprivileged)
 *   refuses SO_PASSCRED on an inet socket (Linux 6.16)   >= 4.2 (dumps of jobs holding
 *                                                        inet sockets fail before)
 *
 * lsf-criu check also runs "criu check". The version is learnt once per criu
 * binary: root's "lsf-criu check" records it, keyed by the binary's device,
 * inode, size, mtime and ctime, in LC_CACHEDIR/criu-versions.json (root's,
 * not writable by others), which the other programs read instead of running
 * "criu --version" each time; any change to the binary (an upgrade, setcap)
 * misses the record and criu is asked again.
 */
struct lc_criu_rule {
	int major, minor; /* the least criu version */
	const char *why;  /* the fact that asks for it */
};

struct lc_criu_info {
	char version[32];	  /* as criu reports it, e.g. "4.2.1" */
	struct lc_criu_rule rule; /* the rule that decided */
	bool cached;		  /* from the record: criu was not run */
	bool recorded;		  /* written to the record now */
};

enum { LC_CRIU_RECORD = 1 << 0 }; /* flags: as root, record the version */

/*
 * Qualifies criu: fills ret (also on -ENOTSUP, with the version found).
 * Returns 0, or a negative errno with err set: -ENOENT/-EACCES (not there,
 * not executable), -ENOEXEC ("criu --version" failed or said no version),
 * -ENOTSUP (too old for this kernel; err names the rule).
 */
int lc_criu_qualify(const char *criu, int flags, struct lc_criu_info *ret, struct lc_err *err);

/* lc_criu_qualify() for the programs: the version into ret_version (may be NULL). */
int lc_criu_check(const char *criu, char *ret_version, size_t size, struct lc_err *err);

/* The least criu version this kernel needs, and why (probes the kernel). */
void lc_criu_needs(struct lc_criu_rule *ret);

/* Parses "4.2.1" or "3.19" into major and minor; -EINVAL otherwise. */
int lc_criu_parse_version(const char *s, int *ret_major, int *ret_minor);

struct lc_dump_opts {
	const char *criu;
	int workfd;	    /* the checkpoint directory; images go to imgdir below it */
	const char *imgdir; /* relative to workfd */
	pid_t root;
	bool leave_running;
	bool leave_stopped; /* stop the tree after the dump instead of killing it */
	bool file_locks;
	bool shell_job;
	long long deadline; /* epoch seconds after which criu is killed; 0: none */
	pid_t ns_init;	    /* run criu inside this init's namespaces (imgdir absolute) */
	bool stream;	    /* images through our streamer (--stream) into one container */
	struct lc_stream_opts sopts;
	struct lc_stream_stats sstats; /* out, with stream */
	/* Called once criu runs, with the process group that holds criu and its helpers. */
	void (*started)(pid_t pgrp, void *arg);
	void *started_arg;
	double seconds; /* out: wall time of the dump (with stream: until durable) */
};

struct lc_inherit {
	int fd;		/* an fd of the caller, inherited by criu */
	char key[4096]; /* criu's key, e.g. "var/spool/x.out" or "pipe:[123]" */
};

struct lc_restore_opts {
	const char *criu;
	int workfd;
	const char *imgdir;
	const char *logname; /* log file inside imgdir */
	const char *pidfile; /* inside imgdir; must not exist; NULL with ns_here */
	bool ns_here;	     /* the caller created the namespaces; criu runs as its child */
	bool file_locks;
	bool shell_job;
	struct lc_inherit inherit[LC_MAX_INHERIT];
	int n_inherit;
	pid_t busy_pid;		       /* out, with -EEXIST: the PID criu found taken */
	bool streamed;		       /* out: the image set was served by our streamer */
	struct lc_stream_stats sstats; /* out, when streamed */
	double seconds;
};

/*
 * Dumps a process tree into opts->imgdir (which must exist) with its log in
 * imgdir/dump.log. With stream, criu hands every image to our streamer, which
 * stores them in imgdir/images.lcs and makes it durable before this returns.
 * Returns 0, or a negative errno with err set; err->code is EPROTO when criu
 * ran and failed.
 */
int lc_criu_dump(struct lc_dump_opts *opts, struct lc_err *err);

/*
 * Restores detached as our sibling-child (-d --restore-sibling) so the caller
 * can waitpid() the root. An image set with images.lcs is served to criu by
 * our streamer (--stream). Returns the restored root's host PID (0 with
 * ns_here: the namespace's init adopts the root), or a negative errno;
 * -EEXIST when criu failed because a PID was taken.
 */
int lc_criu_restore(struct lc_restore_opts *opts, struct lc_err *err);

/* Formats argv as one shell-quoted line for the log. */
void lc_argv_format(char *const argv[], char *buf, size_t size);

#endif
