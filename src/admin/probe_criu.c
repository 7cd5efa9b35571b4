/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The probes of lsf-criu check that look at the criu binary: where it is, its
 * version, whether "criu check" passes as the caller, its file capabilities
 * against the least set lsf-criu needs, and the mount that must honour them.
 * They only read, and run criu only for "criu --version" and "criu check".
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "admin.h"
#include "criu.h"
#include "spawn.h"

#define CHECK_TIMEOUT 60

/* ---- criu --------------------------------------------------------------- */

/* The verdict of a probe that needs a criu there is none of. */
static void not_run(const struct lc_chk_ctx *c, struct lc_chk_result *r)
{
	lc_chk_finding(r, LC_CHK_FAIL, "not run: %s", c->criu_why);
	lc_chk_fix(r, "see the criu-path probe");
}

void lc_probe_criu_path(const struct lc_chk_ctx *c, struct lc_chk_result *r)
{
	struct stat st;

	if (!c->criu_file) {
		lc_chk_finding(r, LC_CHK_FAIL, "%s", c->criu_why);
		lc_chk_fix(
			r,
			"install a criu >= 4.2 there (scripts/provision.sh of the lsf-criu sources "
			"does), or name yours in /etc/lsf-criu.conf: criu = /path/to/criu");
		return;
	}
	if (stat(c->criu, &st) == 0 && (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)))) {
		const char *own[] = { "chown", "root:root", c->criu, NULL };
		const char *mod[] = { "chmod", "go-w", c->criu, NULL };
		char a[PATH_MAX + 32], b[PATH_MAX + 32];

		lc_admin_cmdline(a, sizeof(a), own);
		lc_admin_cmdline(b, sizeof(b), mod);
		lc_chk_finding(r, LC_CHK_WARN,
			       "'%s' (%s) belongs to uid %u with mode %04o: a program with "
			       "file capabilities should be root's and writable by root only",
			       c->criu, c->criu_from, (unsigned)st.st_uid,
			       (unsigned)(st.st_mode & 07777));
		lc_chk_fix(r, "%s && %s (then set its capabilities again)", a, b);
		return;
	}
	lc_chk_finding(r, LC_CHK_OK, "'%s' (%s)", c->criu, c->criu_from);
}

void lc_probe_criu_version(const struct lc_chk_ctx *c, struct lc_chk_result *r)
{
	struct lc_err err = { 0 };
	struct lc_criu_info info;
	const char *source;

	if (!c->criu_file) {
		not_run(c, r);
		return;
	}
	if (lc_criu_qualify(c->criu, LC_CRIU_RECORD, &info, &err) < 0) {
		if (err.code == ENOTSUP)
			lc_chk_finding(r, LC_CHK_FAIL,
				       "'%s' is criu %s; it must be %d.%d or newer here, because %s",
				       c->criu, info.version, info.rule.major, info.rule.minor,
				       info.rule.why);
		else
			lc_chk_finding(r, LC_CHK_FAIL, "%s", err.msg);
		lc_chk_fix(r,
			   "install criu >= %d.%d: the distribution's criu if it is new enough "
			   "(dnf install criu), else one built from source (see lsf-criu(8), "
			   "PROVISIONING CRIU)",
			   info.rule.major, info.rule.minor);
		return;
	}
	if (info.cached)
		source = "from root's record, criu not run";
	else if (info.recorded)
		source = "recorded for the other programs";
	else if (c->uid == 0)
		source = "asked criu; the record could not be written";
	else
		source = "asked criu: no record yet, so every checkpoint asks it too; run "
			 "lsf-criu check as root once";
	lc_chk_finding(r, LC_CHK_OK, "criu %s (%s); %d.%d or newer needed here, because %s",
		       info.version, source, info.rule.major, info.rule.minor, info.rule.why);
}

/* The first line of criu's output that says what went wrong. */
static void first_error(const char *out, char *buf, size_t size)
{
	const char *line = NULL;

	for (const char *p = out; *p; p += strcspn(p, "\n"), p += *p == '\n') {
		size_t n = strcspn(p, "\n");

		if (n == 0 || !strncmp(p, "Warn", 4))
			continue;
		if (!line || (!strncmp(p, "Error", 5) && strncmp(line, "Error", 5)))
			line = p;
	}
	if (!line)
		snprintf(buf, size, "(no output)");
	else
		snprintf(buf, size, "%.*s", (int)strcspn(line, "\n"), line);
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p < ' ')
			*p = ' ';
	for (size_t n = strlen(buf); n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == ':'); n--)
		buf[n - 1] = '\0';
}

