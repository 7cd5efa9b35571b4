/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lsf-criu check: a table of named probes, in the manner of "criu check".
 * Each probe gives OK, WARN or FAIL, a one-line finding and, when not OK, the
 * command that fixes it. Required probes may fail the command; optional
 * probes only warn (a FAIL of an optional probe is reported as WARN). The
 * exit status is 1 when any probe failed, else 0, also with warnings.
 *
 * Everything is read as the caller: run it as root and as a job owner, since
 * criu runs as the job owner. Nothing is changed; the only programs run are
 * "criu --version" and "criu check".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <linux/magic.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "admin.h"
#include "cfg.h"
#include "cleanup.h"
#include "criu.h"
#include "exitcodes.h"
#include "log.h"
#include "spawn.h"
#include "util.h"

#ifndef LC_CRIU_DEFAULT
#define LC_CRIU_DEFAULT "/usr/local/libexec/lsf-criu/criu"
#endif

#define CHECK_TIMEOUT 60

static const char *const verdict_names[] = { "OK", "WARN", "FAIL" };

struct probe {
	const char *name;
	bool required;
	int needs; /* NEEDS_DIR, NEEDS_ENVDIR */
	void (*run)(const struct lc_chk_ctx *c, struct lc_chk_result *r);
	const char *help;
};

enum { NEEDS_DIR = 1 << 0, NEEDS_ENVDIR = 1 << 1 };

void lc_chk_finding(struct lc_chk_result *r, enum lc_chk_verdict v, const char *fmt, ...)
{
	va_list ap;

	r->verdict = v;
	va_start(ap, fmt);
	vsnprintf(r->finding, sizeof(r->finding), fmt, ap);
	va_end(ap);
}

void lc_chk_fix(struct lc_chk_result *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->fix, sizeof(r->fix), fmt, ap);
	va_end(ap);
}

/* The setcap command for caps (e.g. LC_CHK_LEAST_CAPS) on path, quoted for the shell. */
void lc_chk_fix_setcap(struct lc_chk_result *r, const char *caps, const char *path)
{
	char set[256];
	const char *argv[] = { "setcap", set, path, NULL };

	snprintf(set, sizeof(set), "%s=ep", caps);
	lc_admin_cmdline(r->fix, sizeof(r->fix), argv);
}

/* Reads a one-number file such as /proc/sys/kernel/pid_max. */
int lc_chk_read_long(const char *path, long *ret)
{
	_cleanup_free_ char *txt = NULL;
	int r;

	r = lc_read_file_at(AT_FDCWD, path, 64, (uid_t)-1, &txt, NULL);
	if (r < 0)
		return r;
	txt[strcspn(txt, "\n")] = '\0';
	return lc_parse_long(txt, LONG_MIN, LONG_MAX, ret);
}

void lc_chk_quote(const char *s, char *buf, size_t size)
{
	const char *argv[] = { s, NULL };

	lc_admin_cmdline(buf, size, argv);
}

/* ---- criu --------------------------------------------------------------- */

/* The verdict of a probe that needs a criu there is none of. */
static void not_run(const struct lc_chk_ctx *c, struct lc_chk_result *r)
{
	lc_chk_finding(r, LC_CHK_FAIL, "not run: %s", c->criu_why);
	lc_chk_fix(r, "see the criu-path probe");
}

static void probe_criu_path(const struct lc_chk_ctx *c, struct lc_chk_result *r)
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

