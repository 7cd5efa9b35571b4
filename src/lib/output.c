/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The job's stdio and LSF's output, by identity; see output.h.
 *
 * Contract:
 * 1. A file is LSF's output only by its device and inode (rules 1-4 of
 *    output.h), never because of its name or the name of its directory.
 * 2. Only fds 1 and 2 can be LSF's output; stdin is always reopened as it was.
 * 3. Records are read strictly (types, ranges, lengths) and must belong to
 *    the caller; a missing or unusable record is never guessed at.
 * 4. A spool file is emptied only when its whole content is found at the end
 *    of the -o/-e file it was delivered to: lines may repeat, never vanish.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "json.h"
#include "log.h"
#include "lsfenv.h"
#include "output.h"
#include "proc.h"
#include "util.h"

#define OUTPUT_VERSION 1
#define GIVEN_VERSION  1
#define DEDUPE_TAIL    4096
#define DEDUPE_SLACK   (64 << 10)

static const char *const kind_names[] = {
	[LC_OUT_FILE] = "file",
	[LC_OUT_PIPE] = "pipe",
	[LC_OUT_OTHER] = "other",
};

int lc_lsf_outfile(const char *var, const char *jobid, bool dir_file, char *buf, size_t size)
{
	const char *v = getenv(var), *cwd = getenv("LS_SUBCWD");
	struct stat st;
	int n;

	if (!v || !*v)
		return -ENOENT;
	if (v[0] == '/') {
		n = snprintf(buf, size, "%s", v);
	} else {
		/* LSF may pass -o as typed: relative to the submission directory. */
		if (!cwd || cwd[0] != '/')
			return -EINVAL;
		n = snprintf(buf, size, "%s/%s", cwd, v);
	}
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	if (dir_file && stat(buf, &st) == 0 && S_ISDIR(st.st_mode)) {
		if (!lc_jobid_ok(jobid))
			return -EINVAL;
		n = snprintf(buf + n, size - (size_t)n, "/%s.%s", jobid,
			     strcmp(var, "LSB_ERRORFILE") ? "out" : "err");
		if (n < 0 || strlen(buf) + 1 >= size)
			return -ENAMETOOLONG;
	}
	return 0;
}

static bool same_id(const struct stat *st, unsigned long long dev, unsigned long long ino)
{
	return (unsigned long long)st->st_dev == dev && (unsigned long long)st->st_ino == ino;
}

/* True if a process of the tree holds the pipe target open for reading. */
static bool pipe_read_in_tree(const struct lc_job_procs *j, const char *target)
{
	for (size_t k = 0; k < j->n_tree; k++) {
		_cleanup_closedir_ DIR *d = NULL;
		struct dirent *de;
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d/fd", (int)j->tree[k]);
		d = opendir(path);
		if (!d)
			continue;
		while ((de = readdir(d))) {
			char t[64];
			long fd;
			long long pos;
			int flags;

			if (lc_parse_long(de->d_name, 0, 1 << 20, &fd) < 0 ||
			    lc_proc_fd_target(j->tree[k], (int)fd, t, sizeof(t)) < 0 ||
			    strcmp(t, target))
				continue;
			if (lc_proc_fdinfo(j->tree[k], (int)fd, &pos, &flags) == 0 &&
			    (flags & O_ACCMODE) == O_RDONLY)
				return true;
		}
	}
	return false;
}

/* Identity of the directory that holds LSF's job file: LSF's spool directory. */
static bool spool_dir(struct stat *ret)
{
	const char *jf = getenv("LSB_JOBFILENAME");
	char real[PATH_MAX];

	if (!jf || jf[0] != '/' || !realpath(jf, real))
		return false;
	return stat(dirname(real), ret) == 0 && S_ISDIR(ret->st_mode);
}

static bool in_dir(const char *path, const struct stat *dir)
{
	char copy[4096];
	struct stat st;

	snprintf(copy, sizeof(copy), "%s", path);
	return stat(dirname(copy), &st) == 0 && st.st_dev == dir->st_dev &&
	       st.st_ino == dir->st_ino;
}

