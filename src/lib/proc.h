/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Reading processes from /proc. All text from /proc is parsed strictly. */
#ifndef LC_PROC_H
#define LC_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct lc_proc {
	pid_t pid, ppid, pgid, sid;
	char state;
	unsigned long long start_time; /* field 22, clock ticks since boot */
	uid_t uid[4];		       /* real, effective, saved, filesystem */
	bool uid_known;		       /* uid[] read (lc_proc_read); else read on demand */
	char comm[32];
};

/* Parses the text of /proc/<pid>/stat (the comm may hold ')' and blanks). */
int lc_proc_parse_stat(const char *buf, struct lc_proc *ret);
/* Reads stat and the Uid line of status. -ENOENT when the process is gone. */
int lc_proc_read(pid_t pid, struct lc_proc *ret);
/*
 * Every process on the host; the caller frees *ret. Only stat is read for each
 * (a host has hundreds of processes): lc_proc_owned_by() reads the uids of the
 * few it is asked about.
 */
int lc_proc_list(struct lc_proc **ret, size_t *ret_n);
/* True if the pid exists, is not a zombie and (start_time != 0) started then. */
bool lc_proc_alive(pid_t pid, unsigned long long start_time);
/* True if all four uids of p are uid (read now if not known, for the same process). */
bool lc_proc_owned_by(const struct lc_proc *p, uid_t uid);
/* readlink of /proc/<pid>/fd/<fd>. */
int lc_proc_fd_target(pid_t pid, int fd, char *buf, size_t size);
/* pos: and flags: of /proc/<pid>/fdinfo/<fd>. */
int lc_proc_fdinfo(pid_t pid, int fd, long long *ret_pos, int *ret_flags);
/* The basename of /proc/<pid>/exe, for messages and to recognise criu. */
int lc_proc_exe(pid_t pid, char *buf, size_t size);

/* Start time (clock ticks) of pid read through an open /proc directory fd, 0 if unknown. */
unsigned long long lc_proc_start_time_at(int procfd, pid_t pid);
/* Epoch seconds at which p started (boot time + start ticks), 0 if unknown. */
long long lc_proc_start_epoch(const struct lc_proc *p);

#endif