static void probe_criu_version(const struct lc_chk_ctx *c, struct lc_chk_result *r)
{
	struct lc_err err = { 0 };
	char version[64] = "";

	if (!c->criu_file) {
		not_run(c, r);
		return;
	}
	if (lc_criu_check(c->criu, version, sizeof(version), &err) < 0) {
		if (err.code == ENOTSUP)
			lc_chk_finding(r, LC_CHK_FAIL,
				       "'%s' is criu %s; lsf-criu needs %d.%d or "
				       "newer",
				       c->criu, version, LC_CRIU_MIN_MAJOR, LC_CRIU_MIN_MINOR);
		else
			lc_chk_finding(r, LC_CHK_FAIL, "%s; lsf-criu needs criu %d.%d or newer",
				       err.msg, LC_CRIU_MIN_MAJOR, LC_CRIU_MIN_MINOR);
		lc_chk_fix(r,
			   "install criu >= %d.%d (scripts/provision.sh of the lsf-criu sources "
			   "builds one from Debian's source package)",
			   LC_CRIU_MIN_MAJOR, LC_CRIU_MIN_MINOR);
		return;
	}
	lc_chk_finding(r, LC_CHK_OK, "criu %s (%d.%d or newer needed)", version, LC_CRIU_MIN_MAJOR,
		       LC_CRIU_MIN_MINOR);
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

static void probe_criu_check(const struct lc_chk_ctx *c, struct lc_chk_result *r)
{
	const char *argv[] = { c->criu, "check", c->uid ? "--unprivileged" : NULL, NULL };
	char out[8192], line[512], cmd[PATH_MAX + 64];
	int st = 0, rc;

	lc_admin_cmdline(cmd, sizeof(cmd), argv);
	if (!c->criu_file) {
		not_run(c, r);
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
		lc_chk_finding(
			r, LC_CHK_OK, "'%s' as uid %u: %s%s", cmd, (unsigned)c->uid,
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
		lc_chk_fix(
			r,
			"%s -v4 (read its Error lines; a criu >= 4.2 that passes is installed by "
			"scripts/provision.sh of the lsf-criu sources)",
			cmd);
}

/* ---- file capabilities -------------------------------------------------- */

int lc_chk_file_caps(const char *path, uint64_t *ret_perm, uint64_t *ret_eff, char *text,
		     size_t size)
{
	cap_t caps = cap_get_file(path);
	uint64_t perm = 0, eff = 0;
	char *t;

	if (!caps) {
		if (errno != ENODATA)
			return -errno;
		snprintf(text, size, "none");
		*ret_perm = *ret_eff = 0;
		return 0;
	}
	for (int v = 0; v < 64; v++) {
		cap_flag_value_t f;

		if (cap_get_flag(caps, (cap_value_t)v, CAP_PERMITTED, &f) == 0 && f == CAP_SET)
			perm |= 1ULL << v;
		if (cap_get_flag(caps, (cap_value_t)v, CAP_EFFECTIVE, &f) == 0 && f == CAP_SET)
			eff |= 1ULL << v;
	}
	t = cap_to_text(caps, NULL);
	snprintf(text, size, "%s", t ? t : "?");
	cap_free(t);
	cap_free(caps);
	*ret_perm = perm;
	*ret_eff = eff;
	return 0;
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
		if (len >= size) {
			len = size - 1;
			break;
		}
	}
}

static void probe_criu_caps(const struct lc_chk_ctx *c, struct lc_chk_result *r)
{
	uint64_t perm, eff, need, ok, missing, extra;
	char have[256], names[256], least[128];
	bool yama = c->ptrace_scope == 1 || c->ptrace_scope == 2;
	int rc;

	if (!c->criu_file) {
		not_run(c, r);
		return;
	}
	rc = lc_chk_file_caps(c->criu, &perm, &eff, have, sizeof(have));
	if (rc == -ENOTSUP || rc == -EOPNOTSUPP) {
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
	need = LC_CHK_BIT(CAP_CHECKPOINT_RESTORE) | LC_CHK_BIT(CAP_SETPCAP) |
	       (yama ? LC_CHK_BIT(CAP_SYS_PTRACE) : 0);
	ok = need | LC_CHK_BIT(CAP_NET_ADMIN);
	snprintf(least, sizeof(least), "%s%s%s", LC_CHK_LEAST_CAPS, yama ? ",cap_sys_ptrace" : "",
		 perm & LC_CHK_BIT(CAP_NET_ADMIN) ? ",cap_net_admin" : "");
	missing = need & ~(perm & eff);
	if (missing) {
		cap_names(missing, names, sizeof(names));
		lc_chk_finding(r, LC_CHK_FAIL,
			       "'%s' has file capabilities '%s'; non-root dumps and restores "
			       "need %s=ep (missing or not effective: %s)",
			       c->criu, have, least, names);
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

/* ---- mounts ------------------------------------------------------------- */

/* Undoes the octal escapes (\040 and the like) of /proc/self/mountinfo. */
static void unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* The mount that holds path (absolute, symlinks resolved): the longest, latest match. */
int lc_chk_find_mount(const char *path, struct lc_chk_mount *ret)
{
	_cleanup_free_ char *txt = NULL;
	size_t best = 0;
	bool found = false;
	char *save = NULL;
	int r;

	r = lc_read_file_at(AT_FDCWD, "/proc/self/mountinfo", 8 << 20, (uid_t)-1, &txt, NULL);
	if (r < 0)
		return r;
	for (char *line = strtok_r(txt, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[6], *fs = strstr(line, " - "), *s2 = NULL;
		size_t n;
		int k;

		/* "id parent maj:min root point opts [optional...] - fstype source superopts" */
		if (!fs)
			continue;
		*fs = '\0';
		fs += 3;
		fs[strcspn(fs, " ")] = '\0';
		for (k = 0; k < 6 && (f[k] = strtok_r(k ? NULL : line, " ", &s2)); k++)
			;
		if (k < 6)
			continue;
		unescape(f[4]);
		n = strlen(f[4]);
		if (strcmp(f[4], "/") &&
		    (strncmp(path, f[4], n) || (path[n] != '/' && path[n] != '\0')))
			continue;
		if (n < best)
			continue;
		best = n;
		found = true;
		snprintf(ret->point, sizeof(ret->point), "%s", f[4]);
		snprintf(ret->opts, sizeof(ret->opts), "%s", f[5]);
		snprintf(ret->fstype, sizeof(ret->fstype), "%s", fs);
	}
	return found ? 0 : -ENOENT;
}

static bool has_opt(const char *opts, const char *opt)
{
	size_t n = strlen(opt);

	for (const char *p = opts; *p; p += strcspn(p, ","), p += *p == ',')
		if (strcspn(p, ",") == n && !strncmp(p, opt, n))
			return true;
	return false;
}

static void probe_criu_mount(const struct lc_chk_ctx *c, struct lc_chk_result *r)
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
	if (has_opt(m.opts, "nosuid")) {
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
	if (has_opt(m.opts, "noexec")) {
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

/* ---- the table ---------------------------------------------------------- */

static const struct probe probes[] = {
	{ "criu-path", true, 0, probe_criu_path, "criu exists and is an executable file" },
	{ "criu-version", true, 0, probe_criu_version, "criu is version 4.2 or newer" },
	{ "criu-check", true, 0, probe_criu_check,
	  "'criu check' passes as the caller (--unprivileged unless root)" },
	{ "criu-caps", true, 0, probe_criu_caps,
	  "criu has the file capabilities " LC_CHK_LEAST_CAPS ", and no more" },
	{ "criu-mount", true, 0, probe_criu_mount,
	  "criu's filesystem is mounted without nosuid and noexec" },
	{ "userns", false, 0, lc_probe_userns, "unprivileged user namespaces are enabled" },
	{ "ptrace-scope", false, 0, lc_probe_ptrace,
	  "Yama's ptrace_scope lets criu attach to the job (else cap_sys_ptrace)" },
	{ "cgroup", false, 0, lc_probe_cgroup, "cgroup version (v2, v1 or hybrid), informative" },
	{ "pid-max", false, 0, lc_probe_pid_max, "kernel.pid_max, informative" },
	{ "ckpt-dir", true, NEEDS_DIR, lc_probe_ckpt_dir,
	  "--dir exists, is owned by the caller and not writable by group or others" },
	{ "ckpt-space", false, NEEDS_DIR, lc_probe_ckpt_space,
	  "--dir has 1 GiB free; its filesystem type" },
	{ "lsb-queues", false, NEEDS_ENVDIR, lc_probe_lsb_queues,
	  "lsb.queues has lsf-criu's TERMINATE action and POST_EXEC" },
};

#define N_PROBES (sizeof(probes) / sizeof(probes[0]))

static void ctx_init(struct lc_chk_ctx *c, const char *criu_opt)
{
	static char from[PATH_MAX + 32];
	const char *env = getenv("LSF_CRIU_CRIU");
	struct lc_cfg cfg;
	struct stat st;
	long v;

	lc_cfg_load(&cfg);
	c->uid = geteuid();
	if (criu_opt) {
		snprintf(c->criu, sizeof(c->criu), "%s", criu_opt);
		c->criu_from = "from --criu";
	} else {
		snprintf(c->criu, sizeof(c->criu), "%s", cfg.criu);
		if (env && *env && !strcmp(env, cfg.criu))
			c->criu_from = "from $LSF_CRIU_CRIU";
		else if (strcmp(cfg.criu, LC_CRIU_DEFAULT) && cfg.path[0]) {
			snprintf(from, sizeof(from), "from '%s'", cfg.path);
			c->criu_from = from;
		} else {
			c->criu_from = "the built-in default";
		}
	}
	c->criu_file = false;
	if (stat(c->criu, &st) < 0)
		snprintf(c->criu_why, sizeof(c->criu_why), "criu '%s' (%s) not found: %s", c->criu,
			 c->criu_from, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		snprintf(c->criu_why, sizeof(c->criu_why), "criu '%s' (%s) is not a regular file",
			 c->criu, c->criu_from);
	else if (faccessat(AT_FDCWD, c->criu, X_OK, AT_EACCESS) < 0)
		snprintf(c->criu_why, sizeof(c->criu_why),
			 "criu '%s' (%s) is not executable for "
			 "uid %u",
			 c->criu, c->criu_from, (unsigned)c->uid);
	else
		c->criu_file = true;
	c->ptrace_scope =
		lc_chk_read_long("/proc/sys/kernel/yama/ptrace_scope", &v) == 0 ? (int)v : -1;
}

static void print_table(const struct probe *const *list, const struct lc_chk_result *res, size_t n)
{
	int count[3] = { 0 };

	printf("%-13s %-5s %s\n", "PROBE", "RESULT", "FINDING");
	for (size_t i = 0; i < n; i++) {
		const char *f = res[i].fix;

		count[res[i].verdict]++;
		printf("%-13s %-6s %s\n", list[i]->name, verdict_names[res[i].verdict],
		       res[i].finding);
		if (res[i].verdict == LC_CHK_OK || !*f)
			continue;
		for (bool first = true; *f; first = false) {
			int len = (int)strcspn(f, "\n");

			printf("%-20s %s%.*s\n", "", first ? "fix: " : "     ", len, f);
			f += len + (f[len] == '\n');
		}
	}
	if (count[LC_CHK_FAIL])
		printf("result: FAIL: %d failed, %d warning%s (exit status 1)\n",
		       count[LC_CHK_FAIL], count[LC_CHK_WARN], count[LC_CHK_WARN] == 1 ? "" : "s");
	else if (count[LC_CHK_WARN])
		printf("result: WARN: %d warning%s, nothing failed (exit status 0: warnings do not "
		       "fail the check)\n",
		       count[LC_CHK_WARN], count[LC_CHK_WARN] == 1 ? "" : "s");
	else
		printf("result: OK: all %zu probes passed\n", n);
}

static int print_json(const struct lc_chk_ctx *c, const struct probe *const *list,
		      const struct lc_chk_result *res, size_t n, enum lc_chk_verdict worst)
{
	json_t *o = json_object(), *a = json_array();
	int r = 0;

	if (!o || !a) {
		json_decref(o);
		json_decref(a);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *p =
			json_pack("{s:s,s:s,s:b,s:s?,s:s?}", "name", list[i]->name, "status",
				  verdict_names[res[i].verdict], "required", list[i]->required,
				  "finding", res[i].finding, "fix",
				  res[i].verdict != LC_CHK_OK && res[i].fix[0] ? res[i].fix : NULL);

		/* A finding may quote bytes that are not UTF-8: never drop the probe for it. */
		if (!p)
			p = json_pack("{s:s,s:s,s:b,s:s,s:n}", "name", list[i]->name, "status",
				      verdict_names[res[i].verdict], "required", list[i]->required,
				      "finding", "(not valid UTF-8)", "fix");
		if (json_array_append_new(a, p) < 0)
			r = -ENOMEM;
	}
	json_object_set_new(o, "probes", a);
	json_object_set_new(o, "worst", json_string(verdict_names[worst]));
	json_object_set_new(o, "uid", json_integer(c->uid));
	json_object_set_new(o, "criu", json_string(c->criu));
	if (r == 0 && (json_dumpf(o, stdout, JSON_INDENT(2)) < 0 || putchar('\n') == EOF))
		r = -EIO;
	json_decref(o);
	return r;
}

static void check_usage(FILE *out)
{
	fprintf(out,
		"Usage: lsf-criu check [--json] [--criu PATH] [--dir DIR] [--lsf-envdir DIR]\n"
		"                      [--probe NAME]...\n"
		"\n"
		"Check that this host can checkpoint and restart LSF jobs with criu. Run it as\n"
		"root and as a job owner. Each probe prints OK, WARN or FAIL, a finding and,\n"
		"when not OK, the command that fixes it. Exit status 1 if a required probe\n"
		"failed, else 0 (also with warnings).\n"
		"\n"
		"  -j, --json            print one JSON object for scripts\n"
		"  -c, --criu PATH       check this criu instead of the configured one\n"
		"  -d, --dir DIR         also check DIR as a checkpoint directory\n"
		"  -e, --lsf-envdir DIR  also check lsb.queues of the LSF configuration in DIR\n"
		"  -p, --probe NAME      run only this probe (may be repeated)\n"
		"  -h, --help            show this help\n"
		"  -V, --version         show the version\n"
		"\n"
		"Probes (* required: only these can fail the check):\n");
	for (size_t i = 0; i < N_PROBES; i++)
		fprintf(out, "  %-13s %s %s%s\n", probes[i].name, probes[i].required ? "*" : " ",
			probes[i].help,
			probes[i].needs & NEEDS_DIR	 ? " (with --dir)"
			: probes[i].needs & NEEDS_ENVDIR ? " (with --lsf-envdir)"
							 : "");
}

int lc_admin_check(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "criu", required_argument, NULL, 'c' },
		{ "dir", required_argument, NULL, 'd' },
		{ "lsf-envdir", required_argument, NULL, 'e' },
		{ "probe", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const struct probe *list[N_PROBES];
	struct lc_chk_result res[N_PROBES];
	bool selected[N_PROBES] = { false }, any = false, json = false;
	const char *criu = NULL;
	enum lc_chk_verdict worst = LC_CHK_OK;
	struct lc_chk_ctx c = { 0 };
	size_t n = 0;
	int opt;

	opterr = 0;
	optind = 0;
	while ((opt = getopt_long(argc, argv, "+:jc:d:e:p:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'j': json = true; break;
		case 'c': criu = optarg; break;
		case 'd': c.dir = optarg; break;
		case 'e': c.envdir = optarg; break;
		case 'p': {
			size_t i;

			for (i = 0; i < N_PROBES && strcmp(probes[i].name, optarg); i++)
				;
			if (i == N_PROBES)
				return lc_admin_usage_error("check: no probe '%s' (lsf-criu check "
							    "--help lists them)",
							    optarg);
			selected[i] = any = true;
			break;
		}
		case 'h': check_usage(stdout); return LC_EXIT_OK;
		case 'V': lc_admin_version("check"); return LC_EXIT_OK;
		case ':':
			return lc_admin_usage_error("check: option '%s' needs an argument",
						    argv[optind - 1]);
		default:
			return lc_admin_usage_error("check: unknown option '%s'", argv[optind - 1]);
		}
	}
	/* Validation, separate from parsing. */
	if (optind < argc)
		return lc_admin_usage_error("check: unexpected argument '%s'", argv[optind]);
	if (criu && criu[0] != '/')
		return lc_admin_usage_error("check: --criu needs an absolute path, not '%s'", criu);
	if ((c.dir && !*c.dir) || (c.envdir && !*c.envdir))
		return lc_admin_usage_error("check: --dir and --lsf-envdir need a directory");
	for (size_t i = 0; i < N_PROBES; i++) {
		bool usable = !((probes[i].needs & NEEDS_DIR) && !c.dir) &&
			      !((probes[i].needs & NEEDS_ENVDIR) && !c.envdir);

		if (any && selected[i] && !usable)
			return lc_admin_usage_error(
				"check: probe '%s' needs %s", probes[i].name,
				probes[i].needs & NEEDS_DIR ? "--dir DIR" : "--lsf-envdir DIR");
		if (any ? selected[i] : usable)
			list[n++] = &probes[i];
	}
	ctx_init(&c, criu);
	for (size_t i = 0; i < n; i++) {
		memset(&res[i], 0, sizeof(res[i]));
		list[i]->run(&c, &res[i]);
		/* Optional probes only warn. */
		if (!list[i]->required && res[i].verdict == LC_CHK_FAIL)
			res[i].verdict = LC_CHK_WARN;
		if (res[i].verdict > worst)
			worst = res[i].verdict;
	}
	if (json) {
		if (print_json(&c, list, res, n, worst) < 0) {
			log_error("cannot print the JSON result");
			return LC_EXIT_FAILURE;
		}
	} else {
		print_table(list, res, n);
	}
	return worst == LC_CHK_FAIL ? LC_EXIT_FAILURE : LC_EXIT_OK;
}