static bool has_least_caps(const char *path)
{
	uint64_t need = LC_CHK_BIT(CAP_CHECKPOINT_RESTORE) | LC_CHK_BIT(CAP_SETPCAP);
	uint64_t perm, eff;
	char text[256];

	return lc_chk_file_caps(path, &perm, &eff, text, sizeof(text)) == 0 &&
	       (perm & eff & need) == need;
}

void lc_probe_criu_check(const struct lc_chk_ctx *c, struct lc_chk_result *r)
{
	const char *argv[] = { c->criu, "check", c->uid ? "--unprivileged" : NULL, NULL };
	char out[8192], line[512], cmd[PATH_MAX + 64];
	int st = 0, rc;

	lc_admin_cmdline(cmd, sizeof(cmd), argv);
	if (!c->criu_file) {
		not_run(c, r);
		return;
	}
	if (c->starter_only && c->uid) {
		/* criu gets its capability only inside a job's namespaces (lsf-criu-start). */
		lc_chk_finding(r, LC_CHK_WARN,
			       "not run as uid %u: on this starter-only host criu has no file "
			       "capabilities and gets CAP_CHECKPOINT_RESTORE only inside the "
			       "namespaces of a job under lsf-criu-start",
			       (unsigned)c->uid);
		lc_chk_fix(r, "run lsf-criu check as root, and checkpoint a test job submitted "
			      "with lsf-criu-start (bchkpnt)");
		return;
	}
	rc = lc_run_capture((char *const *)argv, CHECK_TIMEOUT, out, sizeof(out), &st);
	if (rc < 0) {
		lc_chk_finding(r, LC_CHK_FAIL, "'%s' did not finish: %s", cmd, strerror(-rc));
		lc_chk_fix(r, "%s -v4", cmd);
		return;
	}
	first_error(out, line, sizeof(line));
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		lc_chk_finding(r, LC_CHK_OK, "'%s' as uid %u: %s%s", cmd, (unsigned)c->uid,
			       strstr(out, "Looks good") ? "Looks good." : line,
			       c->uid ? ""
				      : " (as root this does not test criu's file capabilities: run "
					"lsf-criu check as a job owner too)");
		return;
	}
	if (WIFEXITED(st))
		lc_chk_finding(r, LC_CHK_FAIL, "'%s' as uid %u exited with %d: %s", cmd,
			       (unsigned)c->uid, WEXITSTATUS(st), line);
	else
		lc_chk_finding(r, LC_CHK_FAIL, "'%s' as uid %u was killed by signal %d", cmd,
			       (unsigned)c->uid, WTERMSIG(st));
	if (strstr(out, "CAP_CHECKPOINT_RESTORE") && has_least_caps(c->criu))
		lc_chk_fix(r, "the file capabilities are set but not in effect: see the criu-mount "
			      "probe (a nosuid mount ignores them)");
	else if (strstr(out, "CAP_CHECKPOINT_RESTORE"))
		lc_chk_fix_setcap(r, LC_CHK_LEAST_CAPS, c->criu);
	else
		lc_chk_fix(r,
			   "%s -v4 (read its Error lines; a criu >= 4.2 that passes is installed by "
			   "scripts/provision.sh of the lsf-criu sources)",
			   cmd);
}

/* "cap_a,cap_b" for the bits in set. */
static void cap_names(uint64_t set, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (int v = 0; v < 64; v++) {
		char *name;

		if (!(set & (1ULL << v)))
			continue;
		name = cap_to_name((cap_value_t)v);
		len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? "," : "",
					name ? name : "?");
		cap_free(name);
		if (len >= size)
			break; /* truncated, still NUL-terminated */
	}
}

/* criu's file capabilities on a starter-only host: none needed. */
static void caps_starter_only(const struct lc_chk_ctx *c, struct lc_chk_result *r, uint64_t perm,
			      const char *have)
{
	const char *argv[] = { "setcap", "-r", c->criu, NULL };

	if (!perm) {
		lc_chk_finding(r, LC_CHK_OK,
			       "'%s' has no file capabilities, as a starter-only host needs "
			       "(install_mode in '%s')",
			       c->criu, c->conf);
		return;
	}
	lc_chk_finding(r, LC_CHK_WARN,
		       "'%s' has file capabilities '%s', which a starter-only host (install_mode "
		       "in '%s') does not need: any user who may run it can use them",
		       c->criu, have, c->conf);
	lc_admin_cmdline(r->fix, sizeof(r->fix), argv);
}

