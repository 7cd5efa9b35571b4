/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * memjob - a job holding a given amount of memory, for the benchmark and the
 * streaming tests.
 *
 *     memjob MIB random|compressible [SEED]
 *
 * random:       every byte from a PRNG (incompressible).
 * compressible: alternating 2 MiB regions of zero pages (written, so they are
 *               present and dumped) and of repeated 64-byte records (an index,
 *               a value, a short hash and a fixed text), like the arrays and
 *               tables of HPC jobs.
 *
 * It prints "ready <pid> <checksum>" once its memory is filled, then sleeps in
 * 5 ms steps. When it wakes after a gap of more than 100 ms (it was frozen
 * for a dump and later restored), it prints "resumed <epoch seconds>" and,
 * with a checksum of its memory, "memory <checksum>", so a test can compare
 * the restored memory with the dumped one. SIGUSR1 makes it print the
 * checksum again; SIGTERM ends it with status 0.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t want_sum, want_exit;

static void on_usr1(int s)
{
	(void)s;
	want_sum = 1;
}

static void on_term(int s)
{
	(void)s;
	want_exit = 1;
}

static uint64_t checksum(const uint64_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull + (i & 7);
	return h;
}

static double realtime(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	size_t mib, bytes, words;
	uint64_t *mem, s;
	struct timespec step = { 0, 5 * 1000 * 1000 };
	double last;
	bool random_fill;

	if (argc < 3 || (strcmp(argv[2], "random") && strcmp(argv[2], "compressible"))) {
		fprintf(stderr, "usage: memjob MIB random|compressible [SEED]\n");
		return 2;
	}
	mib = strtoul(argv[1], NULL, 10);
	s = argc > 3 ? strtoull(argv[3], NULL, 10) : 88172645463325252ull;
	s |= 1;
	random_fill = !strcmp(argv[2], "random");
	bytes = mib << 20;
	words = bytes / 8;
	mem = bytes ? mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
		    : NULL;
	if (bytes && mem == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	if (random_fill) {
		for (size_t i = 0; i < words; i++) {
			s ^= s << 13;
			s ^= s >> 7;
			s ^= s << 17;
			mem[i] = s;
		}
	} else {
		static const char text[40] = "particle-record:pos,vel,mass,charge,id!";

		for (size_t i = 0; i < words; i += 8) {
			uint64_t rec = i / 8;

			if ((i * 8 >> 21) & 1) {
				memset(&mem[i], 0, 64);
				continue;
			}
			double v = (double)rec * 1.5;

			mem[i] = rec;
			memcpy(&mem[i + 1], &v, 8);
			mem[i + 2] = (rec * 2654435761u) & 0xffff;
			memcpy(&mem[i + 3], text, 40);
		}
	}
	signal(SIGUSR1, on_usr1);
	signal(SIGTERM, on_term);
	printf("ready %d %016llx\n", (int)getpid(), (unsigned long long)checksum(mem, words));
	fflush(stdout);
	last = realtime();
	while (!want_exit) {
		double now;

		nanosleep(&step, NULL);
		now = realtime();
		if (now - last > 0.1) {
			printf("resumed %.6f\n", now);
			fflush(stdout);
			want_sum = 1;
		}
		if (want_sum) {
			want_sum = 0;
			printf("memory %016llx\n", (unsigned long long)checksum(mem, words));
			fflush(stdout);
		}
		last = realtime();
	}
	return 0;
}
