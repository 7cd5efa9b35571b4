/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The job's environment, read as hostile input. Every value has a defined
 * meaning; a value that is not accepted is logged (on each read) and replaced by the
 * documented default.
 *
 *   ENABLE_ORUN_CHKPNT, ENABLE_ORUN_RESTART   Y, y, yes (any case) -> on;
 *        unset, empty, N, n, no -> off; anything else -> off, with a warning
 *   ORUN_RESTART_LIMIT     0..60, default 2 (the ledger keeps at most 64 runs)
 *   ORUN_TIMEOUT_SECONDS   1..86400, default 180
 *   LSB_JOBPGIDS           blank-separated pids (blanks and tabs around them allowed),
 *                          any number; every token that is a pid is used, the others
 *                          are counted and logged by the caller (an MPI job may have
 *                          hundreds of groups: one odd token must not spare them all)
 */
#ifndef LC_LSFENV_H
#define LC_LSFENV_H

#include <stdbool.h>
#include <sys/types.h>

/* Longest pid list read (about 100000 pids). */
#define LC_MAX_PIDLIST (1 << 20)

bool lc_env_flag(const char *name);
long lc_env_long(const char *name, long min, long max, long def);
/*
 * Parses a blank-separated list of pids into a new array *ret (the caller
 * frees it; NULL when empty): every token that is a pid (2 to 2^22) is kept
 * once, sorted; *ret_bad counts the other tokens. Returns how many were
 * kept, or -ENOMEM / -E2BIG (longer than LC_MAX_PIDLIST).
 */
int lc_parse_pids(const char *s, pid_t **ret, int *ret_bad);
/* True for a job ID as LSF prints it: digits, optionally "[index]". */
bool lc_jobid_ok(const char *s);

#endif
