/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * JSON records of the checkpoint directory; see meta.h.
 *
 * Contract:
 * 1. Files MUST be opened relative to a verified directory fd, without
 *    following symlinks, and MUST belong to the caller.
 * 2. Writes MUST be atomic (util.c: temp, fsync, rename, fsync dir).
 * 3. Parsers MUST NOT trust any value: types, ranges and lengths are checked.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "json.h"
#include "meta.h"
#include "util.h"

#define META_FILE "meta.json"
#define ROOT_FILE "lsf-criu.root"
#define MAX_JSON  (1 << 20)

int lc_meta_save(int imgfd, const struct lc_meta *m)
{
	json_t *o = json_object(), *pids = json_array(), *stdio = json_array(),
	       *files = json_array();

	if (!o || !pids || !stdio || !files) {
		json_decref(o), json_decref(pids), json_decref(stdio), json_decref(files);
		return -ENOMEM;
	}
	bool bad = false;

	for (int i = 0; i < m->n_pids; i++)
		bad |= json_array_append_new(pids, json_integer(m->pids[i])) < 0;
	for (int i = 0; i < m->n_stdio; i++) {
		json_t *e = json_pack("{s:i}", "fd", m->stdio[i].fd);

		bad |= !e || lc_json_set_path(e, "target", m->stdio[i].target) < 0;
		bad |= json_array_append_new(stdio, e) < 0;
	}
	for (int i = 0; i < m->n_files; i++) {
		json_t *e = json_pack("{s:i,s:I,s:s}", "fd", m->files[i].fd, "pos",
				      (json_int_t)m->files[i].pos, "copy", m->files[i].copy);

		bad |= !e || lc_json_set_path(e, "path", m->files[i].path) < 0;
		bad |= json_array_append_new(files, e) < 0;
	}
	/* Paths that are not UTF-8 are kept in hexadecimal; anything else unwritable fails. */
	bad |= json_object_set_new(o, "jobid", json_string(m->jobid)) < 0;
	bad |= json_object_set_new(o, "criu_version", json_string(m->criu_version)) < 0;
	if (bad) {
		json_decref(o), json_decref(pids), json_decref(stdio), json_decref(files);
		return -EILSEQ;
	}
	json_object_set_new(o, "version", json_integer(LC_META_VERSION));
	json_object_set_new(o, "created", json_integer(m->created));
	json_object_set_new(o, "root_pid", json_integer(m->root_pid));
	json_object_set_new(o, "root_start_time", json_integer((json_int_t)m->root_start_time));
	json_object_set_new(o, "uid", json_integer(m->uid));
	json_object_set_new(o, "file_locks", json_boolean(m->file_locks));
	json_object_set_new(o, "killed", json_boolean(m->killed));
	json_object_set_new(o, "namespaces", json_boolean(m->ns));
	json_object_set_new(o, "dump_seconds", json_real(m->dump_seconds));
	json_object_set_new(o, "image_bytes", json_integer(m->image_bytes));
	if (m->stream) {
		json_object_set_new(o, "stream", json_true());
		json_object_set_new(o, "raw_bytes", json_integer(m->raw_bytes));
		json_object_set_new(o, "compression", json_string(m->compression));
		json_object_set_new(o, "write_rate", json_real(m->write_rate));
		json_object_set_new(o, "zstd_rate", json_real(m->zstd_rate));
		json_object_set_new(o, "compression_decision", json_string(m->decision));
	}
	if (m->peak_rss_kib > 0)
		json_object_set_new(o, "peak_rss_kib", json_integer(m->peak_rss_kib));
	json_object_set_new(o, "pids", pids);
	json_object_set_new(o, "stdio", stdio);
	json_object_set_new(o, "files", files);
	/* Inside a new image set, made durable as a whole (lc_imgset_sync) before it counts. */
	return lc_json_save_flags(imgfd, META_FILE, o, LC_WRITE_NOSYNC);
}

