/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lsf-criu-streamer - lsf-criu's image streamer for criu --stream, by hand.
 *
 *     lsf-criu-streamer [options] capture IMAGE_DIR
 *     lsf-criu-streamer [options] serve IMAGE_DIR
 *     lsf-criu-streamer verify IMAGE_DIR
 *     lsf-criu-streamer export IMAGE_DIR OUT_DIR
 *
 * echkpnt.criu and lsf-criu-restore run the same streamer themselves; this
 * program is for running criu by hand on lsf-criu's image sets, checking
 * them, and for measurements. Expected identity: anyone (it acts on the
 * caller's own directories only, with the caller's rights).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "exitcodes.h"
#include "imgstream.h"
#include "log.h"
#include "util.h"
#include "version.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: lsf-criu-streamer [options] capture|serve IMAGE_DIR\n"
		"       lsf-criu-streamer verify IMAGE_DIR\n"
		"       lsf-criu-streamer export IMAGE_DIR OUT_DIR\n"
		"\n"
		"Serve criu's --stream for lsf-criu's image sets: 'capture' stores the images of a\n"
		"'criu dump --stream -D IMAGE_DIR' in IMAGE_DIR/images.lcs (direct I/O, zstd when it\n"
		"pays), 'serve' hands them to 'criu restore --stream -D IMAGE_DIR'. 'verify' checks\n"
		"every checksum; 'export' writes plain criu image files into the empty OUT_DIR\n"
		"(for crit and other criu tools).\n"
		"\n"
		"  -c, --compress auto|on|off  zstd compression (default auto: when it is faster)\n"
		"  -l, --level N               zstd level (default 1)\n"
		"  -j, --threads N             compression threads (default: the CPUs)\n"
		"  -b, --buffered              write through the page cache, not O_DIRECT\n"
		"  -r, --ready-fd FD           write one byte to FD once criu may start\n"
		"  -d, --discard               capture: store nothing (to measure criu and zstd alone)\n"
		"  -h, --help                  show this help\n"
		"  -V, --version               show the version\n"
		"\n"
		"The result is printed as key=value lines. See lsf-criu-streamer(8).\n");
}

static void print_stats(const char *what, const struct lc_stream_stats *st)
{
	printf("operation=%s\nfiles=%d\nraw_bytes=%lld\nstored_bytes=%lld\nfile_bytes=%lld\n"
	       "zstd_raw_bytes=%lld\nzstd_stored_bytes=%lld\nseconds=%.4f\nwrite_rate=%.0f\n"
	       "sync_seconds=%.4f\nzstd_rate=%.0f\nsample_ratio=%.4f\nthreads=%d\ndirect=%d\n"
	       "compressed=%d\ndecision=%s\npeak_rss_kib=%ld\n",
	       what, st->n_files, st->raw_bytes, st->stored_bytes, st->file_bytes, st->zstd_raw,
	       st->zstd_stored, st->seconds, st->write_rate, st->sync_seconds, st->zstd_rate,
	       st->sample_ratio, st->threads, st->direct, st->compressed, st->decision,
	       st->peak_rss_kib);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "compress", required_argument, NULL, 'c' },
		{ "level", required_argument, NULL, 'l' },
		{ "threads", required_argument, NULL, 'j' },
		{ "buffered", no_argument, NULL, 'b' },
		{ "ready-fd", required_argument, NULL, 'r' },
		{ "discard", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct lc_stream_opts o = { 0 };
	struct lc_stream_stats st = { 0 };
	struct lc_err err = { 0 };
	_cleanup_close_ int dirfd = -1, outfd = -1;
	const char *op;
	long v, ready = -1;
	int c, r;

	lc_log_init("lsf-criu-streamer");
	while ((c = getopt_long(argc, argv, "+c:l:j:br:dhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (!strcmp(optarg, "auto"))
				o.compress = LC_COMPRESS_AUTO;
			else if (!strcmp(optarg, "on"))
				o.compress = LC_COMPRESS_ON;
			else if (!strcmp(optarg, "off"))
				o.compress = LC_COMPRESS_OFF;
			else
				goto bad;
			break;
		case 'l':
			if (lc_parse_long(optarg, -7, 19, &v) < 0 || v == 0)
				goto bad;
			o.level = (int)v;
			break;
		case 'j':
			if (lc_parse_long(optarg, 1, 8, &v) < 0)
				goto bad;
			o.threads = (int)v;
			break;
		case 'b': o.buffered = true; break;
		case 'd': o.discard = true; break;
		case 'r':
			if (lc_parse_long(optarg, 0, 1 << 20, &ready) < 0)
				goto bad;
			break;
		case 'h': usage(stdout); return fflush(stdout) ? LC_EXIT_FAILURE : LC_EXIT_OK;
		case 'V':
			printf("lsf-criu-streamer (lsf-criu) %s (%s)\n", LC_VERSION, LC_GIT_ID);
			return fflush(stdout) ? LC_EXIT_FAILURE : LC_EXIT_OK;
		default: goto bad;
		}
	}
	if (argc - optind < 2)
		goto bad;
	op = argv[optind];
	if (strcmp(op, "export") ? argc - optind != 2 : argc - optind != 3)
		goto bad;
	dirfd = open(argv[optind + 1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		log_error("cannot open '%s': %s", argv[optind + 1], strerror(errno));
		return LC_EXIT_FAILURE;
	}
	if (ready >= 0 && fcntl((int)ready, F_SETFD, FD_CLOEXEC) < 0) {
		log_error("--ready-fd %ld is not open", ready);
		return LC_EXIT_USAGE;
	}
	if (!strcmp(op, "capture") || !strcmp(op, "serve")) {
		signal(SIGPIPE, SIG_IGN);
		if (fchdir(dirfd) < 0) {
			log_error("cannot enter '%s': %s", argv[optind + 1], strerror(errno));
			return LC_EXIT_FAILURE;
		}
		r = op[0] == 'c' ? lc_stream_capture(&o, (int)ready, &st)
				 : lc_stream_serve(&o, (int)ready, &st);
		if (r < 0) {
			log_error("%s failed: %s", op, st.err_msg);
			return LC_EXIT_FAILURE;
		}
		print_stats(op, &st);
	} else if (!strcmp(op, "verify")) {
		r = lc_stream_verify(dirfd, NULL, true, &st, &err);
		if (r < 0) {
			log_error("'%s' is damaged: %s", argv[optind + 1], err.msg);
			return LC_EXIT_FAILURE;
		}
		print_stats(op, &st);
	} else if (!strcmp(op, "export")) {
		outfd = open(argv[optind + 2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (outfd < 0) {
			log_error("cannot open '%s': %s", argv[optind + 2], strerror(errno));
			return LC_EXIT_FAILURE;
		}
		r = lc_stream_export(dirfd, outfd, &err);
		if (r < 0) {
			log_error("export of '%s' failed: %s", argv[optind + 1], err.msg);
			return LC_EXIT_FAILURE;
		}
		printf("operation=export\nfiles=%d\n", r);
	} else {
		goto bad;
	}
	return fflush(stdout) ? LC_EXIT_FAILURE : LC_EXIT_OK;
bad:
	fprintf(stderr, "Try 'lsf-criu-streamer --help' for more information.\n");
	return LC_EXIT_USAGE;
}
