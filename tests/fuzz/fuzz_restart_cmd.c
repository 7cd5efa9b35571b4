/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target: lc_shell_quote(), which puts the restorer path, the checkpoint
 * directory and the image set name into .restart_cmd (erestart.criu), a line
 * that LSF runs through /bin/sh, and quotes the criu command line in the logs.
 * The directory comes from the user's bsub -k, so it may hold any byte.
 *
 * The quoted text must be one word to sh that stands for the input exactly.
 * Rather than start a shell per run, a small reference parser undoes the
 * quoting with the POSIX rules: inside '...' every byte is literal up to the
 * next quote; outside, only \' (a literal quote) and a new '...' may appear,
 * since anything else would be subject to expansion or word splitting.
 */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "util.h"

/* The word sh reads from q, or NULL if q holds anything sh would expand or split. */
static char *sh_unquote(const char *q)
{
	char *out = fuzz_alloc(strlen(q) + 1), *o = out;
	bool quoted = false;

	for (const char *p = q; *p; p++) {
		if (quoted) {
			if (*p == '\'')
				quoted = false;
			else
				*o++ = *p;
		} else if (*p == '\'') {
			quoted = true;
		} else if (p[0] == '\\' && p[1] == '\'') {
			*o++ = '\'';
			p++;
		} else {
			free(out);
			return NULL;
		}
	}
	if (quoted) {
		free(out);
		return NULL;
	}
	*o = '\0';
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size);
	char *q, *back;
	size_t n, quotes = 0;

	q = lc_shell_quote(text);
	FUZZ_CHECK(q != NULL);
	n = strlen(q);
	for (const char *p = text; *p; p++)
		quotes += *p == '\'';
	/* 'text' with each ' turned into '\'' */
	FUZZ_CHECK(n == strlen(text) + 2 + 3 * quotes);
	FUZZ_CHECK(n >= 2 && q[0] == '\'' && q[n - 1] == '\'');
	back = sh_unquote(q);
	FUZZ_CHECK(back != NULL);
	FUZZ_CHECK(!strcmp(back, text));
	free(back);
	free(q);
	free(text);
	return 0;
}
