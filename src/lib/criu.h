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

#define LC_CRIU_MIN_MAJOR 4
#define LC_CRIU_MIN_MINOR 2
#define LC_MAX_INHERIT	  16

/*
 * The environment criu runs with: a fixed PATH and nothing of the job's.
 * criu reads ~/.criu/default.conf (through HOME) and $CRIU_CONFIG_FILE, both
 * in the user's hands; it always gets --no-default-config and this
 * environment, so only our command line configures it.
 */
char *const *lc_criu_envp(void);

/* Checks that criu exists, is executable and reports a version >= 4.2. */
int lc_criu_check(const char *criu, char *ret_version, size_t size, struct lc_err *err);

struct lc_dump_opts {
	const char *criu;
	int workfd;	      /* the checkpoint directory; images go to imgdir below it */
	const char *imgdir;   /* relative to workfd */
	pid_t root;
	bool leave_running;
	bool leave_stopped;   /* stop the tree after the dump instead of killing it */
	bool file_locks;
	bool shell_job;
	long long deadline;   /* epoch seconds after which criu is killed; 0: none */
	pid_t ns_init;	      /* run criu inside this init's namespaces (imgdir absolute) */
	/* Called once criu runs, with the process group that holds criu and its helpers. */
	void (*started)(pid_t pgrp, void *arg);
	void *started_arg;
	double seconds;	      /* out: wall time of the dump */
};

struct lc_inherit {
	int fd;		 /* an fd of the caller, inherited by criu */
	char key[4096];	 /* criu's key, e.g. "var/spool/x.out" or "pipe:[123]" */
};

struct lc_restore_opts {
	const char *criu;
	int workfd;
	const char *imgdir;
	const char *logname;	/* log file inside imgdir */
	const char *pidfile;	/* inside imgdir; must not exist; NULL with ns_here */
	bool ns_here;		/* the caller created the namespaces; criu runs as its child */
	bool file_locks;
	bool shell_job;
	struct lc_inherit inherit[LC_MAX_INHERIT];
	int n_inherit;
	pid_t busy_pid;		/* out, with -EEXIST: the PID criu found taken */
	double seconds;
};

/*
 * Dumps a process tree into opts->imgdir (which must exist) with its log in
 * imgdir/dump.log. Returns 0, or a negative errno with err set; err->code is
 * EPROTO when criu ran and failed.
 */
int lc_criu_dump(struct lc_dump_opts *opts, struct lc_err *err);

/*
 * Restores detached as our sibling-child (-d --restore-sibling) so the caller
 * can waitpid() the root. Returns the restored root's host PID (0 with
 * ns_here: the namespace's init adopts the root), or a negative errno;
 * -EEXIST when criu failed because a PID was taken.
 */
int lc_criu_restore(struct lc_restore_opts *opts, struct lc_err *err);

/* Formats argv as one shell-quoted line for the log. */
void lc_argv_format(char *const argv[], char *buf, size_t size);

#endif