static int opt_real(json_t *o, const char *key, double max, double *ret, struct lc_err *err)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return 0;
	if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > max)
		return lc_err_set(err, EINVAL, "field '%s' out of range", key);
	*ret = json_number_value(v);
	return 0;
}

/* The fields of streamed image sets; absent in older ones. */
static int parse_optional(json_t *o, struct lc_meta *m, struct lc_err *err)
{
	json_t *v = json_object_get(o, "stream");
	long long x;

	if (v && !json_is_boolean(v))
		return lc_err_set(err, EINVAL, "field 'stream' is not a boolean");
	m->stream = json_is_true(v);
	if (json_object_get(o, "raw_bytes") &&
	    lc_json_int(o, "raw_bytes", 0, 1LL << 50, &m->raw_bytes, err) < 0)
		return -EINVAL;
	if (json_object_get(o, "compression") &&
	    lc_json_str(o, "compression", m->compression, sizeof(m->compression), err) < 0)
		return -EINVAL;
	if (json_object_get(o, "compression_decision") &&
	    lc_json_str(o, "compression_decision", m->decision, sizeof(m->decision), err) < 0)
		return -EINVAL;
	if (opt_real(o, "write_rate", 1e13, &m->write_rate, err) < 0 ||
	    opt_real(o, "zstd_rate", 1e13, &m->zstd_rate, err) < 0)
		return -EINVAL;
	if (json_object_get(o, "peak_rss_kib")) {
		if (lc_json_int(o, "peak_rss_kib", 0, 1LL << 40, &x, err) < 0)
			return -EINVAL;
		m->peak_rss_kib = (long)x;
	}
	return 0;
}

int lc_meta_parse(const char *text, struct lc_meta *m, struct lc_err *err)
{
	json_t *o, *a, *v;
	long long x;
	size_t i;
	int r = -EINVAL;

	memset(m, 0, sizeof(*m));
	o = lc_json_parse(text, err);
	if (!o)
		return -err->code;
	if (lc_json_check_version(o, LC_META_VERSION, err) < 0 ||
	    lc_json_str(o, "jobid", m->jobid, sizeof(m->jobid), err) < 0 ||
	    lc_json_int(o, "created", 0, 1LL << 40, &m->created, err) < 0) {
		r = -err->code;
		goto out;
	}
	if (lc_json_int(o, "root_pid", 2, 1 << 22, &x, err) < 0)
		goto out;
	m->root_pid = (pid_t)x;
	if (lc_json_int(o, "root_start_time", 0, 1LL << 62, &x, err) < 0)
		goto out;
	m->root_start_time = (unsigned long long)x;
	if (lc_json_int(o, "uid", 0, 0xfffffffe, &x, err) < 0)
		goto out;
	m->uid = (uid_t)x;
	if (!json_is_boolean(json_object_get(o, "file_locks")) ||
	    !json_is_boolean(json_object_get(o, "killed")) ||
	    !json_is_boolean(json_object_get(o, "namespaces"))) {
		lc_err_set(err, EINVAL,
			   "field 'file_locks', 'killed' or 'namespaces' missing or not "
			   "a boolean");
		goto out;
	}
	m->ns = json_is_true(json_object_get(o, "namespaces"));
	m->file_locks = json_is_true(json_object_get(o, "file_locks"));
	m->killed = json_is_true(json_object_get(o, "killed"));
	v = json_object_get(o, "dump_seconds");
	if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1e7) {
		lc_err_set(err, EINVAL, "field 'dump_seconds' missing or out of range");
		goto out;
	}
	m->dump_seconds = json_number_value(v);
	if (lc_json_int(o, "image_bytes", 0, 1LL << 50, &m->image_bytes, err) < 0)
		goto out;
	if (lc_json_str(o, "criu_version", m->criu_version, sizeof(m->criu_version), err) < 0)
		goto out;

	if (parse_optional(o, m, err) < 0)
		goto out;
	a = json_object_get(o, "pids");
	if (!json_is_array(a) || json_array_size(a) == 0 || json_array_size(a) > LC_META_MAX_PIDS) {
		lc_err_set(err, EINVAL, "field 'pids' missing, empty or too long");
		goto out;
	}
	json_array_foreach (a, i, v) {
		if (!json_is_integer(v) || json_integer_value(v) < 2 ||
		    json_integer_value(v) > (1 << 22)) {
			lc_err_set(err, EINVAL, "field 'pids' holds a bad pid");
			goto out;
		}
		m->pids[m->n_pids++] = (pid_t)json_integer_value(v);
	}
	a = json_object_get(o, "stdio");
	if (!json_is_array(a) || json_array_size(a) > 3) {
		lc_err_set(err, EINVAL, "field 'stdio' missing or too long");
		goto out;
	}
	json_array_foreach (a, i, v) {
		struct lc_meta_stdio *s = &m->stdio[m->n_stdio];

		if (lc_json_int(v, "fd", 0, 2, &x, err) < 0 ||
		    lc_json_path(v, "target", s->target, sizeof(s->target), err) < 0)
			goto out;
		s->fd = (int)x;
		m->n_stdio++;
	}
	a = json_object_get(o, "files");
	if (!json_is_array(a) || json_array_size(a) > LC_META_MAX_FILES) {
		lc_err_set(err, EINVAL, "field 'files' missing or too long");
		goto out;
	}
	json_array_foreach (a, i, v) {
		struct lc_meta_file *f = &m->files[m->n_files];

		if (lc_json_int(v, "fd", 3, 1 << 20, &x, err) < 0)
			goto out;
		f->fd = (int)x;
		if (lc_json_path(v, "path", f->path, sizeof(f->path), err) < 0 ||
		    lc_json_int(v, "pos", 0, 1LL << 40, &f->pos, err) < 0 ||
		    lc_json_str(v, "copy", f->copy, sizeof(f->copy), err) < 0)
			goto out;
		if (f->path[0] != '/' || strchr(f->copy, '/') || f->copy[0] == '.' || !f->copy[0]) {
			lc_err_set(err, EINVAL, "field 'files' holds a bad path or copy name");
			goto out;
		}
		m->n_files++;
	}
	r = 0;
