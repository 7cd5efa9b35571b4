/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of src/lib/portable.c (host needs), src/lib/output.c (LSF's
 * output by identity) and src/lib/restarts.c (the published restart count).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cleanup.h"
#include "output.h"
#include "portable.h"
#include "restarts.h"
#include "tap.h"
#include "util.h"

static int write_text(int dirfd, const char *name, const char *text)
{
	return lc_write_atomic_at(dirfd, name, text, strlen(text), 0600);
}

static const char valid_output[] =
	"{\"version\": 1, \"fds\": ["
	" {\"fd\": 0, \"kind\": \"other\", \"path\": \"/dev/null\", \"dev\": 6, \"ino\": 3,"
	"  \"lsf\": false, \"build_id\": \"\", \"why\": \"\"},"
	" {\"fd\": 1, \"kind\": \"file\", \"path\": \"/home/u/out.txt\", \"dev\": 65024,"
	"  \"ino\": 99, \"lsf\": false, \"build_id\": \"\", \"why\": \"a file the job opened itself\"},"
	" {\"fd\": 2, \"kind\": \"pipe\", \"path\": \"pipe:[77]\", \"dev\": 14, \"ino\": 77,"
	"  \"lsf\": true, \"build_id\": \"\", \"why\": \"a pipe read outside the job\"}]}";

static int output_valid(void)
{
	struct lc_output o;
	struct lc_err err = { 0 };

	CHECK_INT(lc_output_parse(valid_output, &o, &err), ==, 0);
	CHECK_INT(o.n, ==, 3);
	CHECK(!o.fds[0].lsf && o.fds[0].kind == LC_OUT_OTHER);
	CHECK(!o.fds[1].lsf && o.fds[1].kind == LC_OUT_FILE);
	CHECK_STR(o.fds[1].path, "/home/u/out.txt");
	CHECK_INT(o.fds[1].ino, ==, 99);
	CHECK(o.fds[2].lsf && o.fds[2].kind == LC_OUT_PIPE);
	CHECK_STR(o.fds[2].why, "a pipe read outside the job");
	return TAP_PASS;
}

static int output_round_trip(void)
{
	struct lc_output o, back;
	struct lc_err err = { 0 };

	CHECK_INT(lc_output_parse(valid_output, &o, &err), ==, 0);
	CHECK_INT(lc_output_save(tap_dirfd, &o), ==, 0);
	CHECK_INT(lc_output_load(tap_dirfd, getuid(), &back, &err), ==, 0);
	CHECK_INT(back.n, ==, o.n);
	for (int i = 0; i < o.n; i++) {
		CHECK_STR(back.fds[i].path, o.fds[i].path);
		CHECK(back.fds[i].lsf == o.fds[i].lsf && back.fds[i].dev == o.fds[i].dev);
	}
	return TAP_PASS;
}

static int output_hostile(void)
{
	static const char *const bad[] = {
		"",
		"[]",
		"{\"version\": 2, \"fds\": []}",
		"{\"version\": 1}",
		"{\"version\": 1, \"fds\": [{\"fd\": 3, \"kind\": \"file\", \"path\": \"/x\","
		" \"dev\": 1, \"ino\": 1, \"lsf\": true, \"build_id\": \"\", \"why\": \"\"}]}",
		"{\"version\": 1, \"fds\": [{\"fd\": 1, \"kind\": \"socket\", \"path\": \"/x\","
		" \"dev\": 1, \"ino\": 1, \"lsf\": true, \"build_id\": \"\", \"why\": \"\"}]}",
		"{\"version\": 1, \"fds\": [{\"fd\": 1, \"kind\": \"file\", \"path\": \"/x\","
		" \"dev\": -1, \"ino\": 1, \"lsf\": true, \"build_id\": \"\", \"why\": \"\"}]}",
		"{\"version\": 1, \"fds\": [{\"fd\": 1, \"kind\": \"file\", \"path\": \"/x\","
		" \"dev\": 1, \"ino\": 1, \"lsf\": 1, \"build_id\": \"\", \"why\": \"\"}]}",
		"{\"version\": 1, \"fds\": [{\"fd\": 1, \"kind\": \"file\", \"path\": \"/\\u0000x\","
		" \"dev\": 1, \"ino\": 1, \"lsf\": true, \"build_id\": \"\", \"why\": \"\"}]}",
	};
	struct lc_output o;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct lc_err err = { 0 };

		if (lc_output_parse(bad[i], &o, &err) == 0) {
			tap_diag("accepted: %s", bad[i]);
			return TAP_FAIL;
		}
		CHECK(err.code > 0 && err.msg[0]);
	}
	/* stdin is never LSF's output, whatever the file says */
	{
		struct lc_err err = { 0 };

		CHECK_INT(
			lc_output_parse("{\"version\": 1, \"fds\": [{\"fd\": 0, \"kind\": \"file\","
					" \"path\": \"/x\", \"dev\": 1, \"ino\": 1, \"lsf\": true,"
					" \"build_id\": \"\", \"why\": \"\"}]}",
					&o, &err),
			==, 0);
		CHECK(!o.fds[0].lsf);
	}
	return TAP_PASS;
}

