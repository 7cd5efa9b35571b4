/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Shared by the fuzz targets (tests/fuzz/fuzz_<name>.c): the entry points that
 * libFuzzer and replay.c call, a NUL-terminated copy of the input, and quiet
 * logging.
 *
 * A target checks the properties its parser promises and calls abort() when one
 * does not hold, so that a wrong answer counts as a crash like a sanitizer
 * report does.
 */
#ifndef LC_FUZZ_H
#define LC_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Aborts with the failed property on stderr; used like assert(), but never compiled out. */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fuzz_fail(__FILE__, __LINE__, #cond);                                      \
	} while (0)

static inline void fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "fuzz: property failed at %s:%d: %s\n", file, line, what);
	abort();
}

/*
 * The input as a heap C string of exactly size + 1 bytes, so that ASan sees a
 * read past its end; like every C string handed to the parsers, it ends at the
 * first NUL. Never NULL.
 */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	if (size)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* Like fuzz_cstr(), for a structure the parser fills: exactly its size, garbage first. */
static inline void *fuzz_alloc(size_t size)
{
	unsigned char *p = malloc(size);

	if (!p)
		abort();
	memset(p, 0xa5, size);
	return p;
}

/*
 * Warnings about bad input are the expected outcome here. Keep them off stderr,
 * which must stay open for the sanitizer reports, and off syslog, which would
 * receive one line per run.
 */
static inline void fuzz_quiet(void)
{
	lc_log_stderr_level(LC_LOG_ERROR);
	setlogmask(LOG_UPTO(LOG_EMERG));
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

#ifndef FUZZ_REPLAY
/*
 * Every target starts the same way. Defined here, once per target: a target
 * is the only file of its binary that includes this header (replay.c, linked
 * with each target, defines FUZZ_REPLAY).
 */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}
#endif

#endif
