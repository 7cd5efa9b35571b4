/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A tiny header-only TAP (Test Anything Protocol) harness for the unit tests.
 *
 * Each case is "static int name(void)" and returns TAP_PASS (0), TAP_FAIL (1)
 * or TAP_SKIP (77). A test program lists its cases in a table:
 *
 *	TAP_MAIN(
 *		TAP_CASE(parse_ok),
 *		TAP_CASE(parse_garbage),
 *		TAP_BUG(known_bug, "lc_foo() still accepts X"),
 *	)
 *
 * and prints "1..N", then "ok N - name", "not ok N - name" or
 * "ok N - name # SKIP" per case; it exits with 1 if any case failed.
 * A TAP_BUG case asserts the documented behaviour that the library does not
 * have yet (a known bug). While it fails it is reported as skipped,
 * "ok N - name # SKIP known bug: why", after a diagnostic naming the failed
 * check, so the bug stays visible without failing the run (tests/run-all.py
 * counts every "not ok" line, TAP "# TODO" ones included). Once the bug is
 * fixed the case passes: "ok N - name # fixed known bug", the hint to turn
 * it into a TAP_CASE.
 *
 * Every case runs in its own child process (so a crash, an ASan report or
 * a leak fails that case only, and setenv() or umask() cannot leak into the
 * next case), with an alarm against hangs, and inside a fresh private
 * directory made by mkdtemp(): tap_dir is its path and tap_dirfd an open fd
 * on it. The directory is removed after the case, whatever it left behind.
 * A case that passes is checked for leaks (LeakSanitizer runs at exit() of
 * its process); one that fails or skips is not, since CHECK() returns early.
 */
#ifndef LC_TAP_H
#define LC_TAP_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TAP_PASS 0
#define TAP_FAIL 1
#define TAP_SKIP 77

/* Seconds a single case may run before it is killed and counted as failed. */
#ifndef TAP_TIMEOUT
#define TAP_TIMEOUT 60
#endif

struct tap_case {
	const char *name;
	int (*fn)(void);
	const char *bug; /* non-NULL: a known library bug, with the reason */
};

#define TAP_CASE(f)                                                                                \
	{                                                                                          \
#f, f, NULL                                                                        \
	}
#define TAP_BUG(f, why)                                                                            \
	{                                                                                          \
#f, f, why                                                                         \
	}

/* The private directory of the running case. */
static char tap_dir[PATH_MAX];
static int tap_dirfd = -1;

/* Prints a TAP diagnostic line ("# ..."). */
#define tap_diag(...)                                                                              \
	do {                                                                                       \
		fputs("# ", stdout);                                                               \
		printf(__VA_ARGS__);                                                               \
		fputc('\n', stdout);                                                               \
		fflush(stdout);                                                                    \
	} while (0)

/* Fails the case, naming the file, line and expression, unless cond holds. */
#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			tap_diag("%s:%d: CHECK(%s) failed", __FILE__, __LINE__, #cond);            \
			return TAP_FAIL;                                                           \
		}                                                                                  \
	} while (0)

/* Like CHECK(a op b) for integers, and prints both values on failure. */
#define CHECK_INT(a, op, b)                                                                        \
	do {                                                                                       \
		long long tap_a_ = (long long)(a);                                                 \
		long long tap_b_ = (long long)(b);                                                 \
		if (!(tap_a_ op tap_b_)) {                                                         \
			tap_diag("%s:%d: CHECK_INT(%s %s %s) failed: "                             \
				 "%lld vs %lld",                                                   \
				 __FILE__, __LINE__, #a, #op, #b, tap_a_, tap_b_);                 \
			return TAP_FAIL;                                                           \
		}                                                                                  \
	} while (0)

/* Fails the case unless the two C strings are equal; prints both. */
#define CHECK_STR(a, b)                                                                            \
	do {                                                                                       \
		const char *tap_a_ = (a);                                                          \
		const char *tap_b_ = (b);                                                          \
		if (!tap_a_ || !tap_b_ || strcmp(tap_a_, tap_b_)) {                                \
			tap_diag("%s:%d: CHECK_STR(%s, %s) failed: "                               \
				 "\"%s\" vs \"%s\"",                                               \
				 __FILE__, __LINE__, #a, #b, tap_a_ ? tap_a_ : "(null)",           \
				 tap_b_ ? tap_b_ : "(null)");                                      \
			return TAP_FAIL;                                                           \
		}                                                                                  \
	} while (0)

/* Skips the case with a reason. */
#define TAP_SKIP_IF(cond, ...)                                                                     \
	do {                                                                                       \
		if (cond) {                                                                        \
			tap_diag("skip: " __VA_ARGS__);                                            \
			return TAP_SKIP;                                                           \
		}                                                                                  \
	} while (0)

/* Writes len bytes of buf to a new file name in the case's directory. */
static __attribute__((unused)) int tap_write_file(const char *name, const void *buf, size_t len,
						  mode_t mode)
{
	const char *p = buf;
	int fd;

	fd = openat(tap_dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -errno;
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	if (close(fd) < 0)
		return -errno;
	return 0;
}

/* Writes a C string to a new file in the case's directory. */
static __attribute__((unused)) int tap_write_str(const char *name, const char *s)
{
	return tap_write_file(name, s, strlen(s), 0600);
}

static int tap_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP || flag == FTW_D || flag == FTW_DNR)
		return rmdir(path) < 0 && errno != ENOENT;
	return unlink(path) < 0 && errno != ENOENT;
}