static int given_round_trip(void)
{
	struct lc_given g;
	struct lc_err err = { 0 };
	struct stat st;

	CHECK_INT(lc_given_record(tap_dirfd, "4242"), ==, 0);
	CHECK_INT(lc_given_load(tap_dirfd, getuid(), &g, &err), ==, 0);
	CHECK_STR(g.jobid, "4242");
	CHECK_INT(g.n, ==, 2);
	CHECK(fstat(1, &st) == 0);
	CHECK(g.fds[0].fd == 1 && g.fds[0].ino == (unsigned long long)st.st_ino);
	CHECK(lc_given_parse("{\"version\": 1, \"jobid\": \"1\", \"fds\": [{\"fd\": 0, \"dev\": 1,"
			     " \"ino\": 1}]}",
			     &g, &err) < 0);
	CHECK(lc_given_parse("{\"version\": 1, \"jobid\": \"1\", \"fds\": [{\"fd\": 1, \"dev\": 1,"
			     " \"ino\": 0}]}",
			     &g, &err) < 0);
	return TAP_PASS;
}

static int outfile_resolution(void)
{
	char buf[4096];

	unsetenv("LSB_OUTPUTFILE");
	CHECK_INT(lc_lsf_outfile("LSB_OUTPUTFILE", "5", true, buf, sizeof(buf)), ==, -ENOENT);
	setenv("LSB_OUTPUTFILE", "/abs/job.out", 1);
	CHECK_INT(lc_lsf_outfile("LSB_OUTPUTFILE", "5", true, buf, sizeof(buf)), ==, 0);
	CHECK_STR(buf, "/abs/job.out");
	/* As typed at bsub: relative to the submission directory, not to our cwd. */
	setenv("LSB_OUTPUTFILE", "s2.out", 1);
	unsetenv("LS_SUBCWD");
	CHECK_INT(lc_lsf_outfile("LSB_OUTPUTFILE", "5", true, buf, sizeof(buf)), ==, -EINVAL);
	setenv("LS_SUBCWD", "relative/dir", 1);
	CHECK_INT(lc_lsf_outfile("LSB_OUTPUTFILE", "5", true, buf, sizeof(buf)), ==, -EINVAL);
	setenv("LS_SUBCWD", tap_dir, 1);
	CHECK_INT(lc_lsf_outfile("LSB_OUTPUTFILE", "5", true, buf, sizeof(buf)), ==, 0);
	CHECK(!strncmp(buf, tap_dir, strlen(tap_dir)) && !strcmp(buf + strlen(tap_dir), "/s2.out"));
	/* -o naming a directory: LSF writes <dir>/<jobid>.out, -e <dir>/<jobid>.err */
	CHECK(mkdirat(tap_dirfd, "outdir", 0700) == 0);
	setenv("LSB_OUTPUTFILE", "outdir", 1);
	CHECK_INT(lc_lsf_outfile("LSB_OUTPUTFILE", "77", true, buf, sizeof(buf)), ==, 0);
	CHECK(strstr(buf, "/outdir/77.out") != NULL);
	CHECK_INT(lc_lsf_outfile("LSB_OUTPUTFILE", "77", false, buf, sizeof(buf)), ==, 0);
	CHECK(strstr(buf, "/outdir") && !strstr(buf, "77.out"));
	setenv("LSB_ERRORFILE", "outdir", 1);
	CHECK_INT(lc_lsf_outfile("LSB_ERRORFILE", "77", true, buf, sizeof(buf)), ==, 0);
	CHECK(strstr(buf, "/outdir/77.err") != NULL);
	CHECK_INT(lc_lsf_outfile("LSB_ERRORFILE", "../x", true, buf, sizeof(buf)), ==, -EINVAL);
	return TAP_PASS;
}

