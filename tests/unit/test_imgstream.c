/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of src/lib/imgstream.c: criu's streamer protocol, spoken here by
 * the test in criu's place (one request message and one pipe per image), the
 * compression policy, verify and export. The system tests run real criu.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "imgstream.h"
#include "lcs.h"
#include "tap.h"

static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t s = seed | 1;

	for (size_t i = 0; i + 8 <= n; i += 8) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		memcpy(p + i, &s, 8);
	}
	for (size_t i = n & ~(size_t)7; i < n; i++)
		p[i] = (uint8_t)i;
}

static int cli_connect(const char *name)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s/%s", tap_dir, name);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		tap_diag("connect %s: %s", a.sun_path, strerror(errno));
		return -1;
	}
	return s;
}

/* As criu's pb_write_one: a native u32 length, then field 1 (string). */
static int cli_request(int s, const char *name)
{
	uint8_t buf[600];
	size_t n = strlen(name);
	uint32_t len = (uint32_t)(2 + n);

	memcpy(buf, &len, 4);
	buf[4] = 0x0a;
	buf[5] = (uint8_t)n;
	memcpy(buf + 6, name, n);
	return write(s, buf, 6 + n) == (ssize_t)(6 + n) ? 0 : -1;
}

static int cli_send_fd(int s, int fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	char c = 0;
	struct iovec iov = { &c, 1 };
	struct msghdr m = { .msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *h = CMSG_FIRSTHDR(&m);

	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(h), &fd, sizeof(int));
	return sendmsg(s, &m, 0) == 1 ? 0 : -1;
}

/* Reads img_streamer_reply_entry; returns exists (0/1) or -1. */
static int cli_reply(int s)
{
	uint8_t b[6];
	size_t got = 0;

	while (got < sizeof(b)) {
		ssize_t n = read(s, b + got, sizeof(b) - got);

		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	if (b[0] != 2 || b[4] != 0x08)
		return -1;
	return b[5];
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n > 65536 ? 65536 : n);

		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Opens an image for writing as criu does at dump: returns the pipe's write end. */
static int cli_open_dump(int s, const char *name)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0 || cli_request(s, name) < 0 || cli_send_fd(s, p[0]) < 0)
		return -1;
	close(p[0]);
	return p[1];
}

/* Opens an image for reading as criu does at restore: the read end, -2 if missing. */
static int cli_open_restore(int s, const char *name)
{
	int p[2], e;

	if (cli_request(s, name) < 0)
		return -1;
	e = cli_reply(s);
	if (e <= 0)
		return e == 0 ? -2 : -1;
	if (pipe2(p, O_CLOEXEC) < 0 || cli_send_fd(s, p[1]) < 0)
		return -1;
	close(p[1]);
	return p[0];
}

static uint8_t *read_to_end(int fd, size_t *len)
{
	size_t cap = 1 << 20, n = 0;
	uint8_t *b = malloc(cap);

	for (;;) {
		ssize_t k;

		if (n == cap) {
			cap *= 2;
			b = realloc(b, cap);
		}
		k = read(fd, b + n, cap - n);
		if (k <= 0)
			break;
		n += (size_t)k;
	}
	*len = n;
	return b;
}

/*
 * Dumps two images the way criu does (pagemap and pages open at once, written
 * in turns), and a small one. Returns 0 and the capture's stats.
 */
static int dump_two(const struct lc_stream_opts *o, const uint8_t *pages, size_t plen,
		    struct lc_stream_stats *st)
{
	struct lc_streamer sm;
	struct lc_err err = { 0 };
	int s, pm, pg, inv;

	if (lc_streamer_start(&sm, false, tap_dirfd, o, &err) < 0) {
		tap_diag("start: %s", err.msg);
		return -1;
	}
	s = cli_connect(LC_STREAM_CAPTURE_SOCK);
	if (s < 0)
		return -1;
	inv = cli_open_dump(s, "inventory.img");
	if (inv < 0 || write_all(inv, (const uint8_t *)"INVENTORY", 9) < 0)
		return -1;
	close(inv);
	pm = cli_open_dump(s, "pagemap-1.img");
	pg = cli_open_dump(s, "pages-1.img");
	if (pm < 0 || pg < 0)
		return -1;
	for (size_t off = 0; off < plen; off += 300000) {
		size_t n = plen - off < 300000 ? plen - off : 300000;
		char entry[64];

		snprintf(entry, sizeof(entry), "entry %zu\n", off);
		if (write_all(pm, (const uint8_t *)entry, strlen(entry)) < 0 ||
		    write_all(pg, pages + off, n) < 0)
			return -1;
	}
	close(pm);
	close(pg);
	close(s);
	if (lc_streamer_finish(&sm, 0, st, &err) < 0) {
		tap_diag("finish: %s", err.msg);
		return -1;
	}
	return 0;
}