out:
	json_decref(o);
	return r;
}

int lc_meta_load(int imgfd, uid_t owner, struct lc_meta *m, struct lc_err *err)
{
	_cleanup_free_ char *txt = NULL;
	int r;

	r = lc_read_file_at(imgfd, META_FILE, MAX_JSON, owner, &txt, NULL);
	if (r < 0)
		return lc_err_set(err, -r, "cannot read '%s'", META_FILE);
	r = lc_meta_parse(txt, m, err);
	if (r < 0)
		return lc_err_wrap(err, "'%s'", META_FILE);
	return 0;
}

int lc_root_save(int dirfd, const struct lc_root_rec *rec)
{
	return lc_json_save(dirfd, ROOT_FILE,
			    json_pack("{s:i,s:s,s:i,s:I,s:s}", "version", LC_META_VERSION, "jobid",
				      rec->jobid, "pid", (int)rec->pid, "start_time",
				      (json_int_t)rec->start_time, "imgset", rec->imgset));
}

int lc_root_parse(const char *text, struct lc_root_rec *rec, struct lc_err *err)
{
	json_t *o;
	long long x;
	int r = -EINVAL;

	memset(rec, 0, sizeof(*rec));
	o = lc_json_parse(text, err);
	if (!o)
		return -err->code;
	if (lc_json_check_version(o, LC_META_VERSION, err) < 0 ||
	    lc_json_str(o, "jobid", rec->jobid, sizeof(rec->jobid), err) < 0 ||
	    lc_json_int(o, "pid", 2, 1 << 22, &x, err) < 0)
		goto out;
	rec->pid = (pid_t)x;
	if (lc_json_int(o, "start_time", 0, 1LL << 62, &x, err) < 0)
		goto out;
	rec->start_time = (unsigned long long)x;
	if (lc_json_str(o, "imgset", rec->imgset, sizeof(rec->imgset), err) < 0)
		goto out;
	if (!lc_imgset_name_ok(rec->imgset)) {
		lc_err_set(err, EINVAL, "field 'imgset' names no image set");
		goto out;
	}
	r = 0;
out:
	json_decref(o);
	return r;
}