struct known {
	struct stat sdir, of[2];
	bool have_sdir, have_of[2], have_given;
	struct lc_given g;
	const char *jobid;
};

static const char *const vars[2] = { "LSB_OUTPUTFILE", "LSB_ERRORFILE" };

/* Fills r (path, identity, kind) from fd of pid; false if unreadable. */
static bool read_fd(pid_t pid, int fd, struct lc_out_fd *r)
{
	char link[64];
	struct stat st;

	memset(r, 0, sizeof(*r));
	if (lc_proc_fd_target(pid, fd, r->path, sizeof(r->path)) < 0)
		return false;
	r->fd = fd;
	snprintf(link, sizeof(link), "/proc/%d/fd/%d", (int)pid, fd);
	if (stat(link, &st) == 0) {
		r->dev = (unsigned long long)st.st_dev;
		r->ino = (unsigned long long)st.st_ino;
	}
	if (!strncmp(r->path, "pipe:[", 6))
		r->kind = LC_OUT_PIPE;
	else if (r->path[0] == '/' && r->ino && S_ISREG(st.st_mode))
		r->kind = LC_OUT_FILE;
	else
		r->kind = LC_OUT_OTHER;
	return true;
}

/* Sets r->lsf, r->why (and for a file, which fd of the new job it becomes). */
static void judge(const struct lc_job_procs *j, const struct known *k, struct lc_out_fd *r)
{
	if (r->kind == LC_OUT_PIPE) {
		r->lsf = !pipe_read_in_tree(j, r->path);
		snprintf(r->why, sizeof(r->why), "%s",
			 r->lsf ? "a pipe read outside the job" : "a pipe read inside the job");
		return;
	}
	if (r->kind != LC_OUT_FILE)
		return;
	for (int i = 0; i < 2 && !r->lsf; i++) {
		if (k->have_of[i] && same_id(&k->of[i], r->dev, r->ino)) {
			r->lsf = true;
			if (r->fd > 2)
				r->fd = i + 1;
			snprintf(r->why, sizeof(r->why), "the file of %s", vars[i]);
		}
	}
	for (int i = 0; k->have_given && i < k->g.n && !r->lsf; i++) {
		if (k->g.fds[i].dev == r->dev && k->g.fds[i].ino == r->ino) {
			r->lsf = true;
			if (r->fd > 2)
				r->fd = k->g.fds[i].fd;
			snprintf(r->why, sizeof(r->why), "the output LSF gave job %s", k->jobid);
		}
	}
	if (!r->lsf && k->have_sdir && in_dir(r->path, &k->sdir)) {
		r->lsf = true;
		snprintf(r->why, sizeof(r->why), "a file in LSF's spool directory");
	}
	if (!r->lsf)
		snprintf(r->why, sizeof(r->why), "a file the job opened itself");
	else if (r->fd > 2)
		r->fd = 1; /* LSF's output on another fd: it continues in the new job's stdout */
}

static bool writable(pid_t pid, int fd)
{
	long long pos;
	int flags;

	return lc_proc_fdinfo(pid, fd, &pos, &flags) == 0 && (flags & O_ACCMODE) != O_RDONLY;
}

static bool recorded(const struct lc_output *out, const char *path)
{
	for (int i = 0; i < out->n; i++)
		if (out->fds[i].lsf && !strcmp(out->fds[i].path, path))
			return true;
	return false;
}

void lc_output_classify(const struct lc_job_procs *j, int dirfd, const char *jobid,
			struct lc_output *out)
{
	struct known k = { .jobid = jobid };
	struct lc_err err;
	char buf[PATH_MAX];

