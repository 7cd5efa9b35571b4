/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Hostile-environment parsing; see lsfenv.h. */
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

int lc_parse_pids(const char *s, pid_t *out, int max)
{
	char buf[4096], *tok, *save = NULL;
	int n = 0;
	long v;

	if (!s || strlen(s) >= sizeof(buf))
		return 0;
	memcpy(buf, s, strlen(s) + 1);
	for (tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		if (n == max || lc_parse_long(tok, 2, 1 << 22, &v) < 0)
			return 0;
		out[n++] = (pid_t)v;
	}
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
