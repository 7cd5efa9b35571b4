/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The job checkpoint directory ($LSB_CHKPNT_DIR): opening it safely, its log
 * file and its lock.
 */
#ifndef LC_JOBDIR_H
#define LC_JOBDIR_H

#include "err.h"

#define LC_LOG_FILE  "lsf-criu.log"
#define LC_LOCK_FILE "lsf-criu.lock"

/* Opens a job checkpoint directory verified with lc_open_dir_verified(). */
int lc_jobdir_open(const char *path, struct lc_err *err);
/* Opens (creates 0600) the job log and attaches it to the log module. */
int lc_jobdir_attach_log(int dirfd, struct lc_err *err);
/* Takes the directory's exclusive lock, waiting up to timeout seconds; returns the lock fd. */
int lc_jobdir_lock(int dirfd, int timeout, struct lc_err *err);

#endif