/* A spool file of "content", an -o file; returns the spool fd (O_APPEND). */
static int make_spool(const char *content, const char *ofile, struct lc_out_fd *img)
{
	struct stat st;
	int fd;

	/* as LSF gives it: opened for writing only, appending */
	fd = openat(tap_dirfd, "spool", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, content, strlen(content)) < 0 || fstat(fd, &st) < 0)
		return -1;
	memset(img, 0, sizeof(*img));
	img->fd = 1;
	img->kind = LC_OUT_FILE;
	img->lsf = true;
	img->dev = (unsigned long long)st.st_dev;
	img->ino = (unsigned long long)st.st_ino;
	snprintf(img->path, sizeof(img->path), "%s/spool", tap_dir);
	if (ofile && write_text(tap_dirfd, "job.out", ofile) < 0)
		return -1;
	setenv("LS_SUBCWD", tap_dir, 1);
	setenv("LSB_OUTPUTFILE", "job.out", 1);
	return fd;
}

static off_t fd_size(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 ? st.st_size : -1;
}

static int reused_spool_emptied_once_delivered(void)
{
	struct lc_out_fd img;
	int fd = make_spool("count 1\ncount 2\n", "report\ncount 1\ncount 2\ntrailer\n", &img);

	CHECK(fd >= 0);
	lc_output_reused_spool(fd, img.lsf ? img.dev : 0, img.lsf ? img.ino : 0, "LSB_OUTPUTFILE",
			       "5");
	CHECK_INT(fd_size(fd), ==, 0);
	close(fd);
	return TAP_PASS;
}

static int reused_spool_on_stderr_without_e(void)
{
	struct lc_out_fd img;
	int fd = make_spool("count 1\n", "count 1\n", &img);

	CHECK(fd >= 0);
	/* LSF's output reached the job only as stderr: without -e it is delivered to -o */
	unsetenv("LSB_ERRORFILE");
	lc_output_reused_spool(fd, img.dev, img.ino, "LSB_ERRORFILE", "5");
	CHECK_INT(fd_size(fd), ==, 0);
	close(fd);
	return TAP_PASS;
}

static int reused_spool_kept_when_not_delivered(void)
{
	struct lc_out_fd img;
	int fd = make_spool("count 1\ncount 2\n", "report\ncount 1\n", &img);

	CHECK(fd >= 0);
	lc_output_reused_spool(fd, img.lsf ? img.dev : 0, img.lsf ? img.ino : 0, "LSB_OUTPUTFILE",
			       "5");
	CHECK_INT(fd_size(fd), ==, 16);
	close(fd);
	/* no -o at all: nothing to check against, nothing removed */
	fd = make_spool("", NULL, &img);
	unsetenv("LSB_OUTPUTFILE");
	lc_output_reused_spool(fd, img.lsf ? img.dev : 0, img.lsf ? img.ino : 0, "LSB_OUTPUTFILE",
			       "5");
	CHECK_INT(fd_size(fd), ==, 16);
	close(fd);
	return TAP_PASS;
}

static int reused_spool_other_files_untouched(void)
{
	struct lc_out_fd img;
	int fd = make_spool("count 1\n", "count 1\n", &img);

	CHECK(fd >= 0);
	/* a new spool (another file than the image's): nothing to do */
	img.ino++;
	lc_output_reused_spool(fd, img.lsf ? img.dev : 0, img.lsf ? img.ino : 0, "LSB_OUTPUTFILE",
			       "5");
	CHECK_INT(fd_size(fd), ==, 8);
	img.ino--;
	/* the job's own file is never touched */
	img.lsf = false;
	lc_output_reused_spool(fd, img.lsf ? img.dev : 0, img.lsf ? img.ino : 0, "LSB_OUTPUTFILE",
			       "5");
	CHECK_INT(fd_size(fd), ==, 8);
	img.lsf = true;
	/* direct mode: the spool is the -o file itself */
	setenv("LSB_OUTPUTFILE", "spool", 1);
	lc_output_reused_spool(fd, img.lsf ? img.dev : 0, img.lsf ? img.ino : 0, "LSB_OUTPUTFILE",
			       "5");
	CHECK_INT(fd_size(fd), ==, 8);
	close(fd);
	return TAP_PASS;
}

