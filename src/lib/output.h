/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Which of the job's stdio files is the output LSF gave it, decided from the
 * file itself (device and inode), never from its name.
 *
 * At checkpoint time echkpnt.criu records, for fds 0-2 of the dump root, the
 * file, its identity and whether it is LSF's output (output.json in the image
 * set). At restore time lsf-criu-restore rebinds exactly those to the output
 * LSF gives the new job (criu --inherit-fd) and reopens every other file as
 * it was, so a file the job opened itself (">", ">>", "exec >") keeps
 * receiving its lines wherever it lives.
 *
 * LSF's output is recognised as:
 *   1. the -o/-e file (LSB_OUTPUTFILE/LSB_ERRORFILE, a relative one resolved
 *      against LS_SUBCWD), when LSF lets the job write it directly;
 *   2. the file LSF gave this run, when it is a restarted one: lsf-criu-restore
 *      records the identity of its own stdout and stderr (lsf-criu.stdio);
 *   3. a pipe no process of the dumped tree reads (lsf-criu-start's pumps, or
 *      a pipe of LSF's): its reader is gone with the old job;
 *   4. a file in LSF's spool directory, that is, the directory that holds
 *      LSF's job file ($LSB_JOBFILENAME), compared by device and inode.
 */
#ifndef LC_OUTPUT_H
#define LC_OUTPUT_H

#include <stdbool.h>
#include <sys/types.h>

#include "err.h"
#include "job.h"

#define LC_OUTPUT_FILE "output.json"	/* in the image set */
#define LC_OUTPUT_MAX  16		/* as many as criu --inherit-fd options we pass */
#define LC_GIVEN_FILE  "lsf-criu.stdio" /* in the checkpoint directory */

enum lc_out_kind { LC_OUT_FILE, LC_OUT_PIPE, LC_OUT_OTHER };

struct lc_out_fd {
	int fd; /* root's fd 0-2; for LSF's output: which fd of the new job */
	enum lc_out_kind kind;
	char path[4096]; /* readlink of /proc/<root>/fd/<fd> at dump time */
	unsigned long long dev, ino;
	bool lsf;      /* the output LSF gave the job */
	char why[128]; /* how that was decided, for the log */
};

struct lc_output {
	int n;
	struct lc_out_fd
		fds[LC_OUTPUT_MAX]; /* the root's fds 0-2, then LSF's output held elsewhere */
};

/*
 * Classifies fds 0-2 of the job's dump root (see the rules above), and adds
 * every other file of LSF's output that a process of the tree holds (a
 * background process still writing to it, a copy on fd 3...), so that all of
 * them are rebound. dirfd is the checkpoint directory (for lsf-criu.stdio).
 * Never fails: an fd that cannot be read is left out.
 */
void lc_output_classify(const struct lc_job_procs *j, int dirfd, const char *jobid,
			struct lc_output *out);
int lc_output_save(int imgfd, const struct lc_output *o);
/* -ENOENT for an image set made before output.json existed. */
int lc_output_load(int imgfd, uid_t owner, struct lc_output *o, struct lc_err *err);
int lc_output_parse(const char *text, struct lc_output *o, struct lc_err *err);

/* The identity of the output LSF gave a (restarted) run: fds 1 and 2. */
struct lc_given {
	char jobid[32];
	int n;
	struct {
		int fd;
		unsigned long long dev, ino;
	} fds[2];
};

/* lsf-criu-restore: records the identity of its own fds 1 and 2 for jobid. */
int lc_given_record(int dirfd, const char *jobid);
int lc_given_load(int dirfd, uid_t owner, struct lc_given *g, struct lc_err *err);
int lc_given_parse(const char *text, struct lc_given *g, struct lc_err *err);

/*
 * The file LSF writes the job's output to: $var (LSB_OUTPUTFILE or
 * LSB_ERRORFILE) as a path, a relative one resolved against $LS_SUBCWD (LSF
 * may pass -o as typed). With dir_file, a directory becomes
 * <dir>/<jobid>.out (or .err), as LSF names the file. -ENOENT when the
 * variable is unset or empty, -EINVAL when it cannot be resolved.
 */
int lc_lsf_outfile(const char *var, const char *jobid, bool dir_file, char *buf, size_t size);

/*
 * A restarted job that LSF gives the same spool file as the run before
 * (appended to, never emptied) would have the earlier runs' lines delivered
 * again at its end. When fd (what LSF gives this job) is that file (device
 * dev, inode ino: the output LSF gave the run the image comes from), is not
 * the -o/-e file itself, and everything in it already reached the -o/-e file
 * named by var, empties it. Logs what it did and why.
 */
void lc_output_reused_spool(int fd, unsigned long long dev, unsigned long long ino, const char *var,
			    const char *jobid);

#endif
