/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lsf-criu export: a streamed image set (images.lcs) written back as plain
 * criu image files, for crit and criu's other tools or a criu restore by hand.
 * Runs with the caller's rights on the caller's directories.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin.h"
#include "cleanup.h"
#include "exitcodes.h"
#include "imgstream.h"
#include "log.h"

static void usage(FILE *out)
{
	fprintf(out, "Usage: lsf-criu export [--verify] IMAGE_SET OUT_DIR\n"
		     "\n"
		     "Write every image of a streamed image set (IMAGE_SET/images.lcs, e.g.\n"
		     "$LSB_CHKPNT_DIR/ckpt.3) as a plain criu image file into OUT_DIR, which is\n"
		     "created if missing and must be empty; files are never overwritten. Every\n"
		     "chunk's checksum is checked on the way.\n"
		     "\n"
		     "  --verify   only check the image set (every checksum), write nothing\n"
		     "  -h, --help show this help\n"
		     "\n"
		     "Then, for example: crit show OUT_DIR/pstree.img\n");
}

int lc_admin_export(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "verify", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct lc_stream_stats st;
	struct lc_err err = { 0 };
	_cleanup_close_ int imgfd = -1, outfd = -1;
	bool verify = false;
	int c, n;

	optind = 1;
	while ((c = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'v': verify = true; break;
		case 'h': usage(stdout); return fflush(stdout) ? LC_EXIT_FAILURE : LC_EXIT_OK;
		case 'V': lc_admin_version("export"); return LC_EXIT_OK;
		default: return lc_admin_usage_error("export: bad option");
		}
	}
	if (argc - optind != (verify ? 1 : 2))
		return lc_admin_usage_error("export: expected an image set%s",
					    verify ? "" : " and an output directory");
	imgfd = open(argv[optind], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (imgfd < 0) {
		log_error("cannot open '%s': %s", argv[optind], strerror(errno));
		return LC_EXIT_FAILURE;
	}
	if (!lc_stream_is_streamed(imgfd)) {
		log_error("'%s' is not a streamed image set (no images.lcs): its images are plain "
			  "criu files already",
			  argv[optind]);
		return LC_EXIT_FAILURE;
	}
	if (verify) {
		if (lc_stream_verify(imgfd, NULL, true, &st, &err) < 0) {
			log_error("'%s' is damaged: %s", argv[optind], err.msg);
			return LC_EXIT_FAILURE;
		}
		printf("%s: %d images, %.1f MiB, every checksum correct\n", argv[optind],
		       st.n_files, (double)st.raw_bytes / 1048576.0);
		return fflush(stdout) ? LC_EXIT_FAILURE : LC_EXIT_OK;
	}
	if (mkdir(argv[optind + 1], 0700) < 0 && errno != EEXIST) {
		log_error("cannot create '%s': %s", argv[optind + 1], strerror(errno));
		return LC_EXIT_FAILURE;
	}
	outfd = open(argv[optind + 1], O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (outfd < 0) {
		log_error("cannot open '%s': %s", argv[optind + 1], strerror(errno));
		return LC_EXIT_FAILURE;
	}
	n = lc_stream_export(imgfd, outfd, &err);
	if (n < 0) {
		log_error("export of '%s' failed: %s", argv[optind], err.msg);
		return LC_EXIT_FAILURE;
	}
	printf("wrote %d criu image files into '%s'\n", n, argv[optind + 1]);
	return fflush(stdout) ? LC_EXIT_FAILURE : LC_EXIT_OK;
}
