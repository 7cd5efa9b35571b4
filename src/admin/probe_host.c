/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The probes of lsf-criu check that look at the host rather than at criu:
 * kernel settings, the checkpoint directory given with --dir and the LSF
 * configuration given with --lsf-envdir. See check.c for the table. They
 * only read; every finding is from the caller's point of view.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "admin.h"
#include "cfg.h"
#include "cleanup.h"
#include "util.h"

#define MIN_FREE (1LL << 30)

/* ---- kernel ------------------------------------------------------------- */

void lc_probe_userns(const struct lc_chk_ctx *c, struct lc_chk_result *r)
{
	long v, x;

	(void)c;
	if (lc_chk_read_long("/proc/sys/user/max_user_namespaces", &v) < 0) {
		lc_chk_finding(r, LC_CHK_WARN,
			       "the kernel has no user namespaces "
			       "(/proc/sys/user/max_user_namespaces is missing)");
		lc_chk_fix(r, "use a kernel built with CONFIG_USER_NS=y");
		return;
	}
	if (v <= 0) {
		/* The kernel's own default is half of threads-max. */
		if (lc_chk_read_long("/proc/sys/kernel/threads-max", &x) < 0 || x < 2)
			x = 2 * 15000;
		lc_chk_finding(r, LC_CHK_WARN,
			       "unprivileged user namespaces are disabled "
			       "(user.max_user_namespaces = %ld)",
			       v);
		lc_chk_fix(r,
			   "sysctl -w user.max_user_namespaces=%ld (the kernel's default; also in "
			   "/etc/sysctl.d/ to keep it)",
			   x / 2);
		return;
	}
	/* Debian's and Ubuntu's own switches. */
	if (lc_chk_read_long("/proc/sys/kernel/unprivileged_userns_clone", &x) == 0 && x == 0) {
		lc_chk_finding(r, LC_CHK_WARN,
			       "unprivileged user namespaces are disabled "
			       "(kernel.unprivileged_userns_clone = 0)");
		lc_chk_fix(r, "sysctl -w kernel.unprivileged_userns_clone=1");
		return;
	}
	if (lc_chk_read_long("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", &x) == 0 &&
	    x != 0) {
		lc_chk_finding(r, LC_CHK_WARN,
			       "AppArmor restricts unprivileged user namespaces "
			       "(kernel.apparmor_restrict_unprivileged_userns = %ld)",
			       x);
		lc_chk_fix(r, "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0");
		return;
	}
	lc_chk_finding(r, LC_CHK_OK,
		       "unprivileged user namespaces are available "
		       "(user.max_user_namespaces = %ld)",
		       v);
}

void lc_probe_ptrace(const struct lc_chk_ctx *c, struct lc_chk_result *r)
{
	uint64_t perm = 0, eff = 0;
	char have[256];
	bool cap = false;

	if (c->ptrace_scope < 0) {
		lc_chk_finding(r, LC_CHK_OK,
			       "no Yama LSM (no /proc/sys/kernel/yama/ptrace_scope): criu needs "
			       "no cap_sys_ptrace");
		return;
	}
	if (c->ptrace_scope == 0) {
		lc_chk_finding(r, LC_CHK_OK,
			       "kernel.yama.ptrace_scope = 0: criu needs no cap_sys_ptrace");
		return;
	}
	if (c->ptrace_scope >= 3) {
		lc_chk_finding(r, LC_CHK_WARN,
			       "kernel.yama.ptrace_scope = %d forbids every ptrace attach "
			       "until the next boot: criu cannot dump any job",
			       c->ptrace_scope);
		lc_chk_fix(r, "set kernel.yama.ptrace_scope = 1 in /etc/sysctl.d/ and reboot");
		return;
	}
	if (c->criu_file && lc_chk_file_caps(c->criu, &perm, &eff, have, sizeof(have)) == 0)
		cap = perm & eff & LC_CHK_BIT(CAP_SYS_PTRACE);
	if (cap) {
		lc_chk_finding(r, LC_CHK_OK,
			       "kernel.yama.ptrace_scope = %d and criu has cap_sys_ptrace",
			       c->ptrace_scope);
		return;
	}
	lc_chk_finding(r, LC_CHK_WARN,
		       "kernel.yama.ptrace_scope = %d: criu also needs cap_sys_ptrace to "
		       "dump jobs of non-root users",
		       c->ptrace_scope);
	lc_chk_fix_setcap(r, LC_CHK_LEAST_CAPS ",cap_sys_ptrace", c->criu);
}