	memset(out, 0, sizeof(*out));
	k.have_sdir = spool_dir(&k.sdir);
	for (int i = 0; i < 2; i++)
		k.have_of[i] = lc_lsf_outfile(vars[i], jobid, true, buf, sizeof(buf)) == 0 &&
			       stat(buf, &k.of[i]) == 0 && S_ISREG(k.of[i].st_mode);
	if (lc_given_load(dirfd, getuid(), &k.g, &err) == 0)
		k.have_given = !strcmp(k.g.jobid, jobid);
	for (int fd = 0; fd < 3; fd++) {
		struct lc_out_fd *r = &out->fds[out->n];

		if (!read_fd(j->root.pid, fd, r))
			continue;
		out->n++;
		if (fd > 0)
			judge(j, &k, r); /* stdin is never LSF's output */
	}
	/* LSF's output held by any other process of the tree, or on another fd. */
	for (size_t t = 0; t < j->n_tree && out->n < LC_OUTPUT_MAX; t++) {
		_cleanup_closedir_ DIR *d = NULL;
		struct dirent *de;
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d/fd", (int)j->tree[t]);
		d = opendir(path);
		while (d && (de = readdir(d)) && out->n < LC_OUTPUT_MAX) {
			struct lc_out_fd *r = &out->fds[out->n];
			long fd;

			if (lc_parse_long(de->d_name, 0, 1 << 20, &fd) < 0 ||
			    (j->tree[t] == j->root.pid && fd <= 2) ||
			    !read_fd(j->tree[t], (int)fd, r))
				continue;
			if (r->kind == LC_OUT_OTHER || (r->kind == LC_OUT_PIPE && fd > 2) ||
			    recorded(out, r->path) || !writable(j->tree[t], (int)fd))
				continue; /* output is written: a file read (LSF's job file) is not */
			judge(j, &k, r);
			if (r->lsf)
				out->n++;
		}
	}
}

int lc_output_save(int imgfd, const struct lc_output *o)
{
	json_t *root = json_object(), *fds = json_array();
	bool bad = !root || !fds;

	for (int i = 0; !bad && i < o->n; i++) {
		const struct lc_out_fd *r = &o->fds[i];

		bad |= json_array_append_new(fds,
					     json_pack("{s:i,s:s,s:s,s:I,s:I,s:b,s:s}", "fd", r->fd,
						       "kind", kind_names[r->kind], "path", r->path,
						       "dev", (json_int_t)r->dev, "ino",
						       (json_int_t)r->ino, "lsf", r->lsf, "why",
						       r->why)) < 0;
	}
	if (bad) {
		/* jansson refuses a path that is not UTF-8: fail, never drop an fd. */
		json_decref(root);
		json_decref(fds);
		return -EILSEQ;
	}
	json_object_set_new(root, "version", json_integer(OUTPUT_VERSION));
	json_object_set_new(root, "fds", fds);
	return lc_json_save_flags(imgfd, LC_OUTPUT_FILE, root, LC_WRITE_NOSYNC);
}

#define ID_MAX ((long long)1 << 62)

