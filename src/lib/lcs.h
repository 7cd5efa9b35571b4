/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The image container: every image file criu writes during one dump, kept in
 * one file ("images.lcs") of the image set instead of one file per image.
 *
 * Why one file: it is written with large aligned O_DIRECT writes (the page
 * cache's writeback throttling halves a big dump otherwise), made durable by
 * one fdatasync (no syncfs that makes concurrent checkpoints wait for each
 * other), and its chunks can be compressed independently.
 *
 * Layout (all integers little-endian):
 *   records, back to back, from offset 0:
 *     struct lcs_rec (40 bytes) + payload (stored_len bytes)
 *     type HEAD  payload "lsf-criu image stream 1\n"
 *     type NAME  payload: the image file's name (file_id is its index)
 *     type DATA  payload: raw_len bytes of the file from file_off, stored raw
 *                or as one zstd frame (codec)
 *     type INDEX payload: the index (below)
 *   zero padding, then a 64-byte footer ending at a 4096-byte boundary (the
 *   file size is always a multiple of 4096).
 *   Index: n_files file entries { u64 raw_size; u32 first_chunk; u32 n_chunks;
 *   u16 name_len; name } then n_chunks chunk entries { u64 off; u32 stored;
 *   u32 raw; u32 codec } sorted by file and offset within the file.
 * Every DATA payload carries an XXH3-64 checksum seeded with its file offset;
 * the index carries its own.
 */
#ifndef LC_LCS_H
#define LC_LCS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

#define LC_LCS_NAME	"images.lcs"
#define LC_LCS_ALIGN	4096
#define LC_LCS_MAX_NAME 255

enum lc_codec { LC_CODEC_RAW = 0, LC_CODEC_ZSTD = 1 };

struct lc_lcs_wopts {
	bool direct;	 /* try O_DIRECT (falls back to buffered writes + fdatasync) */
	size_t buf_size; /* bytes per write, a multiple of LC_LCS_ALIGN (0: 4 MiB) */
	int n_bufs;	 /* write buffers (0: 4) */
	int n_writers;	 /* writes in flight (0: 3) */
	bool discard;	 /* write nothing (measures everything but the disk) */
};

struct lc_lcs_wstats {
	bool direct; /* O_DIRECT was used */
	int n_files;
	long long raw_bytes;	/* sum of the image files' sizes */
	long long stored_bytes; /* payload bytes in the container */
	long long file_bytes;	/* size of the container */
	long long zstd_raw;	/* raw bytes stored compressed */
	long long zstd_stored;
	double write_busy;   /* seconds with a write in flight */
	double sync_seconds; /* fdatasync at the end */
};

struct lc_lcs_writer;

/* Creates name (O_EXCL, 0600) below dirfd. */
int lc_lcs_create(int dirfd, const char *name, const struct lc_lcs_wopts *o,
		  struct lc_lcs_writer **ret, struct lc_err *err);
/*
 * Adds an image file and returns its id (>= 0). A name given again replaces
 * the earlier file (criu truncates on open). Not thread-safe against itself.
 */
int lc_lcs_add_file(struct lc_lcs_writer *w, const char *name, struct lc_err *err);
/*
 * Appends one chunk of file id: raw_len bytes at file_off, stored as
 * stored_len bytes of data in codec. Thread-safe; blocks while every write
 * buffer is in flight. Returns 0 or a negative errno (the first write error).
 */
int lc_lcs_put(struct lc_lcs_writer *w, uint32_t id, uint64_t file_off, enum lc_codec codec,
	       const void *data, uint32_t stored_len, uint32_t raw_len);
/* The file ended with raw_size bytes. */
void lc_lcs_end_file(struct lc_lcs_writer *w, uint32_t id, uint64_t raw_size);
/* Current measured write rate in bytes/s of busy time (0 when unknown). */
double lc_lcs_write_rate(struct lc_lcs_writer *w);
/*
 * Writes the index and the footer, waits for every write, fdatasyncs and
 * frees w. Fails if a file's chunks do not cover it without gaps.
 */
int lc_lcs_finish(struct lc_lcs_writer *w, struct lc_lcs_wstats *st, struct lc_err *err);
/* Frees w without completing the container (the partial file stays). */
void lc_lcs_abort(struct lc_lcs_writer *w);

struct lc_lcs_reader;

struct lc_lcs_file {
	char name[LC_LCS_MAX_NAME + 1];
	uint64_t raw_size;
	uint64_t stored_size;
	uint32_t first_chunk, n_chunks;
	uint32_t id; /* the file's id in its records */
};

/* Opens and checks the footer and the index (O_DIRECT when direct and possible). */
int lc_lcs_open(int dirfd, const char *name, bool direct, struct lc_lcs_reader **ret,
		struct lc_err *err);
void lc_lcs_close(struct lc_lcs_reader *r);
int lc_lcs_n_files(const struct lc_lcs_reader *r);
const struct lc_lcs_file *lc_lcs_file(const struct lc_lcs_reader *r, int i);
/* The index of the file called name, or -ENOENT. */
int lc_lcs_find(const struct lc_lcs_reader *r, const char *name);
/*
 * Writes the content of file i to out (a pipe or a regular file), checking
 * every chunk's checksum. With out < 0 it only checks. Thread-safe for
 * different calls on one reader.
 */
int lc_lcs_copy_out(struct lc_lcs_reader *r, int i, int out, struct lc_err *err);
/* Parses an index payload (exposed for tests and fuzzing). */
int lc_lcs_parse_index(const void *buf, size_t len, uint64_t data_end,
		       struct lc_lcs_file **ret_files, int *ret_nfiles, void **ret_chunks,
		       uint32_t *ret_nchunks, struct lc_err *err);

#endif