static const char needs_head[] =
	"{\"version\": 1, \"jobid\": \"9\", \"host\": \"node1\", \"kernel\": \"6.1\","
	" \"criu_version\": \"4.2.1\", \"namespaced\": false,";

static char *needs_text(const char *cpu, const char *needs)
{
	char *t = NULL;

	if (asprintf(&t, "%s \"cpu\": %s, \"needs\": [%s]}", needs_head, cpu, needs) < 0)
		abort();
	return t;
}

static char *host_cpu(void)
{
	struct lc_cpu c;
	char *t = NULL;

	lc_cpu_read(&c);
	if (asprintf(&t,
		     "{\"arch\": \"%s\", \"flags\": [%s%s%s], \"xfeatures\": %llu,"
		     " \"xsave_size\": %u, \"xsave_size_max\": %u}",
		     c.arch, c.n_flags ? "\"" : "", c.n_flags ? c.flags[0] : "",
		     c.n_flags ? "\"" : "", c.xfeatures, c.xsave_size, c.xsave_size_max) < 0)
		abort();
	return t;
}

static int check_text(const char *text, struct lc_err *err)
{
	struct lc_needs n;
	int r;

	r = lc_needs_parse(text, &n, err);
	if (r < 0) {
		tap_diag("parse: %s", err->msg);
		return -1000;
	}
	r = lc_needs_check(&n, err);
	lc_needs_free(&n);
	return r;
}

static int needs_check_paths(void)
{
	_cleanup_free_ char *cpu = host_cpu(), *ok = NULL, *missing = NULL, *size = NULL,
			    *type = NULL, *append = NULL;
	char *entry = NULL;
	struct lc_err err = { 0 };

	CHECK(write_text(tap_dirfd, "data", "12345") == 0);
	CHECK(mkdirat(tap_dirfd, "wd", 0700) == 0);
	CHECK(asprintf(
		      &entry,
		      "{\"path\": \"%s/data\", \"type\": \"file\", \"size\": 5, \"build_id\": \"\", \"why\": "
		      "\"a file open in process 1 (sh)\"}, {\"path\": \"%s/wd\", \"type\": \"dir\","
		      " \"size\": -1, \"build_id\": \"\", \"why\": \"the working directory of process 1 (sh)\"},"
		      " {\"path\": \"/dev/null\", \"type\": \"device\", \"size\": -1, \"build_id\": \"\", \"why\": \"x\"}",
		      tap_dir, tap_dir) > 0);
	ok = needs_text(cpu, entry);
	free(entry);
	CHECK_INT(check_text(ok, &err), ==, 0);

	CHECK(asprintf(&entry,
		       "{\"path\": \"%s/gone/x\", \"type\": \"file\", \"size\": 5, "
		       "\"build_id\": \"\", \"why\": \"the executable of process 7 (app)\"}",
		       tap_dir) > 0);
	missing = needs_text(cpu, entry);
	free(entry);
	CHECK_INT(check_text(missing, &err), ==, -ENOENT);
	CHECK(strstr(err.msg, "/gone/x' (the executable of process 7 (app)) is missing on host"));

	CHECK(asprintf(&entry,
		       "{\"path\": \"%s/data\", \"type\": \"file\", \"size\": 4, \"build_id\": \"\", \"why\": "
		       "\"w\"}",
		       tap_dir) > 0);
	size = needs_text(cpu, entry);
	free(entry);
	CHECK_INT(check_text(size, &err), ==, -ESTALE);
	CHECK(strstr(err.msg, "is 5 bytes on host") && strstr(err.msg, "4 when the job was"));

	CHECK(asprintf(&entry,
		       "{\"path\": \"%s/data\", \"type\": \"dir\", \"size\": -1, \"build_id\": \"\", \"why\": "
		       "\"w\"}",
		       tap_dir) > 0);
	type = needs_text(cpu, entry);
	free(entry);
	CHECK_INT(check_text(type, &err), ==, -ESTALE);
	CHECK(strstr(err.msg, "is not a dir on host"));

	/* a file opened for appending: its size is not checked */
	CHECK(asprintf(&entry,
		       "{\"path\": \"%s/data\", \"type\": \"file\", \"size\": -1, \"build_id\": \"\", \"why\": "
		       "\"w\"}",
		       tap_dir) > 0);
	append = needs_text(cpu, entry);
	free(entry);
	CHECK_INT(check_text(append, &err), ==, 0);
	return TAP_PASS;
}