int lc_output_parse(const char *text, struct lc_output *o, struct lc_err *err)
{
	json_t *root, *fds, *v;
	size_t i;
	int r = -EINVAL;

	memset(o, 0, sizeof(*o));
	root = lc_json_parse(text, err);
	if (!root)
		return -err->code;
	if (lc_json_check_version(root, OUTPUT_VERSION, err) < 0)
		goto out;
	fds = json_object_get(root, "fds");
	if (!json_is_array(fds) || json_array_size(fds) > LC_OUTPUT_MAX) {
		lc_err_set(err, EINVAL, "field 'fds' missing or holds more than %d entries",
			   LC_OUTPUT_MAX);
		goto out;
	}
	json_array_foreach (fds, i, v) {
		struct lc_out_fd *f = &o->fds[o->n];
		char kind[16];
		long long x;
		json_t *b;

		if (!json_is_object(v) || lc_json_int(v, "fd", 0, 2, &x, err) < 0)
			goto out;
		f->fd = (int)x;
		if (lc_json_str(v, "kind", kind, sizeof(kind), err) < 0 ||
		    lc_json_str(v, "path", f->path, sizeof(f->path), err) < 0 ||
		    lc_json_str(v, "why", f->why, sizeof(f->why), err) < 0)
			goto out;
		if (!strcmp(kind, "file"))
			f->kind = LC_OUT_FILE;
		else if (!strcmp(kind, "pipe"))
			f->kind = LC_OUT_PIPE;
		else if (!strcmp(kind, "other"))
			f->kind = LC_OUT_OTHER;
		else {
			lc_err_set(err, EINVAL, "unknown kind '%s'", kind);
			goto out;
		}
		if (lc_json_int(v, "dev", 0, ID_MAX, &x, err) < 0)
			goto out;
		f->dev = (unsigned long long)x;
		if (lc_json_int(v, "ino", 0, ID_MAX, &x, err) < 0)
			goto out;
		f->ino = (unsigned long long)x;
		b = json_object_get(v, "lsf");
		if (!json_is_boolean(b)) {
			lc_err_set(err, EINVAL, "field 'lsf' missing or not a boolean");
			goto out;
		}
		f->lsf = json_is_true(b) && f->fd != 0;
		o->n++;
	}
	r = 0;
out:
	json_decref(root);
	return r;
}

int lc_output_load(int imgfd, uid_t owner, struct lc_output *o, struct lc_err *err)
{
	_cleanup_free_ char *txt = NULL;
	int r;

	r = lc_read_file_at(imgfd, LC_OUTPUT_FILE, 1 << 16, owner, &txt, NULL);
	if (r < 0)
		return lc_err_set(err, -r, "cannot read '%s'", LC_OUTPUT_FILE);
	r = lc_output_parse(txt, o, err);
	if (r < 0)
		return lc_err_wrap(err, "'%s' is unusable", LC_OUTPUT_FILE);
	return 0;
}

int lc_given_record(int dirfd, const char *jobid)
{
	json_t *root = json_object(), *fds = json_array();

	if (!root || !fds) {
		json_decref(root);
		json_decref(fds);
		return -ENOMEM;
	}
	for (int fd = 1; fd <= 2; fd++) {
		struct stat st;

		if (fstat(fd, &st) < 0)
			continue;
		json_array_append_new(fds, json_pack("{s:i,s:I,s:I}", "fd", fd, "dev",
						     (json_int_t)st.st_dev, "ino",
						     (json_int_t)st.st_ino));
	}
	json_object_set_new(root, "version", json_integer(GIVEN_VERSION));
	json_object_set_new(root, "jobid", json_string(jobid));
	json_object_set_new(root, "fds", fds);
	return lc_json_save(dirfd, LC_GIVEN_FILE, root);
}

int lc_given_parse(const char *text, struct lc_given *g, struct lc_err *err)
{
	json_t *root, *fds, *v;
	size_t i;
	int r = -EINVAL;

	memset(g, 0, sizeof(*g));
	root = lc_json_parse(text, err);
	if (!root)
		return -err->code;
	if (lc_json_check_version(root, GIVEN_VERSION, err) < 0 ||
	    lc_json_str(root, "jobid", g->jobid, sizeof(g->jobid), err) < 0)
		goto out;
	fds = json_object_get(root, "fds");
	if (!json_is_array(fds) || json_array_size(fds) > 2) {
		lc_err_set(err, EINVAL, "field 'fds' missing or holds more than 2 entries");
		goto out;
	}
	json_array_foreach (fds, i, v) {
		long long x;

		if (!json_is_object(v) || lc_json_int(v, "fd", 1, 2, &x, err) < 0)
			goto out;
		g->fds[g->n].fd = (int)x;
		if (lc_json_int(v, "dev", 0, ID_MAX, &x, err) < 0)
			goto out;
		g->fds[g->n].dev = (unsigned long long)x;
		if (lc_json_int(v, "ino", 1, ID_MAX, &x, err) < 0)
			goto out;
		g->fds[g->n].ino = (unsigned long long)x;
		g->n++;
	}
	r = 0;
out:
	json_decref(root);
	return r;
}

