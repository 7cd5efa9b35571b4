/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the probes of lsf-criu check share: setting a finding and its fix,
 * reading one-number files, the file capabilities of a program (libcap) and
 * the mount that holds a path (libmount). Nothing here prints.
 */
#include <errno.h>
#include <fcntl.h>
#include <libmount.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>

#include "admin.h"
#include "cleanup.h"
#include "util.h"

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

void lc_chk_fix_setcap(struct lc_chk_result *r, const char *caps, const char *path)
{
	char set[256];
	const char *argv[] = { "setcap", set, path, NULL };

	snprintf(set, sizeof(set), "%s=ep", caps);
	lc_admin_cmdline(r->fix, sizeof(r->fix), argv);
}

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

/* ---- mounts ------------------------------------------------------------- */

static void free_table(struct libmnt_table **tb)
{
	mnt_unref_table(*tb);
}

int lc_chk_find_mount(const char *path, struct lc_chk_mount *ret)
{
	__attribute__((cleanup(free_table))) struct libmnt_table *tb = NULL;
	struct libmnt_fs *fs;
	const char *s;

	/*
	 * libmount parses the kernel's table (escapes, optional fields) and
	 * finds the mount point: the longest prefix of path, searched from the
	 * end of the table so that the latest of stacked mounts wins. It may
	 * stat() the parents of path, as the caller.
	 */
	tb = mnt_new_table_from_file("/proc/self/mountinfo");
	if (!tb)
		return errno ? -errno : -EIO;
	fs = mnt_table_find_mountpoint(tb, path, MNT_ITER_BACKWARD);
	if (!fs)
		return -ENOENT;
	snprintf(ret->point, sizeof(ret->point), "%s", (s = mnt_fs_get_target(fs)) ? s : "?");
	snprintf(ret->opts, sizeof(ret->opts), "%s", (s = mnt_fs_get_vfs_options(fs)) ? s : "");
	snprintf(ret->fstype, sizeof(ret->fstype), "%s", (s = mnt_fs_get_fstype(fs)) ? s : "?");
	return 0;
}

bool lc_chk_has_opt(const char *opts, const char *opt)
{
	size_t n = strlen(opt);

	for (const char *p = opts; *p; p += strcspn(p, ","), p += *p == ',')
		if (strcspn(p, ",") == n && !strncmp(p, opt, n))
			return true;
	return false;
}
