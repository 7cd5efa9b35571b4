/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The chain's restart count, published for the job itself to read.
 *
 * A restored process keeps the environment of its first run: LSB_JOBID and
 * LSB_CHKPNT_DIR (<base>/<first job ID>) of that run. LSF renames the
 * checkpoint directory on every restart and drops the link under the old
 * name after the restarted job's next checkpoint, so nothing inside
 * LSB_CHKPNT_DIR lasts. The count is therefore published beside it, in the
 * base directory, under the chain's first job ID:
 *
 *     $LSB_CHKPNT_DIR.restarts     (= <base>/<first job ID>.restarts)
 *
 * one decimal number and a newline, written atomically; 0 until the first
 * restart. A copy is kept in the current job checkpoint directory as
 * lsf-criu.restarts.
 */
#ifndef LC_RESTARTS_H
#define LC_RESTARTS_H

#include <sys/types.h>

#define LC_RESTARTS_FILE   "lsf-criu.restarts"
#define LC_RESTARTS_SUFFIX ".restarts"

/*
 * Publishes the count of the chain whose first job is chain_id; dirfd is the
 * current job checkpoint directory (its parent is the base). Returns 0 or a
 * negative errno (the copy inside dirfd is written even if the base refuses).
 */
int lc_restarts_publish(int dirfd, const char *chain_id, long restarts);
/*
 * At the start of a first run (jobid is then the chain's first job ID):
 * publishes 0 unless a count is there already. Returns 0 or a negative errno.
 */
int lc_restarts_start(int dirfd, const char *jobid);
/* Reads the count published for chain_id beside dirfd (a file of owner); -ENOENT if none. */
int lc_restarts_read(int dirfd, const char *chain_id, uid_t owner, long *ret);

#endif