int lc_given_load(int dirfd, uid_t owner, struct lc_given *g, struct lc_err *err)
{
	_cleanup_free_ char *txt = NULL;
	int r;

	r = lc_read_file_at(dirfd, LC_GIVEN_FILE, 1 << 16, owner, &txt, NULL);
	if (r < 0)
		return lc_err_set(err, -r, "cannot read '%s'", LC_GIVEN_FILE);
	r = lc_given_parse(txt, g, err);
	if (r < 0)
		return lc_err_wrap(err, "'%s' is unusable", LC_GIVEN_FILE);
	return 0;
}

/* True if the last n bytes of the spool (buf) appear in the last part of the file at path. */
static bool delivered(const char *path, const char *tail, size_t n, struct stat *spool)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t want;
	off_t from;
	ssize_t got;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    same_id(&st, spool->st_dev, spool->st_ino))
		return false;
	want = n + DEDUPE_SLACK;
	if ((off_t)want > st.st_size)
		want = (size_t)st.st_size;
	from = st.st_size - (off_t)want;
	buf = malloc(want + 1);
	if (!buf)
		return false;
	got = pread(fd, buf, want, from);
	if (got < (ssize_t)n)
		return false;
	return memmem(buf, (size_t)got, tail, n) != NULL;
}

void lc_output_reused_spool(int fd, unsigned long long dev, unsigned long long ino, const char *var,
			    const char *jobid)
{
	char path[PATH_MAX], tail[DEDUPE_TAIL], self[64], spool[PATH_MAX] = "";
	_cleanup_close_ int rfd = -1;
	struct stat st, of, rst;
	size_t n;
	int r;

	if (!ino || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !same_id(&st, dev, ino) ||
	    st.st_size == 0)
		return;
	r = lc_lsf_outfile(var, jobid, true, path, sizeof(path));
	if (r == -ENOENT && !strcmp(var, "LSB_ERRORFILE")) {
		/* Without -e, LSF delivers the job's stderr with its stdout, to -o. */
		var = "LSB_OUTPUTFILE";
		r = lc_lsf_outfile(var, jobid, true, path, sizeof(path));
	}
	if (r == 0 && stat(path, &of) == 0 && same_id(&of, dev, ino))
		return; /* LSF lets the job write the -o/-e file itself: nothing is delivered twice */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	if (readlink(self, spool, sizeof(spool) - 1) < 0)
		snprintf(spool, sizeof(spool), "fd %d", fd);
	if (r < 0) {
		log_warn("LSF gives job %s the same output file as its last run ('%s', %lld bytes), "
			 "and there is no %s to check that those bytes were delivered; keeping "
			 "them (they may be delivered again)",
			 jobid, spool, (long long)st.st_size, var);
		return;
	}
	n = st.st_size < DEDUPE_TAIL ? (size_t)st.st_size : DEDUPE_TAIL;
	/* LSF opened it for writing only: read it through a descriptor of our own. */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	rfd = open(self, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (rfd < 0 || fstat(rfd, &rst) < 0 || !same_id(&rst, dev, ino) ||
	    pread(rfd, tail, n, st.st_size - (off_t)n) != (ssize_t)n ||
	    !delivered(path, tail, n, &st)) {
		log_warn("LSF gives job %s the same spool file as its last run ('%s', %lld bytes), "
			 "but its end is not in '%s'; keeping it (its lines may be delivered "
			 "again)",
			 jobid, spool, (long long)st.st_size, path);
		return;
	}
	if (ftruncate(fd, 0) < 0) {
		log_warn("cannot empty the reused spool file '%s': %s; the earlier runs' lines "
			 "will be delivered again",
			 spool, strerror(errno));
		return;
	}
	log_info("LSF gives job %s the same spool file as its last run ('%s'); its %lld bytes "
		 "were already delivered to '%s', so it was emptied: each line reaches the "
		 "output file once",
		 jobid, spool, (long long)st.st_size, path);
}
