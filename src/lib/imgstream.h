/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Our image streamer for criu's --stream.
 *
 * With --stream, criu does not write image files itself: it connects to
 * "streamer-capture.sock" (dump) or "streamer-serve.sock" (restore) in the
 * images directory, sends one request per image file (a 32-bit length and an
 * img_streamer_request_entry protobuf naming the file) and passes a pipe per
 * file over the socket (SCM_RIGHTS). At restore the streamer answers each
 * request with img_streamer_reply_entry (does the file exist) before the pipe.
 *
 * Capture puts every image into one container (lcs.h) written with large
 * O_DIRECT writes, compressing chunks with zstd on several threads when a
 * quick sample shows that it is faster than writing them raw. Serve reads the
 * container back (O_DIRECT, prefetched, checked) into criu's pipes.
 *
 * The streamer runs in a child process of the caller (lc_streamer_start), so
 * criu can run at the same time in any namespace that sees the directory.
 */
#ifndef LC_IMGSTREAM_H
#define LC_IMGSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"

#define LC_STREAM_CAPTURE_SOCK "streamer-capture.sock"
#define LC_STREAM_SERVE_SOCK   "streamer-serve.sock"

enum lc_compress { LC_COMPRESS_AUTO = 0, LC_COMPRESS_OFF, LC_COMPRESS_ON };

struct lc_stream_opts {
	enum lc_compress compress;
	int level;	       /* zstd level; 0: 1 */
	int threads;	       /* compression threads; 0: the CPUs we may run on (at most 8) */
	double disk_rate_hint; /* bytes/s earlier checkpoints reached in this directory; 0: unknown */
	bool buffered;	       /* never O_DIRECT */
	size_t chunk_size;     /* raw bytes per chunk; 0: 1 MiB */
	bool discard;	       /* store nothing: measures criu and compression alone */
};

struct lc_stream_stats {
	int n_files;
	long long raw_bytes; /* sum of the image files' sizes */
	long long stored_bytes;
	long long file_bytes; /* size of the container */
	long long zstd_raw, zstd_stored;
	double seconds;	   /* from criu's connection to the durable container */
	double write_rate; /* bytes/s while a write was in flight */
	double sync_seconds;
	double zstd_rate;    /* raw bytes/s one thread compressed (0: not measured) */
	double sample_ratio; /* stored/raw of the compressed sample (0: not measured) */
	int threads;
	bool direct;
	bool compressed;    /* zstd chosen for the bulk of the data */
	char decision[200]; /* why, with the numbers */
	long peak_rss_kib;  /* of the streamer process */
	int err_code;	    /* 0 or a positive errno */
	char err_msg[400];
};

/*
 * Runs a capture in the calling process: listens on LC_STREAM_CAPTURE_SOCK in
 * the current directory (which must be the image directory), writes one byte
 * to ready_fd (if >= 0) once criu may connect, stores every image criu sends
 * into LC_LCS_NAME there, durably. Returns 0 or a negative errno (st->err_*).
 */
int lc_stream_capture(const struct lc_stream_opts *o, int ready_fd, struct lc_stream_stats *st);
/* The same for a restore: serves LC_LCS_NAME of the current directory. */
int lc_stream_serve(const struct lc_stream_opts *o, int ready_fd, struct lc_stream_stats *st);

/* A streamer in a child process. */
struct lc_streamer {
	pid_t pid;
	int res_fd;
	bool serve;
};

/*
 * Forks a streamer for the image directory imgfd and returns once its socket
 * listens. The child dies with the caller.
 */
int lc_streamer_start(struct lc_streamer *s, bool serve, int imgfd, const struct lc_stream_opts *o,
		      struct lc_err *err);
/*
 * Waits for the streamer's result (criu must have ended: its pipes and socket
 * are then closed) until deadline (epoch seconds; 0: none). Returns 0 when the
 * container is complete and durable (capture) or was served whole (serve).
 */
int lc_streamer_finish(struct lc_streamer *s, long long deadline, struct lc_stream_stats *st,
		       struct lc_err *err);
/* Kills and reaps the streamer; harmless when there is none. */
void lc_streamer_stop(struct lc_streamer *s);

/* True if the image directory imgfd holds a streamed image set. */
bool lc_stream_is_streamed(int imgfd);
/*
 * Checks a streamed image set: the container's footer and index, that every
 * name in need (NULL-terminated, may be NULL) is there and not empty, and with
 * deep every chunk's checksum (reads the whole container).
 */
int lc_stream_verify(int imgfd, const char *const *need, bool deep, struct lc_stream_stats *st,
		     struct lc_err *err);
/*
 * Writes every image of a streamed image set as a plain file into outfd (an
 * empty directory), for criu's own tools (crit). Returns the number of files.
 */
int lc_stream_export(int imgfd, int outfd, struct lc_err *err);

#endif
