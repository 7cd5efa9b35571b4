/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The init of a job's PID namespace (PID 1) and its sentinel; see nsinit.c.
 * Included through nsjob.h.
 */
#ifndef LC_NSINIT_H
#define LC_NSINIT_H

/*
 * Runs as the first child of a process that has just unshared the namespaces
 * (lc_ns_create), in that process's (LSF's) process group. Dies with that
 * process (PR_SET_PDEATHSIG), forks the sentinel while still in LSF's
 * process group, then leaves it (setsid) and mounts its own /proc.
 *
 * With argv, starts the job as LC_NS_JOB_PID (setsid, exec); without, adopts
 * LC_NS_JOB_PID once a restore reparents it. Relays LSF's signals to every
 * process group of the job (SIGSTOP for SIGTSTP, SIGTTIN and SIGTTOU), stops
 * the job when LSF's group is stopped and kills it when the sentinel dies,
 * reaps every child, writes the job's raw wait status to status_fd and exits.
 * ready_fd gets one byte once /proc is mounted. Closes every other fd it
 * inherited. Never returns; exits 125 if it cannot set the job up.
 */
void lc_ns_init(char **argv, int ready_fd, int status_fd) __attribute__((noreturn));

#endif
