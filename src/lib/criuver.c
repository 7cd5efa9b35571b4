/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Which criu lsf-criu accepts, and its version learnt once per binary; see
 * criu.h for the rules and the record.
 *
 * Contract:
 * 1. A criu MUST be judged by what this kernel needs (lc_criu_needs), never
 *    by one fixed version, and a refusal MUST name the rule.
 * 2. The version record MUST only be trusted when it and its directory belong
 *    to root and are not writable by anyone else, and only for a binary whose
 *    device, inode, size, mtime and ctime all match; it is written only when
 *    asked (LC_CRIU_RECORD) by root.
 * 3. Any doubt (no record, a mismatch, an unreadable record) means asking
 *    criu itself, as before: the record only saves time.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "criu.h"
#include "json.h"
#include "spawn.h"
#include "util.h"

#ifndef LC_CACHEDIR
#define LC_CACHEDIR "/var/cache/lsf-criu"
#endif
#define RECORD_FILE   "criu-versions.json"
#define RECORD_MAX    16
#define RECORD_MAXLEN (64 << 10)

/* ---- the rules ------------------------------------------------------------ */

static const struct lc_criu_rule rule_unprivileged = {
	3, 18, "lsf-criu runs criu as the job owner with --unprivileged, new in criu 3.18"
};
static const struct lc_criu_rule rule_passcred = {
	4, 2,
	"this kernel refuses SO_PASSCRED on inet sockets (Linux 6.16 and later), and "
	"criu before 4.2 cannot dump a job holding an inet socket there"
};

/*
 * Linux 6.16 restricted SO_PASSCRED and SO_PASSSEC to unix, netlink and
 * bluetooth sockets; criu < 4.2 reads them from every socket it dumps. Asked
 * of the kernel itself, so a distribution kernel that backported the change
 * is judged right whatever its version number says.
 */
static bool kernel_refuses_inet_passcred(void)
{
#ifdef LC_COMPAT_FORCE_FALLBACK
	return false; /* a test build: Linux 4.18 */
#else
	static const int families[] = { AF_INET, AF_INET6 };

	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		int fd = socket(families[i], SOCK_DGRAM | SOCK_CLOEXEC, 0), v = 0, r;
		socklen_t len = sizeof(v);

		if (fd < 0)
			continue;
		r = getsockopt(fd, SOL_SOCKET, SO_PASSCRED, &v, &len);
		close(fd);
		return r < 0 && errno == EOPNOTSUPP;
	}
	return true; /* no inet socket to ask: assume the stricter kernel */
#endif
}

void lc_criu_needs(struct lc_criu_rule *ret)
{
	*ret = kernel_refuses_inet_passcred() ? rule_passcred : rule_unprivileged;
}

int lc_criu_parse_version(const char *s, int *ret_major, int *ret_minor)
{
	int major, minor, n = 0;

	if (!s || sscanf(s, "%d.%d%n", &major, &minor, &n) != 2 || major < 0 || minor < 0 ||
	    (s[n] != '\0' && s[n] != '.' && s[n] != '-' && s[n] != '\n'))
		return -EINVAL;
	*ret_major = major;
	*ret_minor = minor;
	return 0;
}

/* ---- asking criu ------------------------------------------------------------ */

static int ask_criu(const char *criu, char *version, size_t size, struct lc_err *err)
{
	char *argv[] = { (char *)criu, "--version", NULL };
	char buf[512] = "", *v;
	int pfd[2], st, major, minor;
	size_t len = 0;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return lc_err_set(err, errno, "pipe");
	pid = lc_spawn_env(argv, lc_criu_envp(), -1, pfd[1], NULL, 0, 0);
	close(pfd[1]);
	if (pid < 0) {
		int e = errno;

		close(pfd[0]);
		return lc_err_set(err, e, "cannot run '%s'", criu);
	}
	for (;;) {
		ssize_t n = read(pfd[0], buf + len, sizeof(buf) - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == sizeof(buf) - 1)
			break;
	}
	buf[len] = '\0';
	close(pfd[0]);
	st = lc_wait_status(pid);
	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return lc_err_msg(err, ENOEXEC, "'%s --version' failed", criu);
	v = strstr(buf, "Version: ");
	if (!v)
		return lc_err_msg(err, ENOEXEC, "'%s --version' reports no version", criu);
	v += 9;
	v[strcspn(v, "\n")] = '\0';
	if (lc_criu_parse_version(v, &major, &minor) < 0 || strlen(v) >= size)
		return lc_err_msg(err, ENOEXEC, "'%s --version' reports no version", criu);
	snprintf(version, size, "%s", v);
	return 0;
}

/* ---- the record ------------------------------------------------------------- */

static long long ns(struct timespec t)
{
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* The record's directory, if root's and writable by root only. */
static int record_dir(bool create)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	fd = open(LC_CACHEDIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		if (mkdir(LC_CACHEDIR, 0755) < 0 && errno != EEXIST)
			return -errno;
		fd = open(LC_CACHEDIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)))
		return -EPERM;
	return TAKE_FD(fd);
}