int lc_root_load(int dirfd, uid_t owner, struct lc_root_rec *rec, struct lc_err *err)
{
	_cleanup_free_ char *txt = NULL;
	int r;

	r = lc_read_file_at(dirfd, ROOT_FILE, 65536, owner, &txt, NULL);
	if (r < 0)
		return lc_err_set(err, -r, "cannot read '%s'", ROOT_FILE);
	r = lc_root_parse(txt, rec, err);
	if (r < 0)
		return lc_err_wrap(err, "'%s'", ROOT_FILE);
	return 0;
}

bool lc_imgset_name_ok(const char *name)
{
	size_t n;

	if (strncmp(name, "ckpt.", 5))
		return false;
	n = strspn(name + 5, "0123456789");
	return n > 0 && n <= 9 && name[5 + n] == '\0';
}

int lc_current_load(int dirfd, uid_t owner, char *name, size_t size, struct lc_err *err)
{
	_cleanup_free_ char *txt = NULL;
	int r;

	r = lc_read_file_at(dirfd, LC_CURRENT_FILE, 256, owner, &txt, NULL);
	if (r < 0)
		return lc_err_set(err, -r, "cannot read '%s'", LC_CURRENT_FILE);
	if (strchr(txt, '\n') && strchr(txt, '\n')[1] != '\0')
		return lc_err_set(err, EINVAL, "'%s' holds more than one line", LC_CURRENT_FILE);
	txt[strcspn(txt, "\n")] = '\0';
	if (!lc_imgset_name_ok(txt) || strlen(txt) >= size)
		return lc_err_set(err, EINVAL, "'%s' names no image set", LC_CURRENT_FILE);
	snprintf(name, size, "%s", txt);
	return 0;
}

int lc_current_save(int dirfd, const char *name)
{
	char buf[128];
	int n = snprintf(buf, sizeof(buf), "%s\n", name);

	return lc_write_atomic_at(dirfd, LC_CURRENT_FILE, buf, (size_t)n, 0600);
}

int lc_handover_save(int dirfd, const struct lc_handover *h)
{
	return lc_json_save(dirfd, LC_HANDOVER_FILE,
			    json_pack("{s:i,s:s,s:s,s:o}", "version", 1, "jobid", h->jobid,
				      "imgset", h->imgset, "why", lc_json_text(h->why)));
}

int lc_handover_load(int dirfd, uid_t owner, struct lc_handover *h, struct lc_err *err)
{
	_cleanup_free_ char *txt = NULL;
	json_t *o;
	int r;

	memset(h, 0, sizeof(*h));
	r = lc_read_file_at(dirfd, LC_HANDOVER_FILE, 65536, owner, &txt, NULL);
	if (r < 0)
		return r == -ENOENT ? -ENOENT
				    : lc_err_set(err, -r, "cannot read '%s'", LC_HANDOVER_FILE);
	o = lc_json_parse(txt, err);
	if (!o)
		return -err->code;
	r = -EINVAL;
	if (lc_json_check_version(o, 1, err) < 0 ||
	    lc_json_str(o, "jobid", h->jobid, sizeof(h->jobid), err) < 0 ||
	    lc_json_str(o, "imgset", h->imgset, sizeof(h->imgset), err) < 0 ||
	    lc_json_str(o, "why", h->why, sizeof(h->why), err) < 0)
		goto out;
	if (!lc_imgset_name_ok(h->imgset)) {
		lc_err_set(err, EINVAL, "'%s' names no image set", LC_HANDOVER_FILE);
		goto out;
	}
	r = 0;
out:
	json_decref(o);
	return r;
}