static int tap_chmod_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)ftw;
	if (flag == FTW_D || flag == FTW_DNR)
		(void)chmod(path, (st->st_mode & 07777) | S_IRWXU);
	return 0;
}

/* Removes the case's directory, even if the case made parts unreadable. */
static void tap_rmtree(const char *path)
{
	/* Pre-order pass: make every directory searchable and writable. */
	(void)chmod(path, S_IRWXU);
	(void)nftw(path, tap_chmod_one, 16, FTW_PHYS);
	if (nftw(path, tap_rm_one, 16, FTW_PHYS | FTW_DEPTH) != 0)
		printf("# warning: could not remove '%s' completely\n", path);
}

static int tap_run_child(const struct tap_case *c)
{
	int r;

	alarm(TAP_TIMEOUT);
	tap_dirfd = open(tap_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tap_dirfd < 0) {
		tap_diag("cannot open '%s': %s", tap_dir, strerror(errno));
		return TAP_FAIL;
	}
	r = c->fn();
	close(tap_dirfd);
	fflush(stdout);
	return r;
}

static __attribute__((unused)) int tap_run(const struct tap_case *cases, size_t n)
{
	const char *tmp = getenv("TMPDIR");
	int failed = 0;

	if (!tmp || !*tmp)
		tmp = "/tmp";
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("1..%zu\n", n);
	for (size_t i = 0; i < n; i++) {
		const struct tap_case *c = &cases[i];
		int st, r = TAP_FAIL;
		pid_t pid;

		snprintf(tap_dir, sizeof(tap_dir), "%s/lc-unit.XXXXXX", tmp);
		if (!mkdtemp(tap_dir)) {
			tap_diag("mkdtemp in '%s': %s", tmp, strerror(errno));
			printf("not ok %zu - %s\n", i + 1, c->name);
			failed++;
			continue;
		}
		fflush(stdout);
		fflush(stderr);
		pid = fork();
		if (pid < 0) {
			tap_diag("fork: %s", strerror(errno));
		} else if (pid == 0) {
			r = tap_run_child(c);
			/*
			 * A passing case exits normally, so LeakSanitizer checks
			 * it; a failing or skipped one may have returned early
			 * and leaked on purpose: no leak report for it.
			 */
			if (r != TAP_PASS)
				_exit(r);
			exit(r);
		} else {
			while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
				;
			if (WIFEXITED(st)) {
				r = WEXITSTATUS(st);
				if (r != TAP_PASS && r != TAP_SKIP && r != TAP_FAIL)
					tap_diag("case exited with status %d", r);
			} else if (WIFSIGNALED(st)) {
				tap_diag("case killed by signal %d (%s)", WTERMSIG(st),
					 strsignal(WTERMSIG(st)));
				r = TAP_FAIL;
			}
		}
		tap_rmtree(tap_dir);
		if (r == TAP_SKIP) {
			printf("ok %zu - %s # SKIP\n", i + 1, c->name);
		} else if (c->bug && r == TAP_PASS) {
			printf("ok %zu - %s # fixed known bug (%s): make it a TAP_CASE\n", i + 1,
			       c->name, c->bug);
		} else if (c->bug) {
			printf("ok %zu - %s # SKIP known bug: %s\n", i + 1, c->name, c->bug);
		} else if (r == TAP_PASS) {
			printf("ok %zu - %s\n", i + 1, c->name);
		} else {
			printf("not ok %zu - %s\n", i + 1, c->name);
			failed++;
		}
	}
	if (failed)
		tap_diag("%d of %zu case(s) failed", failed, n);
	return failed ? 1 : 0;
}

/* Defines main() running the listed TAP_CASE()/TAP_BUG() entries in order. */
#define TAP_MAIN(...)                                                                              \
	int main(void)                                                                             \
	{                                                                                          \
		static const struct tap_case tap_cases_[] = { __VA_ARGS__ };                       \
		return tap_run(tap_cases_, sizeof(tap_cases_) / sizeof(tap_cases_[0]));            \
	}

#endif
