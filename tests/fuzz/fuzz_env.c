/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target: the values of the job's environment, which the job's owner
 * controls: LSB_JOBPGIDS (lc_parse_pids()), job IDs (lc_jobid_ok()), numbers
 * (lc_parse_long()) and the ENABLE_ORUN_* / ORUN_* variables (lc_env_flag(),
 * lc_env_long()). The whole input is one value, given to each of them.
 *
 * The variables are set with putenv() on a buffer of ours and removed again
 * after the run: glibc's setenv() keeps every value it was ever given, which
 * over millions of runs looks like a leak to libFuzzer's RSS limit.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "lsfenv.h"
#include "util.h"

#define PID_MAX (1 << 22)

/* Accepted text must be the one decimal spelling of its value (or "-0"); ret untouched on error. */
static void check_parse_long(const char *s, long min, long max)
{
	char canon[32];
	long v = 0x5a5a5a5a;
	int r;

	r = lc_parse_long(s, min, max, &v);
	if (r < 0) {
		FUZZ_CHECK(r == -EINVAL || r == -ERANGE);
		FUZZ_CHECK(v == 0x5a5a5a5a);
		return;
	}
	FUZZ_CHECK(r == 0 && v >= min && v <= max);
	snprintf(canon, sizeof(canon), "%ld", v);
	FUZZ_CHECK(!strcmp(canon, s) || !strcmp(s, "-0"));
}

/* The pids in s: every token that is a pid, each once and sorted; the others counted. */
static void check_parse_pids(const char *s)
{
	char *copy = fuzz_cstr((const uint8_t *)s, strlen(s)), *tok, *save = NULL;
	pid_t *out = (pid_t *)0x1;
	int n, bad = -1, good = 0, bad_ref = 0;
	long v;

	n = lc_parse_pids(s, &out, &bad);
	if (n == -E2BIG) {
		FUZZ_CHECK(strlen(s) > LC_MAX_PIDLIST && out == NULL);
		free(copy);
		return;
	}
	FUZZ_CHECK(n >= 0);
	FUZZ_CHECK(n == 0 ? out == NULL : out != NULL);
	for (int i = 0; i < n; i++) {
		FUZZ_CHECK(out[i] >= 2 && out[i] <= PID_MAX);
		FUZZ_CHECK(i == 0 || out[i - 1] < out[i]);
	}
	for (tok = strtok_r(copy, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		bool found = false;

		if (lc_parse_long(tok, 2, PID_MAX, &v) < 0) {
			bad_ref++;
			continue;
		}
		good++;
		for (int i = 0; i < n && !found; i++)
			found = out[i] == (pid_t)v;
		FUZZ_CHECK(found);
	}
	FUZZ_CHECK(bad == bad_ref);
	FUZZ_CHECK(n <= good);
	free(copy);
	free(out);
}

/* "digits, optionally [index]", as LSF prints job IDs, read the long way round. */
static bool ref_jobid_ok(const char *s)
{
	size_t n = strlen(s), i = 0, start;

	if (n == 0 || n >= 32 || s[0] < '1' || s[0] > '9')
		return false;
	while (i < n && isdigit((unsigned char)s[i]))
		i++;
	if (i == n)
		return true;
	if (s[i++] != '[')
		return false;
	start = i;
	while (i < n && isdigit((unsigned char)s[i]))
		i++;
	return i > start && i == n - 1 && s[i] == ']';
}

/* Sets name=value for one call; the caller passes the result to env_drop(). */
static char *env_put(const char *name, const char *value)
{
	size_t n = strlen(name), m = strlen(value);
	char *kv = fuzz_alloc(n + m + 2);

	memcpy(kv, name, n);
	kv[n] = '=';
	memcpy(kv + n + 1, value, m + 1);
	if (putenv(kv))
		abort();
	return kv;
}

static void env_drop(const char *name, char *kv)
{
	unsetenv(name);
	free(kv);
}

static void check_env(const char *s)
{
	bool yes = !strcasecmp(s, "y") || !strcasecmp(s, "yes");
	char *kv;
	long v;

	kv = env_put("ENABLE_ORUN_CHKPNT", s);
	FUZZ_CHECK(lc_env_flag("ENABLE_ORUN_CHKPNT") == yes);
	env_drop("ENABLE_ORUN_CHKPNT", kv);

	kv = env_put("ORUN_RESTART_LIMIT", s);
	v = lc_env_long("ORUN_RESTART_LIMIT", 0, 60, 2);
	FUZZ_CHECK(v >= 0 && v <= 60);
	env_drop("ORUN_RESTART_LIMIT", kv);

	kv = env_put("ORUN_TIMEOUT_SECONDS", s);
	v = lc_env_long("ORUN_TIMEOUT_SECONDS", 1, 86400, 180);
	FUZZ_CHECK(v >= 1 && v <= 86400);
	if (v != 180)
		FUZZ_CHECK(lc_parse_long(s, 1, 86400, &v) == 0);
	env_drop("ORUN_TIMEOUT_SECONDS", kv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);

	check_parse_pids(s);
	FUZZ_CHECK(lc_jobid_ok(s) == ref_jobid_ok(s));
	check_parse_long(s, 0, 86400);
	check_parse_long(s, 2, PID_MAX);
	check_parse_long(s, -1, 1000000);
	check_parse_long(s, LONG_MIN, LONG_MAX);
	check_env(s);
	free(s);
	return 0;
}
