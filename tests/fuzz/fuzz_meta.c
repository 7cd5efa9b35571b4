/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target: the records of the checkpoint directory, ckpt.<N>/meta.json
 * (lc_meta_parse()) and lsf-criu.root (lc_root_parse()), both fed every input.
 * The directory belongs to the job's owner, so any bytes may appear. An
 * accepted record must hold values in their documented ranges, NUL-terminated
 * strings and lists within their bounds; a refused one must come with an error
 * object.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "meta.h"

#define STR_OK(a) (strnlen((a), sizeof(a)) < sizeof(a))
#define PID_OK(p) ((p) >= 2 && (p) <= 1 << 22)

static void check_err(int r, const struct lc_err *err)
{
	FUZZ_CHECK(r < 0 && err->code > 0);
	FUZZ_CHECK(STR_OK(err->msg) && err->msg[0]);
}

static void check_meta(const struct lc_meta *m)
{
	FUZZ_CHECK(STR_OK(m->jobid) && STR_OK(m->criu_version));
	FUZZ_CHECK(m->created >= 0 && m->created <= 1LL << 40);
	FUZZ_CHECK(PID_OK(m->root_pid));
	FUZZ_CHECK(m->root_start_time <= 1ULL << 62);
	FUZZ_CHECK(m->uid != (uid_t)-1);
	FUZZ_CHECK(m->dump_seconds >= 0 && m->dump_seconds <= 1e7);
	FUZZ_CHECK(m->image_bytes >= 0 && m->image_bytes <= 1LL << 50);
	FUZZ_CHECK(m->n_pids >= 1 && m->n_pids <= LC_META_MAX_PIDS);
	for (int i = 0; i < m->n_pids; i++)
		FUZZ_CHECK(PID_OK(m->pids[i]));
	FUZZ_CHECK(m->n_stdio >= 0 && m->n_stdio <= 3);
	for (int i = 0; i < m->n_stdio; i++) {
		FUZZ_CHECK(m->stdio[i].fd >= 0 && m->stdio[i].fd <= 2);
		FUZZ_CHECK(STR_OK(m->stdio[i].target));
	}
	FUZZ_CHECK(m->n_files >= 0 && m->n_files <= LC_META_MAX_FILES);
	for (int i = 0; i < m->n_files; i++) {
		const struct lc_meta_file *f = &m->files[i];

		FUZZ_CHECK(f->fd >= 3 && f->fd <= 1 << 20);
		FUZZ_CHECK(STR_OK(f->path) && f->path[0] == '/');
		FUZZ_CHECK(f->pos >= 0 && f->pos <= 1LL << 40);
		/* The copy is opened inside the image set: a plain name, never ".." or a path. */
		FUZZ_CHECK(STR_OK(f->copy) && f->copy[0] && f->copy[0] != '.' &&
			   !strchr(f->copy, '/'));
	}
}

static void check_root(const struct lc_root_rec *rec)
{
	FUZZ_CHECK(STR_OK(rec->jobid) && STR_OK(rec->imgset));
	FUZZ_CHECK(PID_OK(rec->pid));
	FUZZ_CHECK(rec->start_time <= 1ULL << 62);
	FUZZ_CHECK(lc_imgset_name_ok(rec->imgset));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lc_meta *m = fuzz_alloc(sizeof(*m));
	struct lc_root_rec *rec = fuzz_alloc(sizeof(*rec));
	struct lc_err err = { 0 };
	char *text = fuzz_cstr(data, size);
	int r;

	r = lc_meta_parse(text, m, &err);
	if (r == 0)
		check_meta(m);
	else
		check_err(r, &err);
	memset(&err, 0, sizeof(err));
	r = lc_root_parse(text, rec, &err);
	if (r == 0)
		check_root(rec);
	else
		check_err(r, &err);
	free(text);
	free(rec);
	free(m);
	return 0;
}