static int capture_and_serve(void)
{
	struct lc_stream_opts o = { 0 };
	struct lc_stream_stats st;
	struct lc_streamer sm;
	struct lc_err err = { 0 };
	const char *need[] = { "inventory.img", "pages-1.img", NULL };
	const char *need_missing[] = { "core-7.img", NULL };
	size_t plen = (3 << 20) + 12345, glen;
	uint8_t *pages = malloc(plen), *got;
	int s, fd;

	CHECK(pages != NULL);
	fill_random(pages, plen, 11);
	CHECK_INT(dump_two(&o, pages, plen, &st), ==, 0);
	CHECK_INT(st.n_files, ==, 3);
	CHECK(st.raw_bytes > (long long)plen);
	CHECK(st.file_bytes % 4096 == 0);
	CHECK(lc_stream_is_streamed(tap_dirfd));
	/* No socket is left behind. */
	CHECK(faccessat(tap_dirfd, LC_STREAM_CAPTURE_SOCK, F_OK, AT_SYMLINK_NOFOLLOW) < 0);
	CHECK_INT(lc_stream_verify(tap_dirfd, need, true, &st, &err), ==, 0);
	CHECK_INT(lc_stream_verify(tap_dirfd, need_missing, false, &st, &err), ==, -ENOENT);
	CHECK(strstr(err.msg, "core-7.img"));

	CHECK_INT(lc_streamer_start(&sm, true, tap_dirfd, &o, &err), ==, 0);
	s = cli_connect(LC_STREAM_SERVE_SOCK);
	CHECK(s >= 0);
	CHECK_INT(cli_open_restore(s, "nothere.img"), ==, -2);
	/* The same image twice (criu-image-streamer refuses that; we need not). */
	for (int i = 0; i < 2; i++) {
		fd = cli_open_restore(s, "pages-1.img");
		CHECK(fd >= 0);
		got = read_to_end(fd, &glen);
		close(fd);
		CHECK(glen == plen && !memcmp(got, pages, plen));
		free(got);
	}
	fd = cli_open_restore(s, "inventory.img");
	CHECK(fd >= 0);
	got = read_to_end(fd, &glen);
	close(fd);
	CHECK(glen == 9 && !memcmp(got, "INVENTORY", 9));
	free(got);
	close(s);
	CHECK_INT(lc_streamer_finish(&sm, 0, &st, &err), ==, 0);
	CHECK(faccessat(tap_dirfd, LC_STREAM_SERVE_SOCK, F_OK, AT_SYMLINK_NOFOLLOW) < 0);
	free(pages);
	return TAP_PASS;
}

/* criu stops reading an image it needs no more of: not an error. */
static int serve_reader_stops_early(void)
{
	struct lc_stream_opts o = { 0 };
	struct lc_stream_stats st;
	struct lc_streamer sm;
	struct lc_err err = { 0 };
	size_t plen = 4 << 20;
	uint8_t *pages = malloc(plen), buf[100];
	int s, fd;

	CHECK(pages != NULL);
	fill_random(pages, plen, 5);
	CHECK_INT(dump_two(&o, pages, plen, &st), ==, 0);
	CHECK_INT(lc_streamer_start(&sm, true, tap_dirfd, &o, &err), ==, 0);
	s = cli_connect(LC_STREAM_SERVE_SOCK);
	fd = cli_open_restore(s, "pages-1.img");
	CHECK(fd >= 0);
	CHECK(read(fd, buf, sizeof(buf)) == sizeof(buf));
	CHECK(!memcmp(buf, pages, sizeof(buf)));
	close(fd);
	close(s);
	CHECK_INT(lc_streamer_finish(&sm, 0, &st, &err), ==, 0);
	free(pages);
	return TAP_PASS;
}