void lc_probe_cgroup(const struct lc_chk_ctx *c, struct lc_chk_result *r)
{
	struct statfs fs, u;

	(void)c;
	if (statfs("/sys/fs/cgroup", &fs) < 0) {
		lc_chk_finding(r, LC_CHK_OK, "no cgroup filesystem at /sys/fs/cgroup (%s)",
			       strerror(errno));
		return;
	}
	if (fs.f_type == CGROUP2_SUPER_MAGIC)
		lc_chk_finding(r, LC_CHK_OK, "cgroup v2 (unified hierarchy at /sys/fs/cgroup)");
	else if (fs.f_type == CGROUP_SUPER_MAGIC)
		lc_chk_finding(r, LC_CHK_OK, "cgroup v1 (/sys/fs/cgroup is a cgroup v1 hierarchy)");
	else if (statfs("/sys/fs/cgroup/unified", &u) == 0 && u.f_type == CGROUP2_SUPER_MAGIC)
		lc_chk_finding(r, LC_CHK_OK,
			       "cgroup hybrid (v1 controllers, v2 at /sys/fs/cgroup/unified)");
	else if (fs.f_type == TMPFS_MAGIC)
		lc_chk_finding(r, LC_CHK_OK, "cgroup v1 (controllers below /sys/fs/cgroup)");
	else
		lc_chk_finding(r, LC_CHK_OK,
			       "no cgroup hierarchy recognised at /sys/fs/cgroup (type 0x%lx)",
			       (unsigned long)fs.f_type);
}

void lc_probe_pid_max(const struct lc_chk_ctx *c, struct lc_chk_result *r)
{
	long v;

	(void)c;
	if (lc_chk_read_long("/proc/sys/kernel/pid_max", &v) < 0) {
		lc_chk_finding(r, LC_CHK_OK, "cannot read /proc/sys/kernel/pid_max");
		return;
	}
	lc_chk_finding(r, LC_CHK_OK, "kernel.pid_max = %ld%s", v,
		       v < 4194304
			       ? " (restored jobs need their original PIDs; a larger pid_max, up to "
				 "4194304, makes collisions rarer)"
			       : "");
}

/* ---- checkpoint directory ----------------------------------------------- */

static const char *user_name(uid_t uid, char *buf, size_t size)
{
	struct passwd *pw = getpwuid(uid);

	if (pw)
		snprintf(buf, size, "%s", pw->pw_name);
	else
		snprintf(buf, size, "%u", (unsigned)uid);
	return buf;
}

void lc_probe_ckpt_dir(const struct lc_chk_ctx *c, struct lc_chk_result *r)
{
	char q[PATH_MAX + 8], me[64], owner[64];
	struct stat st;

	lc_chk_quote(c->dir, q, sizeof(q));
	if (stat(c->dir, &st) < 0) {
		int e = errno;

		lc_chk_finding(r, LC_CHK_FAIL, "checkpoint directory '%s': %s", c->dir,
			       strerror(e));
		if (e == ENOENT && c->uid)
			lc_chk_fix(r, "mkdir -m 0700 %s", q);
		else if (e == ENOENT)
			lc_chk_fix(r, "mkdir -m 0700 %s && chown <job owner> %s", q, q);
		return;
	}
	user_name(st.st_uid, owner, sizeof(owner));
	user_name(c->uid, me, sizeof(me));
	if (!S_ISDIR(st.st_mode)) {
		lc_chk_finding(r, LC_CHK_FAIL, "'%s' is not a directory", c->dir);
		return;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
		lc_chk_finding(r, LC_CHK_FAIL,
			       "'%s' (owner %s, mode %04o) is writable by group or others: they "
			       "could replace the job directories in it",
			       c->dir, owner, (unsigned)(st.st_mode & 07777));
		lc_chk_fix(r, "chmod go-w %s", q);
		return;
	}
	if (c->uid && st.st_uid != c->uid && !(st.st_mode & S_ISVTX)) {
		lc_chk_finding(r, LC_CHK_FAIL,
			       "'%s' belongs to %s, not to you (%s): lsf-criu refuses a "
			       "checkpoint directory of another user",
			       c->dir, owner, me);
		lc_chk_fix(
			r,
			"chown %s %s (as root), or submit with a checkpoint directory of your own",
			me, q);
		return;
	}
	if (c->uid && faccessat(AT_FDCWD, c->dir, W_OK | X_OK, AT_EACCESS) < 0) {
		lc_chk_finding(r, LC_CHK_FAIL,
			       "'%s' (owner %s, mode %04o) is not writable for you (%s)", c->dir,
			       owner, (unsigned)(st.st_mode & 07777), me);
		lc_chk_fix(r, "chmod u+rwx %s", q);
		return;
	}
	if (st.st_mode & S_ISVTX && st.st_mode & (S_IWGRP | S_IWOTH)) {
		lc_chk_finding(
			r, LC_CHK_WARN,
			"'%s' (owner %s, mode %04o) is a shared sticky directory: each "
			"job directory in it must belong to its job's owner (lsf-criu checks that)",
			c->dir, owner, (unsigned)(st.st_mode & 07777));
		lc_chk_fix(r,
			   "give each user a checkpoint directory of their own, e.g. mkdir -m 0700 "
			   "$HOME/ckpt");
		return;
	}
	if (!c->uid && st.st_uid == 0) {
		lc_chk_finding(r, LC_CHK_WARN,
			       "'%s' belongs to root (mode %04o): lsf-criu runs as the job "
			       "owner, who cannot create job directories in it",
			       c->dir, (unsigned)(st.st_mode & 07777));
		lc_chk_fix(r, "chown <job owner> %s", q);
		return;
	}
	lc_chk_finding(r, LC_CHK_OK, "'%s' is a directory of %s, mode %04o", c->dir, owner,
		       (unsigned)(st.st_mode & 07777));
}

