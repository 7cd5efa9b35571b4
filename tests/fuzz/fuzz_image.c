/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target: the records lsf-criu reads from an image set and the job
 * checkpoint directory about the host and the job's output: host-needs.json
 * (lc_needs_parse()), output.json (lc_output_parse()) and lsf-criu.stdio
 * (lc_given_parse()), all fed every input. They belong to the job's owner, so
 * any bytes may appear. An accepted record must hold values in their
 * documented ranges and NUL-terminated strings; a refused one must come with
 * an error object and leave nothing allocated.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "output.h"
#include "portable.h"

#define STR_OK(a) (strnlen((a), sizeof(a)) < sizeof(a))

static void check_err(int r, const struct lc_err *err)
{
	FUZZ_CHECK(r < 0 && err->code > 0);
	FUZZ_CHECK(STR_OK(err->msg) && err->msg[0]);
}

static void check_needs(const struct lc_needs *n)
{
	FUZZ_CHECK(STR_OK(n->jobid) && STR_OK(n->host) && STR_OK(n->kernel));
	FUZZ_CHECK(STR_OK(n->criu_version) && STR_OK(n->cpu.arch));
	FUZZ_CHECK(n->cpu.n_flags >= 0 && n->cpu.n_flags <= LC_CPU_MAX_FLAGS);
	for (int i = 0; i < n->cpu.n_flags; i++)
		FUZZ_CHECK(STR_OK(n->cpu.flags[i]));
	FUZZ_CHECK(n->n >= 0 && n->n <= LC_NEEDS_MAX);
	for (int i = 0; i < n->n; i++) {
		FUZZ_CHECK(STR_OK(n->v[i].path) && n->v[i].path[0] == '/');
		FUZZ_CHECK(STR_OK(n->v[i].why) && STR_OK(n->v[i].build_id));
		FUZZ_CHECK(strspn(n->v[i].build_id, "0123456789abcdef") ==
			   strlen(n->v[i].build_id));
		FUZZ_CHECK(n->v[i].size >= -1);
		FUZZ_CHECK(n->v[i].type == LC_NEED_DIR || n->v[i].type == LC_NEED_FILE ||
			   n->v[i].type == LC_NEED_DEV);
	}
}

static void check_output(const struct lc_output *o)
{
	FUZZ_CHECK(o->n >= 0 && o->n <= LC_OUTPUT_MAX);
	for (int i = 0; i < o->n; i++) {
		FUZZ_CHECK(o->fds[i].fd >= 0 && o->fds[i].fd <= 2);
		FUZZ_CHECK(!(o->fds[i].fd == 0 && o->fds[i].lsf));
		FUZZ_CHECK(STR_OK(o->fds[i].path) && STR_OK(o->fds[i].why));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lc_needs *n = fuzz_alloc(sizeof(*n));
	struct lc_output *o = fuzz_alloc(sizeof(*o));
	struct lc_given *g = fuzz_alloc(sizeof(*g));
	struct lc_err err = { 0 };
	char *text = fuzz_cstr(data, size);
	int r;

	r = lc_needs_parse(text, n, &err);
	if (r == 0) {
		check_needs(n);
		lc_needs_free(n);
	} else {
		check_err(r, &err);
		FUZZ_CHECK(n->v == NULL);
	}
	memset(&err, 0, sizeof(err));
	r = lc_output_parse(text, o, &err);
	if (r == 0)
		check_output(o);
	else
		check_err(r, &err);
	memset(&err, 0, sizeof(err));
	r = lc_given_parse(text, g, &err);
	if (r == 0) {
		FUZZ_CHECK(STR_OK(g->jobid) && g->n >= 0 && g->n <= 2);
		for (int i = 0; i < g->n; i++)
			FUZZ_CHECK(g->fds[i].fd == 1 || g->fds[i].fd == 2);
	} else {
		check_err(r, &err);
	}
	free(text);
	free(g);
	free(o);
	free(n);
	return 0;
}