static int export_plain(void)
{
	struct lc_stream_opts o = { .compress = LC_COMPRESS_ON };
	struct lc_stream_stats st;
	struct lc_err err = { 0 };
	size_t plen = 2 << 20;
	uint8_t *pages = calloc(1, plen), *got;
	struct stat sb;
	int out, fd;
	size_t glen;

	CHECK(pages != NULL);
	memcpy(pages + 1000, "some data", 9);
	CHECK_INT(dump_two(&o, pages, plen, &st), ==, 0);
	CHECK(st.zstd_raw >= (long long)plen);
	CHECK(st.file_bytes < (long long)plen / 4);
	CHECK_INT(mkdirat(tap_dirfd, "plain", 0700), ==, 0);
	out = openat(tap_dirfd, "plain", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK_INT(lc_stream_export(tap_dirfd, out, &err), ==, 3);
	fd = openat(out, "pages-1.img", O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0 && fstat(fd, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	got = read_to_end(fd, &glen);
	close(fd);
	CHECK(glen == plen && !memcmp(got, pages, plen));
	free(got);
	/* Never over an existing file. */
	CHECK_INT(lc_stream_export(tap_dirfd, out, &err), ==, -EEXIST);
	close(out);
	free(pages);
	return TAP_PASS;
}

/* Auto: zero pages are compressed, random pages are not; off means off. */
static int policy_follows_content(void)
{
	struct lc_stream_opts o = { 0 };
	struct lc_stream_stats st;
	size_t plen = 48 << 20;
	uint8_t *pages = malloc(plen);
	int sub;

	CHECK(pages != NULL);
	fill_random(pages, plen, 9);
	CHECK_INT(dump_two(&o, pages, plen, &st), ==, 0);
	tap_diag("random: %s", st.decision);
	CHECK(!st.compressed);
	CHECK(!strncmp(st.decision, "raw:", 4));
	CHECK(st.stored_bytes >= (long long)plen);
	CHECK(st.zstd_rate > 0 && st.sample_ratio > 0.95);

	sub = openat(tap_dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK_INT(mkdirat(tap_dirfd, "z", 0700), ==, 0);
	tap_dirfd = openat(sub, "z", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	strncat(tap_dir, "/z", sizeof(tap_dir) - strlen(tap_dir) - 1);
	memset(pages, 0, plen);
	CHECK_INT(dump_two(&o, pages, plen, &st), ==, 0);
	tap_diag("zeros: %s", st.decision);
	CHECK(st.compressed);
	CHECK(!strncmp(st.decision, "zstd:", 5));
	CHECK(st.file_bytes < (long long)plen / 4);
	CHECK(st.zstd_raw > (long long)plen * 3 / 4);

	CHECK_INT(mkdirat(tap_dirfd, "off", 0700), ==, 0);
	tap_dirfd = openat(tap_dirfd, "off", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	strncat(tap_dir, "/off", sizeof(tap_dir) - strlen(tap_dir) - 1);
	o.compress = LC_COMPRESS_OFF;
	CHECK_INT(dump_two(&o, pages, plen, &st), ==, 0);
	CHECK_INT(st.zstd_raw, ==, 0);
	close(sub);
	free(pages);
	return TAP_PASS;
}

/* Requests that are not criu's make the capture fail with a clear error. */
static int hostile_requests(void)
{
	static const char *bad[] = { "../x.img", "a/b.img", "", NULL };
	struct lc_stream_opts o = { 0 };
	struct lc_stream_stats st;
	struct lc_streamer sm;
	struct lc_err err = { 0 };
	uint32_t huge = 1 << 20;
	int s;

	for (int i = 0; bad[i]; i++) {
		int fd;

		CHECK_INT(lc_streamer_start(&sm, false, tap_dirfd, &o, &err), ==, 0);
		s = cli_connect(LC_STREAM_CAPTURE_SOCK);
		fd = cli_open_dump(s, bad[i]);
		if (fd >= 0)
			close(fd);
		close(s);
		CHECK(lc_streamer_finish(&sm, 0, &st, &err) < 0);
		tap_diag("'%s': %s", bad[i], err.msg);
		(void)unlinkat(tap_dirfd, LC_LCS_NAME, 0);
	}
	CHECK_INT(lc_streamer_start(&sm, false, tap_dirfd, &o, &err), ==, 0);
	s = cli_connect(LC_STREAM_CAPTURE_SOCK);
	CHECK(write(s, &huge, 4) == 4);
	close(s);
	CHECK(lc_streamer_finish(&sm, 0, &st, &err) < 0);
	CHECK(strstr(err.msg, "bad request"));
	return TAP_PASS;
}

/* A serve of a damaged container fails before criu may connect. */
static int serve_refuses_damaged(void)
{
	struct lc_stream_opts o = { 0 };
	struct lc_streamer sm;
	struct lc_err err = { 0 };

	CHECK_INT(tap_write_str(LC_LCS_NAME, "not a container"), ==, 0);
	CHECK(lc_streamer_start(&sm, true, tap_dirfd, &o, &err) < 0);
	tap_diag("%s", err.msg);
	CHECK(strstr(err.msg, "truncated"));
	return TAP_PASS;
}

TAP_MAIN(TAP_CASE(capture_and_serve), TAP_CASE(serve_reader_stops_early), TAP_CASE(export_plain),
	 TAP_CASE(policy_follows_content), TAP_CASE(hostile_requests),
	 TAP_CASE(serve_refuses_damaged), )
