/* SPDX-License-Identifier: GPL-2.0-or-later */
/* /proc readers; see proc.h. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "proc.h"
#include "util.h"

int lc_proc_parse_stat(const char *buf, struct lc_proc *ret)
{
	const char *open, *close;
	char *end;
	unsigned long long v[20];
	const char *p;
	size_t n;

	open = strchr(buf, '(');
	close = strrchr(buf, ')');
	if (!open || !close || close < open || close[1] != ' ')
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	long long pid;

	errno = 0;
	pid = strtoll(buf, &end, 10);
	if (errno || end == buf || !isdigit((unsigned char)buf[0]) || pid <= 0 || pid > (1 << 22) ||
	    end + 1 != open || *end != ' ')
		return -EINVAL;
	ret->pid = (pid_t)pid;
	n = (size_t)(close - open - 1);
	if (n >= sizeof(ret->comm))
		n = sizeof(ret->comm) - 1;
	memcpy(ret->comm, open + 1, n);
	ret->comm[n] = '\0';
	p = close + 2;
	if (!isalpha((unsigned char)*p) || p[1] != ' ')
		return -EINVAL;
	ret->state = *p;
	p += 2;
	/* fields 4..22: ppid pgrp session tty_nr tpgid flags ... starttime */
	for (int i = 0; i < 19; i++) {
		if (!isdigit((unsigned char)*p) && *p != '-')
			return -EINVAL;
		errno = 0;
		v[i] = (unsigned long long)strtoll(p, &end, 10);
		if (errno || end == p || (*end != ' ' && *end != '\0' && *end != '\n'))
			return -EINVAL;
		p = *end ? end + 1 : end;
	}
	ret->ppid = (pid_t)v[0];
	ret->pgid = (pid_t)v[1];
	ret->sid = (pid_t)v[2];
	if ((long long)v[18] < 0)
		return -EINVAL;
	ret->start_time = v[18];
	return 0;
}

static int read_stat(pid_t pid, struct lc_proc *ret)
{
	char path[64];
	_cleanup_free_ char *stat = NULL;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	r = lc_read_file_at(AT_FDCWD, path, 4096, (uid_t)-1, &stat, NULL);
	if (r < 0)
		return r == -ENOENT || r == -ESRCH ? -ENOENT : r;
	r = lc_proc_parse_stat(stat, ret);
	if (r < 0)
		return r;
	memset(ret->uid, 0xff, sizeof(ret->uid));
	ret->uid_known = false;
	return 0;
}

static int read_uids(pid_t pid, uid_t uid[4])
{
	char path[64], *line;
	_cleanup_free_ char *status = NULL;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	r = lc_read_file_at(AT_FDCWD, path, 65536, (uid_t)-1, &status, NULL);
	if (r < 0)
		return r == -ESRCH ? -ENOENT : r;
	line = strstr(status, "\nUid:");
	if (!line)
		return -EINVAL;
	if (sscanf(line + 5, "%u %u %u %u", &uid[0], &uid[1], &uid[2], &uid[3]) != 4)
		return -EINVAL;
	return 0;
}

int lc_proc_read(pid_t pid, struct lc_proc *ret)
{
	int r = read_stat(pid, ret);

	if (r < 0)
		return r;
	r = read_uids(pid, ret->uid);
	ret->uid_known = r == 0;
	return r;
}

int lc_proc_list(struct lc_proc **ret, size_t *ret_n)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct lc_proc *list = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;

	d = opendir("/proc");
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		long pid;

		if (lc_parse_long(de->d_name, 1, 1 << 30, &pid) < 0)
			continue;
		if (n == cap) {
			struct lc_proc *nl;

			cap = cap ? cap * 2 : 256;
			nl = realloc(list, cap * sizeof(*list));
			if (!nl) {
				free(list);
				return -ENOMEM;
			}
			list = nl;
		}
		if (read_stat((pid_t)pid, &list[n]) == 0)
			n++;
	}
	*ret = list;
	*ret_n = n;
	return 0;
}

bool lc_proc_alive(pid_t pid, unsigned long long start_time)
{
	struct lc_proc p;

	if (lc_proc_read(pid, &p) < 0)
		return false;
	if (p.state == 'Z' || p.state == 'X')
		return false;
	return start_time == 0 || p.start_time == start_time;
}

bool lc_proc_owned_by(const struct lc_proc *p, uid_t uid)
{
	uid_t u[4];
	struct lc_proc again;

	if (p->uid_known)
		return p->uid[0] == uid && p->uid[1] == uid && p->uid[2] == uid && p->uid[3] == uid;
	/* The uids of the process p was read from, not of a new one with its pid. */
	if (read_uids(p->pid, u) < 0 || read_stat(p->pid, &again) < 0 ||
	    again.start_time != p->start_time)
		return false;
	return u[0] == uid && u[1] == uid && u[2] == uid && u[3] == uid;
}

int lc_proc_fd_target(pid_t pid, int fd, char *buf, size_t size)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
	n = readlink(path, buf, size - 1);
	if (n < 0)
		return -errno;
	if ((size_t)n >= size - 1)
		return -ENAMETOOLONG; /* size >= 2 is the caller's duty */
	buf[n] = '\0';
	return 0;
}

int lc_proc_fdinfo(pid_t pid, int fd, long long *ret_pos, int *ret_flags)
{
	char path[64];
	_cleanup_free_ char *txt = NULL;
	char *p;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", (int)pid, fd);
	r = lc_read_file_at(AT_FDCWD, path, 65536, (uid_t)-1, &txt, NULL);
	if (r < 0)
		return r;
	p = strstr(txt, "pos:");
	if (!p || sscanf(p + 4, "%lld", ret_pos) != 1)
		return -EINVAL;
	p = strstr(txt, "flags:");
	if (!p || sscanf(p + 6, "%o", (unsigned *)ret_flags) != 1)
		return -EINVAL;
	return 0;
}

int lc_proc_exe(pid_t pid, char *buf, size_t size)
{
	char path[64], target[4096], *base;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	base = strrchr(target, '/');
	snprintf(buf, size, "%s", base ? base + 1 : target);
	return 0;
}

long long lc_proc_start_epoch(const struct lc_proc *p)
{
	_cleanup_free_ char *txt = NULL;
	long ticks = sysconf(_SC_CLK_TCK);
	long long btime;
	char *b;

	if (ticks <= 0 ||
	    lc_read_file_at(AT_FDCWD, "/proc/stat", 1 << 20, (uid_t)-1, &txt, NULL) < 0)
		return 0;
	b = strstr(txt, "\nbtime ");
	if (!b || sscanf(b + 7, "%lld", &btime) != 1)
		return 0;
	return btime + (long long)(p->start_time / (unsigned long long)ticks);
}

unsigned long long lc_proc_start_time_at(int procfd, pid_t pid)
{
	_cleanup_free_ char *txt = NULL;
	struct lc_proc p;
	char name[32];

	snprintf(name, sizeof(name), "%d/stat", (int)pid);
	if (procfd < 0 || lc_read_file_at(procfd, name, 4096, (uid_t)-1, &txt, NULL) < 0 ||
	    lc_proc_parse_stat(txt, &p) < 0)
		return 0;
	return p.start_time;
}
