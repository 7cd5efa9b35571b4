/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of src/lib/plan.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "meta.h"
#include "plan.h"
#include "tap.h"

static const char rollup[] =
	"55d0c6a9e000-7ffd6b1f8000 ---p 00000000 00:00 0                          [rollup]\n"
	"Rss:              524800 kB\n"
	"Pss:              524500 kB\n"
	"Pss_Dirty:        524300 kB\n"
	"Pss_Anon:         524288 kB\n"
	"Pss_File:            200 kB\n"
	"Pss_Shmem:          1024 kB\n"
	"Anonymous:        524288 kB\n"
	"Swap:                  0 kB\n"
	"SwapPss:             512 kB\n";

static int parse_rollup(void)
{
	long long b = 0;

	CHECK_INT(lc_plan_parse_rollup(rollup, &b), ==, 0);
	CHECK_INT(b, ==, (524288LL + 1024 + 512) * 1024);
	CHECK_INT(lc_plan_parse_rollup("", &b), ==, -EINVAL);
	CHECK_INT(lc_plan_parse_rollup("Rss: 5 kB\n", &b), ==, -EINVAL);
	CHECK_INT(lc_plan_parse_rollup("Pss_Anon: lots kB\n", &b), ==, -EINVAL);
	CHECK_INT(lc_plan_parse_rollup("Pss_Anon: -5 kB\n", &b), ==, -EINVAL);
	CHECK_INT(lc_plan_parse_rollup("Pss_Anon: 99999999999999999999 kB\n", &b), ==, -EINVAL);
	CHECK_INT(lc_plan_parse_rollup("Pss_Anon:   7 kB", &b), ==, 0);
	CHECK_INT(b, ==, 7 * 1024);
	return TAP_PASS;
}

/* Our own memory: 64 MiB touched shows up; a vanished pid is skipped. */
static int tree_bytes_of_self(void)
{
	size_t len = 64 << 20;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pid_t pids[2] = { getpid(), 0x3ffffe };
	long long b = 0;

	CHECK(p != MAP_FAILED);
	memset(p, 1, len);
	CHECK_INT(lc_plan_tree_bytes(pids, 2, &b), ==, 0);
	CHECK(b >= (long long)len);
	CHECK(b < (long long)len * 4);
	munmap(p, len);
	return TAP_PASS;
}

static int rate_of_current(void)
{
	struct lc_meta *m = calloc(1, sizeof(*m));
	struct lc_plan pl = { .bytes = 10LL << 30 };
	char name[64];
	double rate = 0;
	int img;

	CHECK(m != NULL);
	CHECK_INT(lc_plan_rate_of_current(tap_dirfd, getuid(), &rate, name, sizeof(name)), ==,
		  -ENOENT);
	CHECK_INT(mkdirat(tap_dirfd, "ckpt.3", 0700), ==, 0);
	img = openat(tap_dirfd, "ckpt.3", O_RDONLY | O_DIRECTORY);
	snprintf(m->jobid, sizeof(m->jobid), "7");
	snprintf(m->criu_version, sizeof(m->criu_version), "4.2.1");
	m->uid = getuid();
	m->root_pid = 100;
	m->n_pids = 1;
	m->pids[0] = 100;
	m->dump_seconds = 2.0;
	m->image_bytes = 512LL << 20;
	m->raw_bytes = 2048LL << 20;
	m->stream = true;
	CHECK_INT(lc_meta_save(img, m), ==, 0);
	CHECK_INT(lc_current_save(tap_dirfd, "ckpt.3"), ==, 0);
	CHECK_INT(lc_plan_rate_of_current(tap_dirfd, getuid(), &rate, name, sizeof(name)), ==, 0);
	CHECK(rate == 1024.0 * 1048576.0);
	CHECK_STR(name, "ckpt.3");
	lc_plan_estimate(&pl, rate, "ckpt.3");
	CHECK(pl.seconds > 10.0 && pl.seconds < 11.0);
	lc_plan_estimate(&pl, 0, NULL);
	CHECK(pl.rate == LC_PLAN_ASSUMED_RATE);
	CHECK(strstr(pl.rate_from, "assumed"));
	/* A tiny image set measures fixed costs, not the disk: not used. */
	m->raw_bytes = 1 << 20;
	CHECK_INT(unlinkat(img, "meta.json", 0), ==, 0);
	CHECK_INT(lc_meta_save(img, m), ==, 0);
	CHECK_INT(lc_plan_rate_of_current(tap_dirfd, getuid(), &rate, name, sizeof(name)), ==,
		  -ENOENT);
	close(img);
	free(m);
	return TAP_PASS;
}

TAP_MAIN(
	TAP_CASE(parse_rollup),
	TAP_CASE(tree_bytes_of_self),
	TAP_CASE(rate_of_current),
)
