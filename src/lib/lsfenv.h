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
 *                          at most 64; one bad token makes the whole list unusable
 */
#ifndef LC_LSFENV_H
#define LC_LSFENV_H

#include <stdbool.h>
#include <sys/types.h>

#define LC_MAX_PGIDS 64

bool lc_env_flag(const char *name);
long lc_env_long(const char *name, long min, long max, long def);
/* Parses a list of pids; returns how many (0 on any bad token: nothing is half-trusted). */
int lc_parse_pids(const char *s, pid_t *out, int max);
/* True for a job ID as LSF prints it: digits, optionally "[index]". */
bool lc_jobid_ok(const char *s);

#endif
