/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Hostile-environment parsing; see lsfenv.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "lsfenv.h"
#include "util.h"

bool lc_env_flag(const char *name)
{
	const char *v = getenv(name);

	if (!v || !*v)
		return false;
	if (!strcasecmp(v, "y") || !strcasecmp(v, "yes"))
		return true;
	if (!strcasecmp(v, "n") || !strcasecmp(v, "no"))
		return false;
	log_warn("%s='%.64s' is not Y or N; treated as N", name, v);
	return false;
}

long lc_env_long(const char *name, long min, long max, long def)
{
	const char *v = getenv(name);
	long x;

	if (!v || !*v)
		return def;
	if (lc_parse_long(v, min, max, &x) < 0) {
		log_warn("%s='%.64s' is not a whole number from %ld to %ld; using the default %ld",
			 name, v, min, max, def);
		return def;
	}
	return x;
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

int lc_parse_pids(const char *s, pid_t **ret, int *ret_bad)
{
	char *buf, *tok, *save = NULL;
	pid_t *out = NULL;
	size_t len;
	int n = 0, bad = 0;
	long v;

	*ret = NULL;
	*ret_bad = 0;
	if (!s)
		return 0;
	len = strlen(s);
	if (len > LC_MAX_PIDLIST)
		return -E2BIG;
	buf = strdup(s);
	/* At most one pid per two characters. */
	out = malloc(sizeof(pid_t) * (len / 2 + 1));
	if (!buf || !out) {
		free(buf);
		free(out);
		return -ENOMEM;
	}
	for (tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		if (lc_parse_long(tok, 2, 1 << 22, &v) < 0)
			bad++;
		else
			out[n++] = (pid_t)v;
	}
	free(buf);
	/* Sorted, each once. */
	qsort(out, (size_t)n, sizeof(pid_t), cmp_pid);
	{
		int k = 0;

		for (int i = 0; i < n; i++)
			if (k == 0 || out[k - 1] != out[i])
				out[k++] = out[i];
		n = k;
	}
	*ret_bad = bad;
	if (n == 0) {
		free(out);
		return 0;
	}
	*ret = out;
	return n;
}

bool lc_jobid_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0, d;

	if (n == 0 || n >= 32)
		return false;
	d = strspn(s, "0123456789");
	if (d == 0 || (s[0] == '0'))
		return false;
	if (d == n)
		return true;
	return s[d] == '[' && s[n - 1] == ']' && n - d > 2 &&
	       strspn(s + d + 1, "0123456789") == n - d - 2;
}