void lc_probe_criu_caps(const struct lc_chk_ctx *c, struct lc_chk_result *r)
{
	uint64_t perm, eff, need, ok, missing, extra, cr;
	char have[256], names[256], least[128];
	bool yama = c->ptrace_scope == 1 || c->ptrace_scope == 2;
	int rc;

	if (!c->criu_file) {
		not_run(c, r);
		return;
	}
	rc = lc_chk_file_caps(c->criu, &perm, &eff, have, sizeof(have));
	if (rc == -ENOTSUP || rc == -EOPNOTSUPP) {
		if (c->starter_only) {
			caps_starter_only(c, r, 0, "none");
			return;
		}
		lc_chk_finding(r, LC_CHK_FAIL,
			       "the filesystem of '%s' cannot hold file capabilities "
			       "(no security.capability xattr)",
			       c->criu);
		lc_chk_fix(r,
			   "install criu on a local filesystem such as ext4 or xfs, then: "
			   "setcap %s=ep <that copy>",
			   LC_CHK_LEAST_CAPS);
		return;
	}
	if (rc < 0) {
		lc_chk_finding(r, LC_CHK_FAIL, "cannot read the file capabilities of '%s': %s",
			       c->criu, strerror(-rc));
		return;
	}
	if (c->starter_only) {
		caps_starter_only(c, r, perm, have);
		return;
	}
	/* Before Linux 5.9 there is no CAP_CHECKPOINT_RESTORE: criu takes CAP_SYS_ADMIN. */
	cr = c->kernel_cr ? LC_CHK_BIT(CAP_CHECKPOINT_RESTORE) : LC_CHK_BIT(CAP_SYS_ADMIN);
	need = cr | LC_CHK_BIT(CAP_SETPCAP) | (yama ? LC_CHK_BIT(CAP_SYS_PTRACE) : 0);
	ok = need | LC_CHK_BIT(CAP_NET_ADMIN);
	snprintf(least, sizeof(least), "%s%s%s",
		 c->kernel_cr ? LC_CHK_LEAST_CAPS : LC_CHK_OLD_KERNEL_CAPS,
		 yama ? ",cap_sys_ptrace" : "",
		 perm & LC_CHK_BIT(CAP_NET_ADMIN) ? ",cap_net_admin" : "");
	missing = need & ~(perm & eff);
	if (missing) {
		cap_names(missing, names, sizeof(names));
		lc_chk_finding(r, LC_CHK_FAIL,
			       "'%s' has file capabilities '%s'; non-root dumps and restores "
			       "need %s=ep (missing or not effective: %s)%s",
			       c->criu, have, least, names,
			       c->kernel_cr ? ""
					    : "; this kernel has no CAP_CHECKPOINT_RESTORE (Linux "
					      "5.9), so criu needs cap_sys_admin instead: keep it "
					      "to group " LC_CHK_GROUP " (see install-mode)");
		lc_chk_fix_setcap(r, least, c->criu);
		return;
	}
	extra = perm & ~ok;
	if (extra) {
		cap_names(extra, names, sizeof(names));
		lc_chk_finding(r, LC_CHK_WARN,
			       "'%s' has file capabilities '%s': more than needed (%s); "
			       "lsf-criu needs only %s",
			       c->criu, have, names, least);
		lc_chk_fix_setcap(r, least, c->criu);
		return;
	}
	lc_chk_finding(r, LC_CHK_OK, "'%s' has '%s'%s", c->criu, have,
		       perm & LC_CHK_BIT(CAP_NET_ADMIN)
			       ? " (cap_net_admin is needed only for jobs with TCP "
				 "sockets)"
			       : ", the least set");
}

/*
 * Which way this host gives criu its privilege, and who can use it:
 * capabilities (a private criu with file capabilities, which only the users
 * whose jobs are checkpointed should be able to run: anyone else who runs it
 * could use cap_checkpoint_restore on their own processes, and cap_sys_admin
 * on kernels before 5.9) or starter-only (no file capability; criu raises
 * CAP_CHECKPOINT_RESTORE only inside the namespaces of a job under
 * lsf-criu-start, which needs Linux 5.9 and user namespaces).
 */