static const char *fs_name(long type)
{
	static const struct {
		long magic;
		const char *name;
	} names[] = {
		{ EXT4_SUPER_MAGIC, "ext2/3/4" },
		{ XFS_SUPER_MAGIC, "xfs" },
		{ BTRFS_SUPER_MAGIC, "btrfs" },
		{ TMPFS_MAGIC, "tmpfs" },
		{ NFS_SUPER_MAGIC, "nfs" },
		{ OVERLAYFS_SUPER_MAGIC, "overlay" },
		{ 0x2fc12fc1, "zfs" },
		{ 0x47504653, "gpfs" },
		{ 0x0bd00bd0, "lustre" },
		{ 0xff534d42, "cifs" },
		{ 0xfe534d42, "smb2" },
		{ 0x65735546, "fuse" },
		{ 0x00c36400, "ceph" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].magic == type)
			return names[i].name;
	return NULL;
}

void lc_probe_ckpt_space(const struct lc_chk_ctx *c, struct lc_chk_result *r)
{
	char type[96], real[PATH_MAX];
	struct lc_chk_mount m;
	struct statvfs vfs;
	struct statfs fs;
	const char *name, *note = "";
	long long avail;

	if (statvfs(c->dir, &vfs) < 0 || statfs(c->dir, &fs) < 0) {
		lc_chk_finding(r, LC_CHK_WARN, "cannot read the filesystem of '%s': %s", c->dir,
			       strerror(errno));
		return;
	}
	avail = (long long)vfs.f_bavail * (long long)vfs.f_frsize;
	name = fs_name((long)fs.f_type);
	if (realpath(c->dir, real) && lc_chk_find_mount(real, &m) == 0)
		snprintf(type, sizeof(type), "%s", m.fstype);
	else if (name)
		snprintf(type, sizeof(type), "%s", name);
	else
		snprintf(type, sizeof(type), "type 0x%lx", (unsigned long)fs.f_type);
	if (fs.f_type == TMPFS_MAGIC)
		note = "; tmpfs: images are lost at reboot";
	else if (fs.f_type == NFS_SUPER_MAGIC || fs.f_type == 0x47504653 || fs.f_type == 0x0bd00bd0)
		note = "; shared: a job can restart on another host";
	if (avail < MIN_FREE) {
		lc_chk_finding(r, LC_CHK_WARN,
			       "'%s' is on %s with only %.1f MiB free (under 1 GiB); an image "
			       "set is about the size of the job's memory",
			       c->dir, type, (double)avail / 1048576.0);
		lc_chk_fix(r, "free space there or use a larger filesystem for checkpoints");
		return;
	}
	lc_chk_finding(r, LC_CHK_OK, "'%s' is on %s with %.1f GiB free%s", c->dir, type,
		       (double)avail / 1073741824.0, note);
}

/* ---- LSF configuration -------------------------------------------------- */

#define MAX_QUEUES 256

