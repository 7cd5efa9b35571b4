/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of src/lib/lcs.c: the image container. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "lcs.h"
#include "tap.h"

static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t s = seed | 1;

	for (size_t i = 0; i < n; i++) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		p[i] = (uint8_t)s;
	}
}

/* Reads the whole regular file name of the case's directory. */
static uint8_t *slurp(const char *name, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	int fd = openat(tap_dirfd, name, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf && read(fd, buf, (size_t)st.st_size) != st.st_size) {
		free(buf);
		buf = NULL;
	}
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

/* Puts data as chunks of at most chunk bytes; zstd for every other chunk when z. */
static int put_file(struct lc_lcs_writer *w, int id, const uint8_t *data, size_t len, size_t chunk,
		    bool z)
{
	size_t bound = ZSTD_compressBound(chunk);
	uint8_t *dst = malloc(bound);
	int k = 0, r = 0;

	for (size_t off = 0; off < len && r == 0; off += chunk, k++) {
		size_t n = len - off < chunk ? len - off : chunk;

		if (z && (k & 1)) {
			size_t c = ZSTD_compress(dst, bound, data + off, n, 1);

			r = lc_lcs_put(w, (uint32_t)id, off, LC_CODEC_ZSTD, dst, (uint32_t)c,
				       (uint32_t)n);
		} else {
			r = lc_lcs_put(w, (uint32_t)id, off, LC_CODEC_RAW, data + off, (uint32_t)n,
				       (uint32_t)n);
		}
	}
	free(dst);
	lc_lcs_end_file(w, (uint32_t)id, len);
	return r;
}

/* A container with: empty.img (0 bytes), small.img, big.img (5 MiB + 3, half zstd). */
static int make_container(bool direct, uint8_t **ret_big, size_t *ret_len)
{
	struct lc_lcs_wopts o = { .direct = direct, .buf_size = 1 << 20, .n_bufs = 3 };
	struct lc_lcs_writer *w = NULL;
	struct lc_lcs_wstats st;
	struct lc_err err = { 0 };
	size_t len = (5 << 20) + 3;
	uint8_t *big = malloc(len);
	int e, s, b;

	if (!big)
		return -1;
	fill_random(big, len / 2, 7);
	memset(big + len / 2, 'z', len - len / 2);
	if (lc_lcs_create(tap_dirfd, LC_LCS_NAME, &o, &w, &err) < 0) {
		tap_diag("create: %s", err.msg);
		return -1;
	}
	e = lc_lcs_add_file(w, "empty.img", &err);
	s = lc_lcs_add_file(w, "small.img", &err);
	b = lc_lcs_add_file(w, "big.img", &err);
	if (e < 0 || s < 0 || b < 0)
		return -1;
	lc_lcs_end_file(w, (uint32_t)e, 0);
	if (put_file(w, s, (const uint8_t *)"hello", 5, 4096, false) < 0 ||
	    put_file(w, b, big, len, 1 << 20, true) < 0)
		return -1;
	if (lc_lcs_finish(w, &st, &err) < 0) {
		tap_diag("finish: %s", err.msg);
		return -1;
	}
	if (st.n_files != 3 || st.raw_bytes != (long long)len + 5 || st.file_bytes % 4096 ||
	    st.zstd_raw == 0 || st.zstd_stored >= st.zstd_raw)
		return -1;
	*ret_big = big;
	*ret_len = len;
	return 0;
}

static int copy_to_file(struct lc_lcs_reader *r, const char *name, const char *out)
{
	struct lc_err err = { 0 };
	int fd = openat(tap_dirfd, out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int k = lc_lcs_find(r, name), ret;

	if (fd < 0 || k < 0)
		return -1;
	ret = lc_lcs_copy_out(r, k, fd, &err);
	if (ret < 0)
		tap_diag("copy_out %s: %s", name, err.msg);
	close(fd);
	return ret;
}

static int roundtrip(bool direct)
{
	struct lc_lcs_reader *r = NULL;
	struct lc_err err = { 0 };
	uint8_t *big = NULL, *got;
	size_t len = 0, glen = 0;

	CHECK_INT(make_container(direct, &big, &len), ==, 0);
	CHECK_INT(lc_lcs_open(tap_dirfd, LC_LCS_NAME, direct, &r, &err), ==, 0);
	CHECK_INT(lc_lcs_n_files(r), ==, 3);
	CHECK_INT(lc_lcs_find(r, "nothere.img"), ==, -ENOENT);
	CHECK_INT(lc_lcs_file(r, lc_lcs_find(r, "empty.img"))->raw_size, ==, 0);
	CHECK_INT(lc_lcs_file(r, lc_lcs_find(r, "big.img"))->raw_size, ==, len);
	CHECK_INT(copy_to_file(r, "empty.img", "out.empty"), ==, 0);
	CHECK_INT(copy_to_file(r, "small.img", "out.small"), ==, 0);
	CHECK_INT(copy_to_file(r, "big.img", "out.big"), ==, 0);
	got = slurp("out.small", &glen);
	CHECK(got && glen == 5 && !memcmp(got, "hello", 5));
	free(got);
	got = slurp("out.empty", &glen);
	CHECK(got && glen == 0);
	free(got);
	got = slurp("out.big", &glen);
	CHECK(got && glen == len && !memcmp(got, big, len));
	free(got);
	free(big);
	lc_lcs_close(r);
	return TAP_PASS;
}

static int roundtrip_direct(void)
{
	return roundtrip(true);
}

static int roundtrip_buffered(void)
{
	return roundtrip(false);
}

/* A name given twice keeps the second file only (criu truncates on open). */
static int replaced_file(void)
{
	struct lc_lcs_writer *w = NULL;
	struct lc_lcs_reader *r = NULL;
	struct lc_err err = { 0 };
	uint8_t *got;
	size_t glen = 0;
	int a, b;

	CHECK_INT(lc_lcs_create(tap_dirfd, LC_LCS_NAME, NULL, &w, &err), ==, 0);
	a = lc_lcs_add_file(w, "a.img", &err);
	CHECK_INT(put_file(w, a, (const uint8_t *)"first", 5, 4096, false), ==, 0);
	b = lc_lcs_add_file(w, "a.img", &err);
	CHECK_INT(put_file(w, b, (const uint8_t *)"second!", 7, 4096, false), ==, 0);
	CHECK_INT(lc_lcs_finish(w, NULL, &err), ==, 0);
	CHECK_INT(lc_lcs_open(tap_dirfd, LC_LCS_NAME, true, &r, &err), ==, 0);
	CHECK_INT(lc_lcs_n_files(r), ==, 1);
	CHECK_INT(copy_to_file(r, "a.img", "out"), ==, 0);
	got = slurp("out", &glen);
	CHECK(got && glen == 7 && !memcmp(got, "second!", 7));
	free(got);
	lc_lcs_close(r);
	return TAP_PASS;
}

/* A file that never ended, or has a hole, cannot be committed. */
static int incomplete_refused(void)
{
	struct lc_lcs_writer *w = NULL;
	struct lc_err err = { 0 };
	int a;

	CHECK_INT(lc_lcs_create(tap_dirfd, "x.lcs", NULL, &w, &err), ==, 0);
	a = lc_lcs_add_file(w, "a.img", &err);
	CHECK_INT(lc_lcs_put(w, (uint32_t)a, 0, LC_CODEC_RAW, "abc", 3, 3), ==, 0);
	CHECK(lc_lcs_finish(w, NULL, &err) < 0);
	CHECK(strstr(err.msg, "never completed"));

	CHECK_INT(lc_lcs_create(tap_dirfd, "y.lcs", NULL, &w, &err), ==, 0);
	a = lc_lcs_add_file(w, "a.img", &err);
	CHECK_INT(lc_lcs_put(w, (uint32_t)a, 0, LC_CODEC_RAW, "abc", 3, 3), ==, 0);
	CHECK_INT(lc_lcs_put(w, (uint32_t)a, 10, LC_CODEC_RAW, "abc", 3, 3), ==, 0);
	lc_lcs_end_file(w, (uint32_t)a, 13);
	CHECK(lc_lcs_finish(w, NULL, &err) < 0);
	CHECK(strstr(err.msg, "missing at offset 3"));
	return TAP_PASS;
}

static int bad_names_refused(void)
{
	struct lc_lcs_writer *w = NULL;
	struct lc_err err = { 0 };
	char longname[300];

	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CHECK_INT(lc_lcs_create(tap_dirfd, LC_LCS_NAME, NULL, &w, &err), ==, 0);
	CHECK_INT(lc_lcs_add_file(w, "../etc/passwd", &err), ==, -EINVAL);
	CHECK_INT(lc_lcs_add_file(w, "a/b", &err), ==, -EINVAL);
	CHECK_INT(lc_lcs_add_file(w, "..", &err), ==, -EINVAL);
	CHECK_INT(lc_lcs_add_file(w, "", &err), ==, -EINVAL);
	CHECK_INT(lc_lcs_add_file(w, "tab\there", &err), ==, -EINVAL);
	CHECK_INT(lc_lcs_add_file(w, longname, &err), ==, -EINVAL);
	CHECK_INT(lc_lcs_put(w, 0, 0, LC_CODEC_RAW, "x", 1, 1), ==, -EINVAL);
	CHECK_INT(lc_lcs_finish(w, NULL, &err), ==, 0);
	return TAP_PASS;
}

/* An existing file is never overwritten. */
static int exclusive_create(void)
{
	struct lc_lcs_writer *w = NULL;
	struct lc_err err = { 0 };

	CHECK_INT(tap_write_str(LC_LCS_NAME, "keep"), ==, 0);
	CHECK_INT(lc_lcs_create(tap_dirfd, LC_LCS_NAME, NULL, &w, &err), ==, -EEXIST);
	return TAP_PASS;
}

static int truncated_refused(void)
{
	struct lc_lcs_reader *r = NULL;
	struct lc_err err = { 0 };
	uint8_t *big = NULL;
	size_t len;
	struct stat st;
	int fd;

	CHECK_INT(make_container(true, &big, &len), ==, 0);
	free(big);
	fd = openat(tap_dirfd, LC_LCS_NAME, O_WRONLY | O_CLOEXEC);
	CHECK(fd >= 0 && fstat(fd, &st) == 0);
	CHECK_INT(ftruncate(fd, st.st_size - 4096), ==, 0);
	close(fd);
	CHECK(lc_lcs_open(tap_dirfd, LC_LCS_NAME, true, &r, &err) < 0);
	CHECK(strstr(err.msg, "incomplete"));
	fd = openat(tap_dirfd, LC_LCS_NAME, O_WRONLY | O_CLOEXEC);
	CHECK_INT(ftruncate(fd, 100), ==, 0);
	close(fd);
	CHECK(lc_lcs_open(tap_dirfd, LC_LCS_NAME, true, &r, &err) < 0);
	CHECK(strstr(err.msg, "truncated"));
	return TAP_PASS;
}

/* Flips one byte at off (from the end when negative). */
static int flip(long long off)
{
	struct stat st;
	uint8_t c;
	int fd = openat(tap_dirfd, LC_LCS_NAME, O_RDWR | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0)
		return -1;
	if (off < 0)
		off += st.st_size;
	if (pread(fd, &c, 1, off) != 1)
		return -1;
	c ^= 0x40;
	if (pwrite(fd, &c, 1, off) != 1)
		return -1;
	return close(fd);
}

static int damaged_payload_detected(void)
{
	struct lc_lcs_reader *r = NULL;
	struct lc_err err = { 0 };
	uint8_t *big = NULL;
	size_t len;

	CHECK_INT(make_container(true, &big, &len), ==, 0);
	free(big);
	/* Somewhere in the first (raw) chunk of big.img. */
	CHECK_INT(flip(200000), ==, 0);
	CHECK_INT(lc_lcs_open(tap_dirfd, LC_LCS_NAME, true, &r, &err), ==, 0);
	CHECK(copy_to_file(r, "small.img", "out.small") == 0);
	CHECK(copy_to_file(r, "big.img", "out.big") < 0);
	CHECK_INT(lc_lcs_copy_out(r, lc_lcs_find(r, "big.img"), -1, &err), ==, -EBADMSG);
	CHECK(strstr(err.msg, "checksum mismatch"));
	lc_lcs_close(r);
	return TAP_PASS;
}

static int damaged_index_detected(void)
{
	struct lc_lcs_reader *r = NULL;
	struct lc_err err = { 0 };
	uint8_t *big = NULL;
	size_t len;

	CHECK_INT(make_container(true, &big, &len), ==, 0);
	free(big);
	/* A byte of the index (its offset is in the footer), then one of the footer. */
	{
		uint64_t index_off = 0;
		int fd = openat(tap_dirfd, LC_LCS_NAME, O_RDONLY | O_CLOEXEC);
		struct stat st;

		CHECK(fd >= 0 && fstat(fd, &st) == 0);
		CHECK(pread(fd, &index_off, 8, st.st_size - 64 + 8) == 8);
		close(fd);
		CHECK_INT(flip((long long)index_off + 40 + 9), ==, 0);
	}
	CHECK(lc_lcs_open(tap_dirfd, LC_LCS_NAME, true, &r, &err) < 0);
	CHECK(strstr(err.msg, "index is damaged"));
	CHECK_INT(flip(-30), ==, 0);
	CHECK(lc_lcs_open(tap_dirfd, LC_LCS_NAME, true, &r, &err) < 0);
	CHECK(strstr(err.msg, "no valid footer"));
	return TAP_PASS;
}

/* Hostile index payloads are refused, never crash. */
static int parse_index_hostile(void)
{
	struct lc_lcs_file *files = NULL;
	void *chunks = NULL;
	uint32_t nchunks = 0;
	int nfiles = 0;
	struct lc_err err = { 0 };
	uint8_t buf[512];
	uint32_t counts[2] = { 1, 1 };

	CHECK(lc_lcs_parse_index("", 0, 100, &files, &nfiles, &chunks, &nchunks, &err) < 0);
	counts[0] = 0x7fffffff;
	CHECK(lc_lcs_parse_index(counts, 8, 100, &files, &nfiles, &chunks, &nchunks, &err) < 0);
	/* One file whose chunk lies past the data. */
	memset(buf, 0, sizeof(buf));
	counts[0] = 1;
	counts[1] = 1;
	memcpy(buf, counts, 8);
	{
		uint64_t raw = 10, off = 1000;
		uint32_t first = 0, n = 1, id = 0, stored = 10, craw = 10, codec = 0;
		uint16_t nl = 5;
		size_t p = 8;

		memcpy(buf + p, &raw, 8), p += 8;
		memcpy(buf + p, &first, 4), p += 4;
		memcpy(buf + p, &n, 4), p += 4;
		memcpy(buf + p, &id, 4), p += 4;
		memcpy(buf + p, &nl, 2), p += 2;
		memcpy(buf + p, "a.img", 5), p += 5;
		memcpy(buf + p, &off, 8), p += 8;
		memcpy(buf + p, &stored, 4), p += 4;
		memcpy(buf + p, &craw, 4), p += 4;
		memcpy(buf + p, &codec, 4), p += 4;
		CHECK(lc_lcs_parse_index(buf, p, 100, &files, &nfiles, &chunks, &nchunks, &err) <
		      0);
		CHECK_INT(lc_lcs_parse_index(buf, p, 2000, &files, &nfiles, &chunks, &nchunks,
					     &err),
			  ==, 0);
		CHECK_INT(nfiles, ==, 1);
		free(files);
		free(chunks);
		/* A name with a slash. */
		memcpy(buf + 30, "a/img", 5);
		CHECK(lc_lcs_parse_index(buf, p, 2000, &files, &nfiles, &chunks, &nchunks, &err) <
		      0);
	}
	/* Random garbage. */
	for (int i = 0; i < 2000; i++) {
		fill_random(buf, sizeof(buf), (uint64_t)i + 1);
		if (i & 1)
			memcpy(buf, counts, 8);
		if (lc_lcs_parse_index(buf, (size_t)(i % (int)sizeof(buf)), 1 << 20, &files,
				       &nfiles, &chunks, &nchunks, &err) == 0) {
			free(files);
			free(chunks);
		}
	}
	return TAP_PASS;
}

/* Many writers at once keep every chunk (the append path is shared). */
struct put_arg {
	struct lc_lcs_writer *w;
	int id;
	const uint8_t *data;
	int ret;
};

static void *put_thread(void *arg)
{
	struct put_arg *a = arg;

	a->ret = put_file(a->w, a->id, a->data, 1 << 20, 4096, a->id & 1);
	return NULL;
}

static int concurrent_puts(void)
{
	struct lc_lcs_wopts o = { .direct = true, .buf_size = 64 << 10, .n_bufs = 3 };
	struct lc_lcs_writer *w = NULL;
	struct lc_lcs_reader *r = NULL;
	struct lc_err err = { 0 };
	struct put_arg args[4];
	pthread_t th[4];
	uint8_t *data = malloc(4 << 20);

	CHECK(data != NULL);
	fill_random(data, 4 << 20, 3);
	CHECK_INT(lc_lcs_create(tap_dirfd, LC_LCS_NAME, &o, &w, &err), ==, 0);
	CHECK_INT(lc_lcs_put(w, 0, 0, LC_CODEC_RAW, data, 0, 0), ==, -EINVAL);
	for (int t = 0; t < 4; t++) {
		char name[32];

		snprintf(name, sizeof(name), "f%d.img", t);
		args[t] = (struct put_arg){ w, lc_lcs_add_file(w, name, &err), data + t * (1 << 20),
					    0 };
		CHECK(args[t].id >= 0);
	}
	/* Four files written by four threads in 4 KiB chunks, interleaved. */
	for (int t = 0; t < 4; t++)
		CHECK_INT(pthread_create(&th[t], NULL, put_thread, &args[t]), ==, 0);
	for (int t = 0; t < 4; t++) {
		pthread_join(th[t], NULL);
		CHECK_INT(args[t].ret, ==, 0);
	}
	CHECK_INT(lc_lcs_finish(w, NULL, &err), ==, 0);
	CHECK_INT(lc_lcs_open(tap_dirfd, LC_LCS_NAME, true, &r, &err), ==, 0);
	for (int t = 0; t < 4; t++) {
		char name[32], out[32];
		uint8_t *got;
		size_t glen = 0;

		snprintf(name, sizeof(name), "f%d.img", t);
		snprintf(out, sizeof(out), "out%d", t);
		CHECK_INT(copy_to_file(r, name, out), ==, 0);
		got = slurp(out, &glen);
		CHECK(got && glen == 1 << 20 && !memcmp(got, data + t * (1 << 20), glen));
		free(got);
	}
	lc_lcs_close(r);
	free(data);
	return TAP_PASS;
}

TAP_MAIN(TAP_CASE(roundtrip_direct), TAP_CASE(roundtrip_buffered), TAP_CASE(replaced_file),
	 TAP_CASE(incomplete_refused), TAP_CASE(bad_names_refused), TAP_CASE(exclusive_create),
	 TAP_CASE(truncated_refused), TAP_CASE(damaged_payload_detected),
	 TAP_CASE(damaged_index_detected), TAP_CASE(parse_index_hostile),
	 TAP_CASE(concurrent_puts), )