void lc_probe_install_mode(const struct lc_chk_ctx *c, struct lc_chk_result *r)
{
	char have[256], grname[64], caps[160];
	uint64_t perm = 0, eff = 0;
	struct group *gr;
	struct stat st;
	long v;

	if (c->starter_only) {
		if (!c->kernel_cr) {
			lc_chk_finding(r, LC_CHK_FAIL,
				       "starter-only (install_mode in '%s'), but this kernel has no "
				       "CAP_CHECKPOINT_RESTORE (Linux 5.9 or newer needed): no job "
				       "can be checkpointed",
				       c->conf);
			lc_chk_fix(r, "install_mode = capabilities in %s, and give criu %s=ep",
				   c->conf, LC_CHK_OLD_KERNEL_CAPS);
			return;
		}
		if (lc_chk_read_long("/proc/sys/user/max_user_namespaces", &v) < 0 || v <= 0) {
			lc_chk_finding(r, LC_CHK_FAIL,
				       "starter-only (install_mode in '%s'), but unprivileged user "
				       "namespaces are disabled: lsf-criu-start runs jobs with host "
				       "PIDs, which criu without file capabilities cannot dump",
				       c->conf);
			lc_chk_fix(r, "see the userns probe");
			return;
		}
		lc_chk_finding(r, LC_CHK_OK,
			       "starter-only (install_mode in '%s'): criu needs no file "
			       "capability; only jobs started by lsf-criu-start (JOB_STARTER) can "
			       "be checkpointed (lsb-queues checks the queues)",
			       c->conf);
		return;
	}
	snprintf(caps, sizeof(caps), "%s=ep",
		 c->kernel_cr ? LC_CHK_LEAST_CAPS : LC_CHK_OLD_KERNEL_CAPS);
	if (!c->criu_file || stat(c->criu, &st) < 0) {
		lc_chk_finding(r, LC_CHK_OK, "capabilities (the default): see criu-path");
		return;
	}
	if (lc_chk_file_caps(c->criu, &perm, &eff, have, sizeof(have)) < 0 || !perm) {
		lc_chk_finding(r, LC_CHK_OK,
			       "capabilities (the default), but '%s' has none yet (see criu-caps)",
			       c->criu);
		return;
	}
	gr = getgrgid(st.st_gid);
	snprintf(grname, sizeof(grname), "%s", gr ? gr->gr_name : "?");
	if (st.st_mode & S_IXOTH) {
		const char *grp[] = { "chgrp", LC_CHK_GROUP, c->criu, NULL };
		const char *mod[] = { "chmod", "0750", c->criu, NULL };
		const char *cap[] = { "setcap", caps, c->criu, NULL };
		char a[PATH_MAX + 32], b[PATH_MAX + 32], d[PATH_MAX + 200];

		lc_admin_cmdline(a, sizeof(a), grp);
		lc_admin_cmdline(b, sizeof(b), mod);
		lc_admin_cmdline(d, sizeof(d), cap);
		lc_chk_finding(r, LC_CHK_WARN,
			       "capabilities: '%s' (mode %04o) has '%s' and every local user may "
			       "run it, not only those whose jobs are checkpointed",
			       c->criu, (unsigned)(st.st_mode & 07777), have);
		lc_chk_fix(r,
			   "groupadd -r %s (once), add the job owners to it, then:\n%s && %s && %s"
			   "\n(chgrp drops file capabilities: set them again last)",
			   LC_CHK_GROUP, a, b, d);
		return;
	}
	lc_chk_finding(r, LC_CHK_OK,
		       "capabilities: '%s' (mode %04o, group %s) has '%s'; only root and group "
		       "%s may run it",
		       c->criu, (unsigned)(st.st_mode & 07777), grname, have, grname);
}

void lc_probe_criu_mount(const struct lc_chk_ctx *c, struct lc_chk_result *r)
{
	char real[PATH_MAX], q[PATH_MAX + 8];
	struct lc_chk_mount m;
	int rc;

	if (!c->criu_file) {
		not_run(c, r);
		return;
	}
	if (!realpath(c->criu, real)) {
		lc_chk_finding(r, LC_CHK_FAIL, "cannot resolve '%s': %s", c->criu, strerror(errno));
		return;
	}
	rc = lc_chk_find_mount(real, &m);
	if (rc < 0) {
		lc_chk_finding(r, LC_CHK_WARN,
			       "cannot find the mount of '%s' in /proc/self/mountinfo: %s", real,
			       strerror(-rc));
		return;
	}
	lc_chk_quote(m.point, q, sizeof(q));
	if (lc_chk_has_opt(m.opts, "nosuid")) {
		lc_chk_finding(r, LC_CHK_FAIL,
			       "'%s' is on %s mounted at '%s' with nosuid: the kernel ignores "
			       "its file capabilities there",
			       real, m.fstype, m.point);
		lc_chk_fix(
			r,
			"mount -o remount,suid %s (or install criu on a filesystem mounted without "
			"nosuid)",
			q);
		return;
	}
	if (lc_chk_has_opt(m.opts, "noexec")) {
		lc_chk_finding(r, LC_CHK_FAIL,
			       "'%s' is on %s mounted at '%s' with noexec: it cannot run", real,
			       m.fstype, m.point);
		lc_chk_fix(r, "mount -o remount,exec %s (or install criu on another filesystem)",
			   q);
		return;
	}
	lc_chk_finding(r, LC_CHK_OK, "'%s' is on %s mounted at '%s' (%s): file capabilities apply",
		       real, m.fstype, m.point, m.opts);
}