static int needs_check_build_id(void)
{
	_cleanup_free_ char *cpu = host_cpu(), *bad = NULL, *none = NULL;
	char *entry = NULL;
	struct lc_err err = { 0 };
	struct stat st;

	CHECK(stat("/usr/bin/dash", &st) == 0);
	/* the same size, another build: criu would refuse it */
	CHECK(asprintf(&entry,
		       "{\"path\": \"/usr/bin/dash\", \"type\": \"file\", \"size\": %lld,"
		       " \"build_id\": \"00ff\", \"why\": \"the executable of process 1 (sh)\"}",
		       (long long)st.st_size) > 0);
	bad = needs_text(cpu, entry);
	free(entry);
	CHECK_INT(check_text(bad, &err), ==, -ESTALE);
	CHECK(strstr(err.msg, "is not the file of host node1 (build-id ") &&
	      strstr(err.msg, ", not 00ff)"));
	CHECK(asprintf(&entry,
		       "{\"path\": \"/usr/bin/dash\", \"type\": \"file\", \"size\": %lld,"
		       " \"build_id\": \"\", \"why\": \"x\"}",
		       (long long)st.st_size) > 0);
	none = needs_text(cpu, entry);
	free(entry);
	CHECK_INT(check_text(none, &err), ==, 0);
	CHECK(lc_needs_parse(
		      "{\"version\": 1, \"jobid\": \"9\", \"host\": \"h\", \"kernel\": \"k\","
		      " \"criu_version\": \"4.2\", \"namespaced\": false, \"cpu\": {\"arch\":"
		      " \"x\", \"flags\": [], \"xfeatures\": 0, \"xsave_size\": 0,"
		      " \"xsave_size_max\": 0}, \"needs\": [{\"path\": \"/x\", \"type\": \"file\","
		      " \"size\": 1, \"build_id\": \"../..\", \"why\": \"w\"}]}",
		      &(struct lc_needs){ 0 }, &err) < 0);
	return TAP_PASS;
}

static int needs_check_cpu(void)
{
	struct lc_cpu c;
	struct lc_err err = { 0 };
	char *cpu = NULL, *text;

	lc_cpu_read(&c);
	CHECK(asprintf(&cpu,
		       "{\"arch\": \"%s\", \"flags\": [\"not_a_real_flag\"], \"xfeatures\": 0,"
		       " \"xsave_size\": 0, \"xsave_size_max\": 0}",
		       c.arch) > 0);
	text = needs_text(cpu, "");
	CHECK_INT(check_text(text, &err), ==, -ENOTSUP);
	CHECK(strstr(err.msg, "lacks the feature 'not_a_real_flag' that the CPU of host node1"));
	free(text);
	free(cpu);
	CHECK(asprintf(&cpu,
		       "{\"arch\": \"s390x-not-%s\", \"flags\": [], \"xfeatures\": 0,"
		       " \"xsave_size\": 0, \"xsave_size_max\": 0}",
		       c.arch) > 0);
	text = needs_text(cpu, "");
	CHECK_INT(check_text(text, &err), ==, -ENOTSUP);
	free(text);
	free(cpu);
	CHECK(asprintf(&cpu,
		       "{\"arch\": \"%s\", \"flags\": [], \"xfeatures\": %llu,"
		       " \"xsave_size\": 0, \"xsave_size_max\": 0}",
		       c.arch, (~c.xfeatures) & ((1ULL << 40) - 1)) > 0);
	text = needs_text(cpu, "");
	CHECK_INT(check_text(text, &err), ==, -ENOTSUP);
	CHECK(strstr(err.msg, "XSAVE state components"));
	free(text);
	free(cpu);
	return TAP_PASS;
}

