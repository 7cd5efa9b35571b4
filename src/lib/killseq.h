/* SPDX-License-Identifier: GPL-2.0-or-later */
/* LSF's default termination: SIGINT, SIGTERM, SIGKILL to the job's process groups. */
#ifndef LC_KILLSEQ_H
#define LC_KILLSEQ_H

#include <stdbool.h>
#include <sys/types.h>

/* True while any process of any of the groups exists (zombies count as gone). */
bool lc_groups_alive(const pid_t *pgids, int n);
/*
 * Sends SIGINT, then SIGTERM, then SIGKILL to every group, interval seconds
 * apart, stopping as soon as no process is left. Processes of the caller's
 * uid that descend from the groups' members but left the groups (setsid,
 * setpgid) count as the job's too: they get the same signals and must be
 * gone as well. Returns true if everything is gone.
 */
bool lc_kill_sequence(const pid_t *pgids, int n, long interval);

#endif