struct queue_conf {
	char name[128];
	bool terminate, postexec, starter;
};

/* LSF_SERVERDIR from <envdir>/lsf.conf, else the placeholder the README uses. */
static void lsf_serverdir(const char *envdir, char *buf, size_t size)
{
	_cleanup_free_ char *txt = NULL;
	char path[PATH_MAX], *save = NULL;

	snprintf(buf, size, "<LSF_SERVERDIR>");
	snprintf(path, sizeof(path), "%s/lsf.conf", envdir);
	if (lc_read_file_at(AT_FDCWD, path, 1 << 20, (uid_t)-1, &txt, NULL) < 0)
		return;
	for (char *line = strtok_r(txt, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '='), *v;
		size_t n;

		if (!eq)
			continue;
		*eq = '\0';
		if (strcmp(lc_trim(line), "LSF_SERVERDIR"))
			continue;
		v = lc_trim(eq + 1);
		n = strlen(v);
		if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
			v[n - 1] = '\0';
			v++;
		}
		if (v[0] == '/')
			snprintf(buf, size, "%s", v);
	}
}

/* True if a JOB_CONTROLS value has TERMINATE[...lsf-criu-terminate...]. */
static bool terminate_is_ours(const char *v)
{
	const char *t = strcasestr(v, "TERMINATE");

	for (; t; t = strcasestr(t + 1, "TERMINATE")) {
		const char *open = t + 9, *close;

		while (*open == ' ' || *open == '\t')
			open++;
		if (*open != '[')
			continue;
		close = strchr(open, ']');
		if (!close)
			continue;
		if (memmem(open, (size_t)(close - open), "lsf-criu-terminate", 18))
			return true;
	}
	return false;
}

/*
 * Parses lsb.queues: "Begin Queue" ... "End Queue" sections of "KEY = value"
 * lines, '#' comments, '\' continuing a line. Keys are case-insensitive.
 */