static int needs_hostile(void)
{
	_cleanup_free_ char *cpu = host_cpu(), *rel = NULL, *type = NULL, *size = NULL;
	struct lc_needs n;
	struct lc_err err = { 0 };

	rel = needs_text(cpu, "{\"path\": \"relative\", \"type\": \"file\", \"size\": 1, "
			      "\"build_id\": \"\", \"why\": \"w\"}");
	CHECK(lc_needs_parse(rel, &n, &err) < 0);
	type = needs_text(
		cpu,
		"{\"path\": \"/x\", \"type\": \"fifo\", \"size\": 1, \"build_id\": \"\", \"why\": \"w\"}");
	CHECK(lc_needs_parse(type, &n, &err) < 0);
	size = needs_text(
		cpu,
		"{\"path\": \"/x\", \"type\": \"file\", \"size\": -2, \"build_id\": \"\", \"why\": \"w\"}");
	CHECK(lc_needs_parse(size, &n, &err) < 0);
	CHECK(lc_needs_parse("{\"version\": 1}", &n, &err) < 0);
	CHECK(lc_needs_parse("{\"version\": 9}", &n, &err) < 0);
	CHECK(n.v == NULL);
	return TAP_PASS;
}

static int criu_versions(void)
{
	CHECK(lc_criu_version_cmp("4.2.1", "4.2") > 0);
	CHECK(lc_criu_version_cmp("4.1.1", "4.2") < 0);
	CHECK(lc_criu_version_cmp("4.2", "4.2.0") == 0);
	CHECK(lc_criu_version_cmp("10.0", "4.9.9") > 0);
	CHECK(lc_criu_version_cmp("garbage", "4.2") == 0);
	return TAP_PASS;
}

static int restarts_published_beside_the_directory(void)
{
	_cleanup_close_ int dirfd = -1;
	_cleanup_free_ char *txt = NULL;
	long n = -1;

	CHECK(mkdirat(tap_dirfd, "123", 0700) == 0);
	dirfd = openat(tap_dirfd, "123", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(dirfd >= 0);
	CHECK_INT(lc_restarts_read(dirfd, "123", getuid(), &n), ==, -ENOENT);
	CHECK_INT(lc_restarts_start(dirfd, "123"), ==, 0);
	CHECK_INT(lc_restarts_read(dirfd, "123", getuid(), &n), ==, 0);
	CHECK_INT(n, ==, 0);
	/* LSF renames the directory on brestart: the count stays where the job looks. */
	CHECK(renameat(tap_dirfd, "123", tap_dirfd, "456") == 0);
	CHECK_INT(lc_restarts_publish(dirfd, "123", 2), ==, 0);
	CHECK(lc_read_file_at(tap_dirfd, "123.restarts", 64, getuid(), &txt, NULL) == 0);
	CHECK_STR(txt, "2\n");
	free(txt);
	txt = NULL;
	CHECK(lc_read_file_at(dirfd, "lsf-criu.restarts", 64, getuid(), &txt, NULL) == 0);
	CHECK_STR(txt, "2\n");
	/* once a count exists, a start does not reset it */
	CHECK_INT(lc_restarts_start(dirfd, "123"), ==, 0);
	CHECK_INT(lc_restarts_read(dirfd, "123", getuid(), &n), ==, 0);
	CHECK_INT(n, ==, 2);
	/* a planted symlink is replaced, never followed */
	CHECK(symlinkat("/etc/passwd", tap_dirfd, "9.restarts") == 0);
	CHECK_INT(lc_restarts_publish(dirfd, "9", 1), ==, 0);
	{
		struct stat st;

		CHECK(fstatat(tap_dirfd, "9.restarts", &st, AT_SYMLINK_NOFOLLOW) == 0);
		CHECK(S_ISREG(st.st_mode));
	}
	/* a job ID that would leave the base directory is refused */
	CHECK_INT(lc_restarts_publish(dirfd, "../x", 1), ==, -EINVAL);
	CHECK_INT(lc_restarts_publish(dirfd, "", 1), ==, -EINVAL);
	return TAP_PASS;
}

TAP_MAIN(TAP_CASE(output_valid), TAP_CASE(output_round_trip), TAP_CASE(output_hostile),
	 TAP_CASE(given_round_trip), TAP_CASE(outfile_resolution),
	 TAP_CASE(reused_spool_emptied_once_delivered), TAP_CASE(reused_spool_on_stderr_without_e),
	 TAP_CASE(reused_spool_kept_when_not_delivered),
	 TAP_CASE(reused_spool_other_files_untouched), TAP_CASE(needs_check_paths),
	 TAP_CASE(needs_check_build_id), TAP_CASE(needs_check_cpu), TAP_CASE(needs_hostile),
	 TAP_CASE(criu_versions), TAP_CASE(restarts_published_beside_the_directory), )
