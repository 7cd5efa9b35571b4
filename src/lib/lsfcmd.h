/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * LSF's user commands, run the way lsf-criu may run them: by absolute path
 * in $LSF_BINDIR (never through PATH), without a shell, with a time limit.
 */
#ifndef LC_LSFCMD_H
#define LC_LSFCMD_H

#include "err.h"

/* "$LSF_BINDIR/bchkpnt -k jobid": LSF checkpoints and kills the job (after any action). */
int lc_lsf_bchkpnt_kill(const char *jobid, struct lc_err *err);

#endif