/* The record as JSON, if root's and writable by root only; NULL otherwise. */
static json_t *record_load(int dirfd)
{
	_cleanup_free_ char *txt = NULL;
	_cleanup_close_ int fd = -1;
	struct lc_err err = { 0 };
	struct stat st;
	json_t *o;

	fd = openat(dirfd, RECORD_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != 0 ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)))
		return NULL;
	if (lc_read_file_at(dirfd, RECORD_FILE, RECORD_MAXLEN, 0, &txt, NULL) < 0)
		return NULL;
	o = lc_json_parse(txt, &err);
	if (o &&
	    (lc_json_check_version(o, 1, &err) < 0 || !json_is_array(json_object_get(o, "criu")))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static bool entry_matches(json_t *e, const char *path, const struct stat *st)
{
	struct lc_err err = { 0 };
	char p[4096];
	long long dev, ino, size, mt, ct;

	return lc_json_str(e, "path", p, sizeof(p), &err) == 0 && !strcmp(p, path) &&
	       lc_json_int(e, "dev", 0, INT64_MAX, &dev, &err) == 0 &&
	       lc_json_int(e, "ino", 0, INT64_MAX, &ino, &err) == 0 &&
	       lc_json_int(e, "size", 0, INT64_MAX, &size, &err) == 0 &&
	       lc_json_int(e, "mtime_ns", INT64_MIN, INT64_MAX, &mt, &err) == 0 &&
	       lc_json_int(e, "ctime_ns", INT64_MIN, INT64_MAX, &ct, &err) == 0 &&
	       (unsigned long long)dev == (unsigned long long)st->st_dev &&
	       (unsigned long long)ino == (unsigned long long)st->st_ino &&
	       size == (long long)st->st_size && mt == ns(st->st_mtim) && ct == ns(st->st_ctim);
}

static bool record_lookup(const char *path, const struct stat *st, char *version, size_t size)
{
	_cleanup_close_ int dirfd = record_dir(false);
	struct lc_err err = { 0 };
	json_t *o, *e;
	size_t i;
	bool found = false;
	int major, minor;

	if (dirfd < 0 || !(o = record_load(dirfd)))
		return false;
	json_array_foreach (json_object_get(o, "criu"), i, e) {
		if (!entry_matches(e, path, st))
			continue;
		found = lc_json_str(e, "criu_version", version, size, &err) == 0 &&
			lc_criu_parse_version(version, &major, &minor) == 0;
		break;
	}
	json_decref(o);
	return found;
}

static int record_store(const char *path, const struct stat *st, const char *version)
{
	_cleanup_close_ int dirfd = record_dir(true);
	json_t *o = NULL, *list, *old, *e;
	size_t i;
	int r;

	if (dirfd < 0)
		return dirfd;
	list = json_array();
	e = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:s}", "path", path, "dev", (json_int_t)st->st_dev,
		      "ino", (json_int_t)st->st_ino, "size", (json_int_t)st->st_size, "mtime_ns",
		      (json_int_t)ns(st->st_mtim), "ctime_ns", (json_int_t)ns(st->st_ctim),
		      "criu_version", version);
	if (!list || !e || json_array_append_new(list, e) < 0) {
		json_decref(list);
		return -ENOMEM;
	}
	/* The newest first; the other binaries' entries stay, up to RECORD_MAX. */
	old = record_load(dirfd);
	if (old) {
		json_array_foreach (json_object_get(old, "criu"), i, e) {
			json_t *p = json_object_get(e, "path");

			if (json_array_size(list) >= RECORD_MAX)
				break;
			if (json_is_string(p) && strcmp(json_string_value(p), path))
				json_array_append(list, e);
		}
		json_decref(old);
	}
	o = json_pack("{s:i,s:o}", "version", 1, "criu", list);
	r = lc_json_save(dirfd, RECORD_FILE, o);
	if (r == 0)
		(void)!fchmodat(dirfd, RECORD_FILE, 0644, 0);
	return r;
}

/* ---- qualification ------------------------------------------------------------ */

int lc_criu_qualify(const char *criu, int flags, struct lc_criu_info *ret, struct lc_err *err)
{
	struct stat st;
	int major, minor, r;

	memset(ret, 0, sizeof(*ret));
	lc_criu_needs(&ret->rule);
	if (stat(criu, &st) < 0)
		return lc_err_set(err, errno, "criu '%s' not found", criu);
	if (!S_ISREG(st.st_mode) || access(criu, X_OK) < 0)
		return lc_err_msg(err, EACCES, "criu '%s' is not an executable file%s", criu,
				  S_ISREG(st.st_mode) ? " for this user" : "");
	if (record_lookup(criu, &st, ret->version, sizeof(ret->version))) {
		ret->cached = true;
	} else {
		r = ask_criu(criu, ret->version, sizeof(ret->version), err);
		if (r < 0)
			return r;
		/* The binary as it was when it answered; a change meanwhile misses next time. */
		if ((flags & LC_CRIU_RECORD) && geteuid() == 0)
			ret->recorded = record_store(criu, &st, ret->version) == 0;
	}
	if (lc_criu_parse_version(ret->version, &major, &minor) < 0)
		return lc_err_msg(err, ENOEXEC, "criu '%s' reports version '%s'", criu,
				  ret->version);
	if (major < ret->rule.major || (major == ret->rule.major && minor < ret->rule.minor))
		return lc_err_msg(err, ENOTSUP,
				  "criu '%s' is version %s; lsf-criu needs %d.%d or newer here: %s",
				  criu, ret->version, ret->rule.major, ret->rule.minor,
				  ret->rule.why);
	return 0;
}

int lc_criu_check(const char *criu, char *ret_version, size_t size, struct lc_err *err)
{
	struct lc_criu_info info;
	int r = lc_criu_qualify(criu, 0, &info, err);

	if (ret_version && size)
		snprintf(ret_version, size, "%s", info.version);
	return r;
}