static int parse_queues(char *txt, struct queue_conf *q, int max)
{
	char *save = NULL, *p;
	int n = 0;
	bool in = false;

	/* Join continued lines first, so a value split over lines is seen whole. */
	for (p = txt; (p = strchr(p, '\\'));) {
		size_t k = p[1] == '\r' ? 2 : 1;

		if (p[k] == '\n') {
			memset(p, ' ', k + 1);
			p += k + 1;
		} else {
			p++;
		}
	}
	for (char *line = strtok_r(txt, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq, *key, *val;

		line[strcspn(line, "#")] = '\0';
		line = lc_trim(line);
		if (!strncasecmp(line, "Begin", 5) && !strcasecmp(lc_trim(line + 5), "Queue")) {
			if (n >= max)
				break;
			memset(&q[n], 0, sizeof(q[n]));
			snprintf(q[n].name, sizeof(q[n].name), "?");
			n++;
			in = true;
			continue;
		}
		if (!strncasecmp(line, "End", 3) && !strcasecmp(lc_trim(line + 3), "Queue")) {
			in = false;
			continue;
		}
		eq = strchr(line, '=');
		if (!in || !eq)
			continue;
		*eq = '\0';
		key = lc_trim(line);
		val = lc_trim(eq + 1);
		if (!strcasecmp(key, "QUEUE_NAME"))
			snprintf(q[n - 1].name, sizeof(q[n - 1].name), "%s", val);
		else if (!strcasecmp(key, "JOB_CONTROLS"))
			q[n - 1].terminate = terminate_is_ours(val);
		else if (!strcasecmp(key, "POST_EXEC"))
			q[n - 1].postexec = strstr(val, "lsf-criu-postexec") != NULL;
		else if (!strcasecmp(key, "JOB_STARTER"))
			q[n - 1].starter = strstr(val, "lsf-criu-start") != NULL;
	}
	return n;
}

/* Appends ", 'name'" to a list of queue names. */
static void add_name(char *buf, size_t size, const char *name)
{
	size_t len = strlen(buf);

	if (len + 1 < size)
		snprintf(buf + len, size - len, "%s'%s'", len ? ", " : "", name);
}

void lc_probe_lsb_queues(const struct lc_chk_ctx *c, struct lc_chk_result *r)
{
	_cleanup_free_ struct queue_conf *q = NULL;
	_cleanup_free_ char *txt = NULL;
	char path[PATH_MAX], envdir[PATH_MAX], sd[PATH_MAX], both[512] = "", half[512] = "",
							     bare[512] = "";
	int n, rc, n_both = 0, n_half = 0, n_bare = 0;

	lsf_serverdir(c->envdir, sd, sizeof(sd));
	if (!c->starter_only)
		lc_chk_fix(r,
			   "add to each queue in lsb.queues whose jobs may be checkpointed at "
			   "their run limit:\nJOB_CONTROLS = TERMINATE[%s/lsf-criu-terminate]\n"
			   "POST_EXEC    = %s/lsf-criu-postexec\nthen run: badmin reconfig",
			   sd, sd);
	else
		lc_chk_fix(r,
			   "add to each queue in lsb.queues whose jobs may be checkpointed at "
			   "their run limit:\nJOB_CONTROLS = TERMINATE[%s/lsf-criu-terminate]\n"
			   "POST_EXEC    = %s/lsf-criu-postexec\nJOB_STARTER  = %s/lsf-criu-start "
			   "%%USRCMD\nthen run: badmin reconfig",
			   sd, sd, sd);
	/* <envdir>/lsb.queues or <envdir>/lsbatch/<cluster>/configdir/lsb.queues */
	if (c->envdir[0] == '/' || !realpath(c->envdir, envdir))
		snprintf(envdir, sizeof(envdir), "%s", c->envdir);
	if (lc_lsf_conf_path(envdir, "lsb.queues", path, sizeof(path)) < 0) {
		lc_chk_finding(r, LC_CHK_WARN, "no lsb.queues in '%s' or '%s/lsbatch/*/configdir'",
			       c->envdir, c->envdir);
		return;
	}
	rc = lc_read_file_at(AT_FDCWD, path, 16 << 20, (uid_t)-1, &txt, NULL);
	if (rc < 0) {
		lc_chk_finding(r, LC_CHK_WARN, "cannot read '%s': %s", path, strerror(-rc));
		return;
	}
	q = calloc(MAX_QUEUES, sizeof(*q));
	if (!q) {
		lc_chk_finding(r, LC_CHK_WARN, "out of memory");
		return;
	}
	n = parse_queues(txt, q, MAX_QUEUES);
	for (int i = 0; i < n; i++) {
		if (q[i].terminate && q[i].postexec) {
			add_name(both, sizeof(both), q[i].name);
			n_both++;
			if (!q[i].starter) {
				add_name(bare, sizeof(bare), q[i].name);
				n_bare++;
			}
		} else if (q[i].terminate || q[i].postexec) {
			add_name(half, sizeof(half), q[i].name);
			n_half++;
		}
	}
	if (n_half) {
		lc_chk_finding(r, LC_CHK_WARN,
			       "in '%s', queue%s %s ha%s only one of lsf-criu's TERMINATE "
			       "action and POST_EXEC: both are needed",
			       path, n_half > 1 ? "s" : "", half, n_half > 1 ? "ve" : "s");
		return;
	}
	if (!n_both) {
		lc_chk_finding(r, LC_CHK_WARN,
			       "no queue of %d in '%s' has lsf-criu's TERMINATE action and "
			       "POST_EXEC: jobs are killed at their run limit, never checkpointed",
			       n, path);
		return;
	}
	/* Consistency with the install mode (see the install-mode probe). */
	if (c->starter_only && n_bare) {
		lc_chk_finding(r, LC_CHK_WARN,
			       "in '%s', queue%s %s checkpoint%s jobs without JOB_STARTER = "
			       "lsf-criu-start, but this host is starter-only (criu has no file "
			       "capabilities): their checkpoints fail",
			       path, n_bare > 1 ? "s" : "", bare, n_bare > 1 ? "" : "s");
		lc_chk_fix(r,
			   "add to %s: JOB_STARTER = %s/lsf-criu-start %%USRCMD\nthen run: "
			   "badmin reconfig (or install_mode = capabilities in %s, with criu's "
			   "file capabilities)",
			   bare, sd, c->conf);
		return;
	}
	r->fix[0] = '\0';
	lc_chk_finding(r, LC_CHK_OK,
		       "in '%s', queue%s %s use%s lsf-criu's TERMINATE action and POST_EXEC%s",
		       path, n_both > 1 ? "s" : "", both, n_both > 1 ? "" : "s",
		       c->starter_only ? ", all under lsf-criu-start, as this starter-only host "
					 "needs"
		       : n_bare	       ? ""
				: ", all under lsf-criu-start: this host could do without criu's "
				  "file capabilities (install_mode = starter-only)");
}
