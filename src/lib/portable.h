/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What an image set needs from the host that restores it, recorded at
 * checkpoint time (host-needs.json in the image set) and checked on the host
 * that is about to restore it, before LSF commits the restart.
 *
 * criu reopens every file of the job by the path it had, and checks the size
 * of the files it maps or opened for reading or writing; it recreates the
 * job's working directories and executables by path too. A restore on a host
 * where one of them is missing or different fails inside the restarted job,
 * after LSF has renamed the checkpoint directory. Recorded here: the cwd,
 * executable, mapped files and open files (outside the checkpoint directory,
 * other than LSF's output, which is rebound, and the job file, which is
 * restored from its saved copy) of every process of the dumped tree, with
 * the sizes criu will check; the CPU's instruction-set features and XSAVE
 * state (a job may use any instruction its first host offered); the kernel,
 * the architecture and the criu version.
 */
#ifndef LC_PORTABLE_H
#define LC_PORTABLE_H

#include <stdbool.h>
#include <sys/types.h>

#include "err.h"
#include "job.h"
#include "meta.h"
#include "output.h"

#define LC_NEEDS_FILE	 "host-needs.json"
#define LC_NEEDS_MAX	 4096
#define LC_CPU_MAX_FLAGS 96

enum lc_need_type { LC_NEED_DIR, LC_NEED_FILE, LC_NEED_DEV };

struct lc_need {
	char path[4096];
	enum lc_need_type type;
	long long size; /* -1: not checked here (a file the job writes may grow until the dump) */
	char build_id[41]; /* hex GNU build-id of an ELF file, "" if none (criu checks it) */
	char why[96];	   /* "cwd of process 123 (sh)" */
};

struct lc_cpu {
	char arch[32];
	int n_flags;
	char flags[LC_CPU_MAX_FLAGS][24]; /* instruction-set flags of /proc/cpuinfo */
	unsigned long long xfeatures;	  /* XSAVE state components in use */
	unsigned xsave_size, xsave_size_max;
};

struct lc_needs {
	char jobid[32];
	char host[65];
	char kernel[65];
	char criu_version[32];
	bool ns;
	struct lc_cpu cpu;
	int n;
	struct lc_need *v; /* heap, n entries */
};

/*
 * echkpnt.criu, right after the dump, while the processes still exist:
 * classifies the job's stdio (output.json, see output.h) and records what
 * the image needs from a host (host-needs.json) in the image set imgfd.
 * dirfd and chkdir are the checkpoint directory; m holds the job files saved
 * with the image. stopped: the job is still stopped as criu left it, so the
 * files it writes have the sizes criu recorded (otherwise their sizes are
 * left to criu's own check at restore). Returns 0 or a negative errno with
 * err set; the checkpoint is good without these records (the restore then
 * checks less).
 */
int lc_portable_record(int imgfd, int dirfd, const char *chkdir, const struct lc_job_procs *j,
		       const struct lc_meta *m, bool stopped, struct lc_err *err);

/* Loads host-needs.json; -ENOENT for an image set made before it existed. */
int lc_needs_load(int imgfd, uid_t owner, struct lc_needs *n, struct lc_err *err);
int lc_needs_parse(const char *text, struct lc_needs *n, struct lc_err *err);
void lc_needs_free(struct lc_needs *n);

/*
 * Checks the needs against this host. Returns 0, or a negative errno with
 * err naming the first problem in one line: -ENOENT (a path is missing),
 * -ESTALE (a file differs: type or size), -ENOTSUP (the CPU lacks a feature
 * or the architecture differs). Differences that criu tolerates (kernel
 * release, XSAVE area size) are logged as warnings only.
 */
int lc_needs_check(const struct lc_needs *n, struct lc_err *err);

/*
 * Everything that can be checked before LSF commits a restart of image set
 * imgset (in the checkpoint directory dirfd, with its meta m) on this host:
 * criu usable and not older than the image's; the host needs above; for a
 * host-PID image "criu check --unprivileged" and every PID free (a zombie
 * counts as free; a live holder is waited for up to pid_wait_seconds); for
 * a namespaced image that user namespaces can be created. owner: the
 * image's owner (its records must belong to it). Returns 0 or a negative
 * errno with err naming the first problem in one line: -EEXIST for a PID
 * held by a live process (which may go), another errno for what stays.
 */
int lc_preflight(int dirfd, const char *imgset, const struct lc_meta *m, const char *criu,
		 long pid_wait_seconds, uid_t owner, struct lc_err *err);

/* This host's CPU features, as recorded in host-needs.json. */
void lc_cpu_read(struct lc_cpu *c);

/*
 * A restarted job's restore command wrapped by a job starter: true if argv,
 * after an optional leading "exec" (the shell word LSF's restart command
 * starts with, which a job starter put in front of it receives as an
 * argument), runs the lsf-criu-restore installed beside the running program
 * (same device and inode, not the same name). *ret_argv then points at the
 * restorer's argv.
 */
bool lc_is_restore_command(char **argv, char ***ret_argv);

/*
 * lsf-criu-start, at the start of a job's run before the job runs:
 * records the identity of the output LSF gave the run (lsf-criu.stdio, see
 * output.h) and, for a first run, publishes the restart count 0 (see
 * restarts.h). Problems are logged; nothing fails.
 */
void lc_portable_run_started(int dirfd, const char *jobid, bool restarted);

/* Compares two criu versions "X.Y[.Z]"; <0, 0, >0 like strcmp; 0 if unparsable. */
int lc_criu_version_cmp(const char *a, const char *b);

#endif
