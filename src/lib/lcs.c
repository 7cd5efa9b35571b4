/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The image container; see lcs.h.
 *
 * Writing: callers append records under one append lock into the current
 * write buffer; full buffers go to writer threads that pwrite() them at their
 * final offset, so several large aligned writes are in flight while the next
 * buffer fills. With O_DIRECT the data never enters the page cache.
 *
 * Reading: the chunks of one file are read in large aligned windows by a
 * prefetch thread while the caller checks, decompresses and writes the
 * previous window.
 *
 * Contract:
 * 1. Nothing read from a container is trusted: every length, offset and count
 *    is bounded before use, every payload is checked against its checksum.
 * 2. A container is complete only once lc_lcs_finish() returned 0: the footer
 *    is written last, then fdatasync.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include "lcs.h"
#include "util.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the container format is little-endian; add byte swapping for this host"
#endif

#define REC_MAGIC	 0x3152434cU /* "LCR1" */
#define FOOT_MAGIC	 "LCSFOOT1"
#define HEAD_TEXT	 "lsf-criu image stream 1\n"
#define LCS_VERSION	 1
#define MAX_CHUNK	 (4u << 20) /* largest raw chunk a reader accepts */
#define MAX_FILES	 (1 << 20)
#define MAX_CHUNKS	 (1u << 26)
#define WIN_SIZE	 (4u << 20) /* read window */
#define WIN_SLOTS	 4
#define PREFETCH_THREADS 3

enum rec_type { REC_HEAD = 1, REC_NAME = 2, REC_DATA = 3, REC_INDEX = 4 };

struct lcs_rec {
	uint32_t magic;
	uint16_t type;
	uint16_t codec;
	uint32_t file_id;
	uint32_t stored_len;
	uint32_t raw_len;
	uint32_t hdr_sum; /* low 32 bits of XXH3 of this header with hdr_sum = 0 */
	uint64_t file_off;
	uint64_t sum; /* XXH3-64 of the payload, seeded with file_off */
};
_Static_assert(sizeof(struct lcs_rec) == 40, "record header layout");

struct lcs_footer {
	char magic[8];
	uint64_t index_off; /* the INDEX record's header */
	uint64_t index_len;
	uint64_t data_end; /* end of the INDEX record */
	uint32_t n_files, n_chunks;
	uint32_t version, flags;
	uint64_t index_sum;
	uint64_t foot_sum; /* XXH3-64 of the bytes before it */
};
_Static_assert(sizeof(struct lcs_footer) == 64, "footer layout");

struct lcs_chunk {
	uint64_t off; /* of the record header */
	uint32_t stored, raw, codec;
};

/* ---- writing ---- */

struct wchunk {
	uint64_t off, file_off;
	uint32_t id, stored, raw, codec;
};

struct wfile {
	char name[LC_LCS_MAX_NAME + 1];
	uint64_t raw_size;
	bool ended, replaced;
};

struct wbuf {
	uint8_t *mem;
	size_t len;
	uint64_t off;
};

struct lc_lcs_writer {
	int fd;
	bool direct, discard;
	size_t bsz;
	int nbufs, nwriters;
	pthread_mutex_t append_mu; /* one appender at a time: a record is contiguous */
	pthread_mutex_t mu;	   /* the queues below */
	pthread_cond_t cv_free, cv_work, cv_done;
	struct wbuf *bufs;
	int *freeq, nfree;
	int *workq, qhead, qlen;
	int cur; /* buffer being filled, -1 none */
	size_t fill;
	uint64_t off; /* logical end of the container */
	pthread_t *writers;
	int nstarted;
	bool stop;
	int werr;
	int inflight;
	double busy_start, busy, sync_seconds;
	uint64_t written;
	struct wchunk *chunks;
	size_t nchunks, capchunks;
	struct wfile *files;
	int nfiles, capfiles;
	long long stored_bytes, zstd_raw, zstd_stored;
};

static uint32_t hdr_sum(const struct lcs_rec *h)
{
	struct lcs_rec c = *h;

	c.hdr_sum = 0;
	return (uint32_t)XXH3_64bits(&c, sizeof(c));
}

static uint64_t align_up(uint64_t v)
{
	return (v + LC_LCS_ALIGN - 1) & ~(uint64_t)(LC_LCS_ALIGN - 1);
}

static int pwrite_all(int fd, const uint8_t *p, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static void *writer_main(void *arg)
{
	struct lc_lcs_writer *w = arg;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		struct wbuf *b;
		int idx, r;

		while (!w->qlen && !w->stop)
			pthread_cond_wait(&w->cv_work, &w->mu);
		if (!w->qlen)
			break;
		idx = w->workq[w->qhead];
		w->qhead = (w->qhead + 1) % w->nbufs;
		w->qlen--;
		if (w->inflight++ == 0)
			w->busy_start = lc_now();
		pthread_mutex_unlock(&w->mu);
		b = &w->bufs[idx];
		r = w->werr ? 0 : pwrite_all(w->fd, b->mem, b->len, b->off);
		if (r == -EINVAL && w->direct) {
			/* A filesystem that takes O_DIRECT opens but not our writes. */
			int fl = fcntl(w->fd, F_GETFL);

			if (fl >= 0 && fcntl(w->fd, F_SETFL, fl & ~O_DIRECT) == 0) {
				w->direct = false;
				r = pwrite_all(w->fd, b->mem, b->len, b->off);
			}
		}
		pthread_mutex_lock(&w->mu);
		if (r < 0 && !w->werr)
			w->werr = -r;
		if (--w->inflight == 0)
			w->busy += lc_now() - w->busy_start;
		w->written += b->len;
		w->freeq[w->nfree++] = idx;
		pthread_cond_broadcast(&w->cv_free);
		pthread_cond_broadcast(&w->cv_done);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Queues the current buffer (len bytes) for writing. Called with mu held. */
static void queue_cur(struct lc_lcs_writer *w, size_t len)
{
	struct wbuf *b = &w->bufs[w->cur];

	b->len = len;
	b->off = w->off - w->fill;
	w->workq[(w->qhead + w->qlen) % w->nbufs] = w->cur;
	w->qlen++;
	w->cur = -1;
	w->fill = 0;
	pthread_cond_signal(&w->cv_work);
}

/* Appends bytes to the container. Called with append_mu held. */
static int append(struct lc_lcs_writer *w, const void *data, size_t n)
{
	const uint8_t *p = data;

	while (n) {
		size_t k;

		if (w->cur < 0) {
			pthread_mutex_lock(&w->mu);
			while (!w->nfree && !w->werr)
				pthread_cond_wait(&w->cv_free, &w->mu);
			if (w->werr) {
				pthread_mutex_unlock(&w->mu);
				return -w->werr;
			}
			w->cur = w->freeq[--w->nfree];
			w->fill = 0;
			pthread_mutex_unlock(&w->mu);
		}
		k = w->bsz - w->fill;
		if (k > n)
			k = n;
		if (p)
			memcpy(w->bufs[w->cur].mem + w->fill, p, k);
		else
			memset(w->bufs[w->cur].mem + w->fill, 0, k);
		w->fill += k;
		w->off += k;
		if (p)
			p += k;
		n -= k;
		if (w->fill == w->bsz) {
			pthread_mutex_lock(&w->mu);
			queue_cur(w, w->bsz);
			pthread_mutex_unlock(&w->mu);
		}
	}
	return w->werr ? -w->werr : 0;
}

static int append_rec(struct lc_lcs_writer *w, enum rec_type type, uint32_t id, uint64_t file_off,
		      enum lc_codec codec, const void *data, uint32_t stored, uint32_t raw,
		      uint64_t *ret_off)
{
	struct lcs_rec h = {
		.magic = REC_MAGIC,
		.type = (uint16_t)type,
		.codec = (uint16_t)codec,
		.file_id = id,
		.stored_len = stored,
		.raw_len = raw,
		.file_off = file_off,
		.sum = XXH3_64bits_withSeed(data, stored, file_off),
	};
	int r;

	h.hdr_sum = hdr_sum(&h);
	if (ret_off)
		*ret_off = w->off;
	r = append(w, &h, sizeof(h));
	return r < 0 ? r : append(w, data, stored);
}

int lc_lcs_create(int dirfd, const char *name, const struct lc_lcs_wopts *o,
		  struct lc_lcs_writer **ret, struct lc_err *err)
{
	struct lc_lcs_writer *w;
	int flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW;
	int r;

	w = calloc(1, sizeof(*w));
	if (!w)
		return lc_err_set(err, ENOMEM, "container");
	w->fd = -1;
	w->cur = -1;
	/*
	 * 12 MiB in flight (dd bs=16M has 16), 16 MiB of buffers in all: every
	 * buffer page is touched once per dump, and a first touch is slow on
	 * hosts that hand free memory back (VMs).
	 */
	w->bsz = o && o->buf_size ? o->buf_size : 4u << 20;
	w->nbufs = o && o->n_bufs ? o->n_bufs : 4;
	w->nwriters = o && o->n_writers ? o->n_writers : w->nbufs > 3 ? 3 : w->nbufs - 1;
	if (w->bsz % LC_LCS_ALIGN || w->nbufs < 2 || w->nwriters < 1 || w->nwriters >= w->nbufs) {
		free(w);
		return lc_err_set(err, EINVAL, "bad container write options");
	}
	pthread_mutex_init(&w->append_mu, NULL);
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv_free, NULL);
	pthread_cond_init(&w->cv_work, NULL);
	pthread_cond_init(&w->cv_done, NULL);
	if (o && o->discard) {
		w->fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		w->discard = true;
	} else if (!o || o->direct) {
		w->fd = openat(dirfd, name, flags | O_DIRECT, 0600);
		w->direct = w->fd >= 0;
	}
	if (w->fd < 0 && !w->discard && (errno == EINVAL || (o && !o->direct)))
		w->fd = openat(dirfd, name, flags, 0600);
	if (w->fd < 0) {
		r = lc_err_set(err, errno, "cannot create '%s'", name);
		lc_lcs_abort(w);
		return r;
	}
	w->bufs = calloc((size_t)w->nbufs, sizeof(*w->bufs));
	w->freeq = calloc((size_t)w->nbufs, sizeof(int));
	w->workq = calloc((size_t)w->nbufs, sizeof(int));
	w->writers = calloc((size_t)w->nwriters, sizeof(pthread_t));
	if (!w->bufs || !w->freeq || !w->workq || !w->writers) {
		lc_lcs_abort(w);
		return lc_err_set(err, ENOMEM, "container buffers");
	}
	for (int i = 0; i < w->nbufs; i++) {
		/* Untouched pages of a buffer cost no memory: small dumps stay small. */
		if (posix_memalign((void **)&w->bufs[i].mem, LC_LCS_ALIGN, w->bsz)) {
			lc_lcs_abort(w);
			return lc_err_set(err, ENOMEM, "container buffers");
		}
		w->freeq[w->nfree++] = i;
	}
	for (int i = 0; i < w->nwriters; i++) {
		r = pthread_create(&w->writers[i], NULL, writer_main, w);
		if (r) {
			lc_lcs_abort(w);
			return lc_err_set(err, r, "cannot start a writer thread");
		}
		w->nstarted++;
	}
	r = append_rec(w, REC_HEAD, 0, 0, LC_CODEC_RAW, HEAD_TEXT, sizeof(HEAD_TEXT) - 1,
		       sizeof(HEAD_TEXT) - 1, NULL);
	if (r < 0) {
		lc_lcs_abort(w);
		return lc_err_set(err, -r, "cannot write '%s'", name);
	}
	*ret = w;
	return 0;
}

static bool name_ok(const char *name, size_t len)
{
	if (len == 0 || len > LC_LCS_MAX_NAME ||
	    (name[0] == '.' && (len == 1 || (len == 2 && name[1] == '.'))))
		return false;
	for (size_t i = 0; i < len; i++)
		if (name[i] == '/' || (unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return false;
	return true;
}

int lc_lcs_add_file(struct lc_lcs_writer *w, const char *name, struct lc_err *err)
{
	size_t len = strlen(name);
	int id, r;

	if (!name_ok(name, len))
		return lc_err_set(err, EINVAL, "image file name '%.64s' is not a plain file name",
				  name);
	pthread_mutex_lock(&w->append_mu);
	for (int i = 0; i < w->nfiles; i++)
		if (!w->files[i].replaced && !strcmp(w->files[i].name, name))
			w->files[i].replaced = true;
	if (w->nfiles == w->capfiles) {
		int cap = w->capfiles ? 2 * w->capfiles : 64;
		struct wfile *nf = cap <= MAX_FILES ? realloc(w->files, (size_t)cap * sizeof(*nf))
						    : NULL;

		if (!nf) {
			pthread_mutex_unlock(&w->append_mu);
			return lc_err_set(err, ENOMEM, "too many image files");
		}
		w->files = nf;
		w->capfiles = cap;
	}
	id = w->nfiles++;
	memset(&w->files[id], 0, sizeof(w->files[id]));
	memcpy(w->files[id].name, name, len + 1);
	r = append_rec(w, REC_NAME, (uint32_t)id, 0, LC_CODEC_RAW, name, (uint32_t)len,
		       (uint32_t)len, NULL);
	pthread_mutex_unlock(&w->append_mu);
	if (r < 0)
		return lc_err_set(err, -r, "cannot write the image container");
	return id;
}

int lc_lcs_put(struct lc_lcs_writer *w, uint32_t id, uint64_t file_off, enum lc_codec codec,
	       const void *data, uint32_t stored, uint32_t raw)
{
	uint64_t off;
	int r;

	if (raw == 0 || raw > MAX_CHUNK || stored > ZSTD_compressBound(MAX_CHUNK) ||
	    (codec == LC_CODEC_RAW && stored != raw))
		return -EINVAL;
	pthread_mutex_lock(&w->append_mu);
	if (id >= (uint32_t)w->nfiles) {
		pthread_mutex_unlock(&w->append_mu);
		return -EINVAL;
	}
	if (w->nchunks == w->capchunks) {
		size_t cap = w->capchunks ? 2 * w->capchunks : 256;
		struct wchunk *nc = cap <= MAX_CHUNKS ? realloc(w->chunks, cap * sizeof(*nc))
						      : NULL;

		if (!nc) {
			pthread_mutex_unlock(&w->append_mu);
			return -ENOMEM;
		}
		w->chunks = nc;
		w->capchunks = cap;
	}
	r = append_rec(w, REC_DATA, id, file_off, codec, data, stored, raw, &off);
	if (r == 0) {
		w->chunks[w->nchunks++] = (struct wchunk){ .off = off,
							   .file_off = file_off,
							   .id = id,
							   .stored = stored,
							   .raw = raw,
							   .codec = codec };
		w->stored_bytes += stored;
		if (codec == LC_CODEC_ZSTD) {
			w->zstd_raw += raw;
			w->zstd_stored += stored;
		}
	}
	pthread_mutex_unlock(&w->append_mu);
	return r;
}

void lc_lcs_end_file(struct lc_lcs_writer *w, uint32_t id, uint64_t raw_size)
{
	pthread_mutex_lock(&w->append_mu);
	if (id < (uint32_t)w->nfiles) {
		w->files[id].raw_size = raw_size;
		w->files[id].ended = true;
	}
	pthread_mutex_unlock(&w->append_mu);
}

double lc_lcs_write_rate(struct lc_lcs_writer *w)
{
	double busy, rate;

	pthread_mutex_lock(&w->mu);
	busy = w->busy + (w->inflight ? lc_now() - w->busy_start : 0);
	rate = busy > 0.002 && w->written >= (4u << 20) ? (double)w->written / busy : 0;
	pthread_mutex_unlock(&w->mu);
	return rate;
}

static int cmp_wchunk(const void *a, const void *b)
{
	const struct wchunk *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->file_off < y->file_off ? -1 : x->file_off > y->file_off;
}

/* Byte buffer for the index. */
struct bb {
	uint8_t *p;
	size_t len, cap;
	bool oom;
};

static void bb_put(struct bb *b, const void *d, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		uint8_t *np;

		while (cap < b->len + n)
			cap *= 2;
		np = realloc(b->p, cap);
		if (!np) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

static int build_index(struct lc_lcs_writer *w, struct bb *b, uint32_t *ret_nfiles,
		       uint32_t *ret_nchunks, struct lc_err *err)
{
	uint32_t nfiles = 0, nchunks = 0, hdr[2] = { 0, 0 };
	size_t k = 0;

	if (w->nchunks)
		qsort(w->chunks, w->nchunks, sizeof(*w->chunks), cmp_wchunk);
	bb_put(b, hdr, sizeof(hdr));
	/* Files first: each one's chunks must cover it from 0 to its size. */
	for (int id = 0; id < w->nfiles; id++) {
		const struct wfile *f = &w->files[id];
		uint64_t expect = 0;
		uint32_t first = nchunks, n = 0;
		uint16_t nl = (uint16_t)strlen(f->name);
		uint32_t uid = (uint32_t)id;

		for (; k < w->nchunks && w->chunks[k].id == (uint32_t)id; k++) {
			if (f->replaced)
				continue;
			if (w->chunks[k].file_off != expect)
				return lc_err_msg(err, EIO,
						  "image '%s': data missing at offset %llu",
						  f->name, (unsigned long long)expect);
			expect += w->chunks[k].raw;
			n++;
		}
		if (f->replaced)
			continue;
		if (!f->ended)
			return lc_err_msg(err, EIO, "image '%s' was never completed", f->name);
		if (expect != f->raw_size)
			return lc_err_msg(err, EIO, "image '%s': %llu bytes stored of %llu",
					  f->name, (unsigned long long)expect,
					  (unsigned long long)f->raw_size);
		bb_put(b, &f->raw_size, 8);
		bb_put(b, &first, 4);
		bb_put(b, &n, 4);
		bb_put(b, &uid, 4);
		bb_put(b, &nl, 2);
		bb_put(b, f->name, nl);
		nchunks += n;
		nfiles++;
	}
	for (size_t i = 0; i < w->nchunks; i++) {
		const struct wchunk *c = &w->chunks[i];

		if (w->files[c->id].replaced)
			continue;
		bb_put(b, &c->off, 8);
		bb_put(b, &c->stored, 4);
		bb_put(b, &c->raw, 4);
		bb_put(b, &c->codec, 4);
	}
	if (b->oom)
		return lc_err_set(err, ENOMEM, "container index");
	hdr[0] = nfiles;
	hdr[1] = nchunks;
	memcpy(b->p, hdr, sizeof(hdr));
	*ret_nfiles = nfiles;
	*ret_nchunks = nchunks;
	return 0;
}

static void stop_writers(struct lc_lcs_writer *w)
{
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_broadcast(&w->cv_work);
	pthread_mutex_unlock(&w->mu);
	for (int i = 0; i < w->nstarted; i++)
		pthread_join(w->writers[i], NULL);
	w->nstarted = 0;
}

static void free_writer(struct lc_lcs_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	for (int i = 0; w->bufs && i < w->nbufs; i++)
		free(w->bufs[i].mem);
	free(w->bufs);
	free(w->freeq);
	free(w->workq);
	free(w->writers);
	free(w->chunks);
	free(w->files);
	pthread_mutex_destroy(&w->append_mu);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv_free);
	pthread_cond_destroy(&w->cv_work);
	pthread_cond_destroy(&w->cv_done);
	free(w);
}

int lc_lcs_finish(struct lc_lcs_writer *w, struct lc_lcs_wstats *st, struct lc_err *err)
{
	struct bb idx = { 0 };
	struct lcs_footer f = { .version = LCS_VERSION };
	uint64_t pad;
	double t0;
	int r;

	pthread_mutex_lock(&w->append_mu);
	r = build_index(w, &idx, &f.n_files, &f.n_chunks, err);
	if (r == 0) {
		f.index_len = idx.len;
		f.index_sum = XXH3_64bits_withSeed(idx.p, idx.len, 0);
		r = idx.len > UINT32_MAX
			    ? -EFBIG
			    : append_rec(w, REC_INDEX, 0, 0, LC_CODEC_RAW, idx.p, (uint32_t)idx.len,
					 (uint32_t)idx.len, &f.index_off);
		f.data_end = w->off;
		pad = align_up(w->off + sizeof(f)) - sizeof(f) - w->off;
		if (r == 0)
			r = append(w, NULL, pad);
		memcpy(f.magic, FOOT_MAGIC, 8);
		f.foot_sum = XXH3_64bits(&f, offsetof(struct lcs_footer, foot_sum));
		if (r == 0)
			r = append(w, &f, sizeof(f));
		if (r < 0)
			lc_err_set(err, -r, "cannot write the image container");
	}
	free(idx.p);
	pthread_mutex_lock(&w->mu);
	if (r == 0 && w->cur >= 0)
		queue_cur(w, w->fill);
	while (r == 0 && (w->qlen || w->inflight))
		pthread_cond_wait(&w->cv_done, &w->mu);
	pthread_mutex_unlock(&w->mu);
	pthread_mutex_unlock(&w->append_mu);
	stop_writers(w);
	if (r == 0 && w->werr)
		r = lc_err_set(err, w->werr, "cannot write the image container");
	t0 = lc_now();
	if (r == 0 && !w->discard && fdatasync(w->fd) < 0)
		r = lc_err_set(err, errno, "cannot flush the image container to disk");
	w->sync_seconds = lc_now() - t0;
	if (r == 0 && close(w->fd) < 0)
		r = lc_err_set(err, errno, "cannot close the image container");
	w->fd = -1;
	if (st) {
		int n = 0;

		for (int i = 0; i < w->nfiles; i++)
			n += !w->files[i].replaced;
		*st = (struct lc_lcs_wstats){
			.direct = w->direct,
			.n_files = n,
			.stored_bytes = w->stored_bytes,
			.file_bytes = (long long)w->off,
			.zstd_raw = w->zstd_raw,
			.zstd_stored = w->zstd_stored,
			.write_busy = w->busy,
			.sync_seconds = w->sync_seconds,
		};
		for (int i = 0; i < w->nfiles; i++)
			if (!w->files[i].replaced)
				st->raw_bytes += (long long)w->files[i].raw_size;
	}
	free_writer(w);
	return r;
}

void lc_lcs_abort(struct lc_lcs_writer *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	if (!w->werr)
		w->werr = ECANCELED;
	pthread_cond_broadcast(&w->cv_free);
	pthread_mutex_unlock(&w->mu);
	stop_writers(w);
	free_writer(w);
}

/* ---- reading ---- */

struct lc_lcs_reader {
	int fd;
	bool direct;
	uint64_t size, data_end;
	struct lc_lcs_file *files;
	int nfiles;
	struct lcs_chunk *chunks;
	uint32_t nchunks;
};

static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENODATA;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* Bounded little-endian reader over the index payload. */
struct cur {
	const uint8_t *p;
	size_t left;
};

static bool take(struct cur *c, void *out, size_t n)
{
	if (c->left < n)
		return false;
	memcpy(out, c->p, n);
	c->p += n;
	c->left -= n;
	return true;
}

int lc_lcs_parse_index(const void *buf, size_t len, uint64_t data_end,
		       struct lc_lcs_file **ret_files, int *ret_nfiles, void **ret_chunks,
		       uint32_t *ret_nchunks, struct lc_err *err)
{
	struct cur c = { buf, len };
	struct lc_lcs_file *files = NULL;
	struct lcs_chunk *chunks = NULL;
	uint32_t hdr[2], next = 0;
	int r = 0;

	if (!take(&c, hdr, sizeof(hdr)) || hdr[0] > MAX_FILES || hdr[1] > MAX_CHUNKS ||
	    (size_t)hdr[1] * 20 > len)
		return lc_err_msg(err, EBADMSG, "container index: bad counts");
	files = calloc(hdr[0] ? hdr[0] : 1, sizeof(*files));
	chunks = calloc(hdr[1] ? hdr[1] : 1, sizeof(*chunks));
	if (!files || !chunks) {
		r = lc_err_set(err, ENOMEM, "container index");
		goto out;
	}
	for (uint32_t i = 0; i < hdr[0]; i++) {
		struct lc_lcs_file *f = &files[i];
		uint16_t nl;

		if (!take(&c, &f->raw_size, 8) || !take(&c, &f->first_chunk, 4) ||
		    !take(&c, &f->n_chunks, 4) || !take(&c, &f->id, 4) || !take(&c, &nl, 2) ||
		    nl > LC_LCS_MAX_NAME || !take(&c, f->name, nl) || !name_ok(f->name, nl) ||
		    strlen(f->name) != nl || f->first_chunk != next ||
		    f->n_chunks > hdr[1] - next) {
			r = lc_err_msg(err, EBADMSG, "container index: bad file entry %u", i);
			goto out;
		}
		next += f->n_chunks;
		for (uint32_t j = 0; j < i; j++)
			if (!strcmp(files[j].name, f->name)) {
				r = lc_err_msg(err, EBADMSG, "container index: '%s' twice",
					       f->name);
				goto out;
			}
	}
	if (next != hdr[1]) {
		r = lc_err_msg(err, EBADMSG, "container index: chunk count mismatch");
		goto out;
	}
	for (uint32_t i = 0; i < hdr[1]; i++) {
		struct lcs_chunk *k = &chunks[i];

		if (!take(&c, &k->off, 8) || !take(&c, &k->stored, 4) || !take(&c, &k->raw, 4) ||
		    !take(&c, &k->codec, 4) || k->raw > MAX_CHUNK ||
		    k->stored > ZSTD_compressBound(MAX_CHUNK) || k->codec > LC_CODEC_ZSTD ||
		    (k->codec == LC_CODEC_RAW && k->stored != k->raw) || k->off > data_end ||
		    data_end - k->off < sizeof(struct lcs_rec) + k->stored) {
			r = lc_err_msg(err, EBADMSG, "container index: bad chunk entry %u", i);
			goto out;
		}
	}
	if (c.left) {
		r = lc_err_msg(err, EBADMSG, "container index: %zu trailing bytes", c.left);
		goto out;
	}
	for (uint32_t i = 0; i < hdr[0]; i++) {
		uint64_t sum = 0;

		for (uint32_t j = 0; j < files[i].n_chunks; j++) {
			sum += chunks[files[i].first_chunk + j].raw;
			files[i].stored_size += chunks[files[i].first_chunk + j].stored;
		}
		if (sum != files[i].raw_size) {
			r = lc_err_msg(err, EBADMSG, "container index: '%s' has %llu bytes of %llu",
				       files[i].name, (unsigned long long)sum,
				       (unsigned long long)files[i].raw_size);
			goto out;
		}
	}
	*ret_files = files;
	*ret_nfiles = (int)hdr[0];
	*ret_chunks = chunks;
	*ret_nchunks = hdr[1];
	return 0;
out:
	free(files);
	free(chunks);
	return r;
}

int lc_lcs_open(int dirfd, const char *name, bool direct, struct lc_lcs_reader **ret,
		struct lc_err *err)
{
	struct lc_lcs_reader *rd;
	struct lcs_footer f;
	struct lcs_rec h;
	struct stat st;
	uint8_t *blk = NULL, *ib = NULL;
	uint64_t lo, hi;
	void *chunks = NULL;
	int r;

	rd = calloc(1, sizeof(*rd));
	if (!rd)
		return lc_err_set(err, ENOMEM, "container");
	rd->fd = -1;
	if (direct) {
		rd->fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_DIRECT);
		rd->direct = rd->fd >= 0;
	}
	if (rd->fd < 0)
		rd->fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (rd->fd < 0) {
		r = lc_err_set(err, errno, "cannot open '%s'", name);
		goto fail;
	}
	if (fstat(rd->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = lc_err_set(err, EINVAL, "'%s' is not a regular file", name);
		goto fail;
	}
	rd->size = (uint64_t)st.st_size;
	if (rd->size < LC_LCS_ALIGN || rd->size % LC_LCS_ALIGN) {
		r = lc_err_msg(err, EBADMSG, "'%s' is truncated (%llu bytes)", name,
			       (unsigned long long)rd->size);
		goto fail;
	}
	if (posix_memalign((void **)&blk, LC_LCS_ALIGN, LC_LCS_ALIGN)) {
		r = lc_err_set(err, ENOMEM, "container");
		goto fail;
	}
	r = pread_all(rd->fd, blk, LC_LCS_ALIGN, rd->size - LC_LCS_ALIGN);
	if (r < 0) {
		r = lc_err_set(err, -r, "cannot read '%s'", name);
		goto fail;
	}
	memcpy(&f, blk + LC_LCS_ALIGN - sizeof(f), sizeof(f));
	if (memcmp(f.magic, FOOT_MAGIC, 8) ||
	    f.foot_sum != XXH3_64bits(&f, offsetof(struct lcs_footer, foot_sum))) {
		r = lc_err_msg(err, EBADMSG,
			       "'%s' is incomplete: no valid footer (the dump "
			       "did not finish)",
			       name);
		goto fail;
	}
	if (f.version != LCS_VERSION) {
		r = lc_err_msg(err, ENOTSUP, "'%s' is of format version %u, this lsf-criu reads %u",
			       name, f.version, LCS_VERSION);
		goto fail;
	}
	if (f.data_end > rd->size - sizeof(f) || f.index_len > UINT32_MAX ||
	    f.index_off > f.data_end || f.data_end - f.index_off != sizeof(h) + f.index_len) {
		r = lc_err_msg(err, EBADMSG, "'%s': bad footer", name);
		goto fail;
	}
	rd->data_end = f.data_end;
	lo = f.index_off & ~(uint64_t)(LC_LCS_ALIGN - 1);
	hi = align_up(f.data_end);
	if (posix_memalign((void **)&ib, LC_LCS_ALIGN, hi - lo)) {
		r = lc_err_set(err, ENOMEM, "container index");
		goto fail;
	}
	r = pread_all(rd->fd, ib, hi - lo, lo);
	if (r < 0) {
		r = lc_err_set(err, -r, "cannot read the index of '%s'", name);
		goto fail;
	}
	memcpy(&h, ib + (f.index_off - lo), sizeof(h));
	if (h.magic != REC_MAGIC || h.type != REC_INDEX || h.hdr_sum != hdr_sum(&h) ||
	    h.stored_len != f.index_len ||
	    XXH3_64bits_withSeed(ib + (f.index_off - lo) + sizeof(h), f.index_len, 0) !=
		    f.index_sum) {
		r = lc_err_msg(err, EBADMSG, "'%s': the index is damaged", name);
		goto fail;
	}
	r = lc_lcs_parse_index(ib + (f.index_off - lo) + sizeof(h), f.index_len, f.index_off,
			       &rd->files, &rd->nfiles, &chunks, &rd->nchunks, err);
	if (r < 0)
		goto fail;
	rd->chunks = chunks;
	free(blk);
	free(ib);
	*ret = rd;
	return 0;
fail:
	free(blk);
	free(ib);
	lc_lcs_close(rd);
	return r;
}

void lc_lcs_close(struct lc_lcs_reader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	free(r->files);
	free(r->chunks);
	free(r);
}

int lc_lcs_n_files(const struct lc_lcs_reader *r)
{
	return r->nfiles;
}

const struct lc_lcs_file *lc_lcs_file(const struct lc_lcs_reader *r, int i)
{
	return i >= 0 && i < r->nfiles ? &r->files[i] : NULL;
}

int lc_lcs_find(const struct lc_lcs_reader *r, const char *name)
{
	for (int i = 0; i < r->nfiles; i++)
		if (!strcmp(r->files[i].name, name))
			return i;
	return -ENOENT;
}

/* A read window: chunks [k0, k1) of a file, all inside [start, start + len). */
struct win {
	uint64_t start;
	size_t len;
	uint32_t k0, k1;
};

/*
 * Reads ahead: PREFETCH_THREADS readers take the next window each, so several
 * reads are in flight (direct I/O has no kernel readahead), into WIN_SLOTS
 * slots that the consumer frees in order.
 */
struct prefetch {
	struct lc_lcs_reader *r;
	struct win *w;
	uint32_t nwin;
	uint8_t *slot[WIN_SLOTS];
	int slot_err[WIN_SLOTS];
	int64_t ready[WIN_SLOTS]; /* the window a slot holds, -1 while being read */
	uint32_t next, consumed;  /* next window to read; windows released by the consumer */
	bool cancel;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

static void *prefetch_main(void *arg)
{
	struct prefetch *p = arg;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		uint32_t i = p->next;
		int s = (int)(i % WIN_SLOTS), r;

		if (i >= p->nwin || p->cancel)
			break;
		p->next++;
		while (i - p->consumed >= WIN_SLOTS && !p->cancel)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->cancel)
			break;
		pthread_mutex_unlock(&p->mu);
		r = pread_all(p->r->fd, p->slot[s], p->w[i].len, p->w[i].start);
		pthread_mutex_lock(&p->mu);
		p->slot_err[s] = r;
		p->ready[s] = i;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Plans the windows of file f. Returns their number, or a negative errno. */
static int plan_windows(const struct lc_lcs_reader *r, const struct lc_lcs_file *f,
			struct win **ret)
{
	struct win *w = calloc(f->n_chunks ? f->n_chunks : 1, sizeof(*w));
	uint32_t n = 0, end = f->first_chunk + f->n_chunks;

	if (!w)
		return -ENOMEM;
	for (uint32_t k = f->first_chunk; k < end;) {
		uint64_t lo = r->chunks[k].off,
			 hi = lo + sizeof(struct lcs_rec) + r->chunks[k].stored;
		uint64_t used = hi - lo;
		uint32_t j = k + 1;

		for (; j < end; j++) {
			const struct lcs_chunk *c = &r->chunks[j];
			uint64_t nlo = c->off < lo ? c->off : lo;
			uint64_t nhi = c->off + sizeof(struct lcs_rec) + c->stored;

			nhi = nhi > hi ? nhi : hi;
			if (align_up(nhi) - (nlo & ~(uint64_t)(LC_LCS_ALIGN - 1)) > WIN_SIZE ||
			    (nhi - nlo) - (used + sizeof(struct lcs_rec) + c->stored) > (1u << 20))
				break;
			lo = nlo;
			hi = nhi;
			used += sizeof(struct lcs_rec) + c->stored;
		}
		w[n].start = lo & ~(uint64_t)(LC_LCS_ALIGN - 1);
		w[n].len = (size_t)(align_up(hi) - w[n].start);
		w[n].k0 = k;
		w[n].k1 = j;
		n++;
		k = j;
	}
	*ret = w;
	return (int)n;
}

/* Checks and writes the chunks of one window. */
static int emit_window(const struct lc_lcs_reader *r, const struct lc_lcs_file *f,
		       const struct win *w, const uint8_t *buf, uint64_t *expect, ZSTD_DCtx *dctx,
		       uint8_t *dbuf, int out, struct lc_err *err)
{
	for (uint32_t k = w->k0; k < w->k1; k++) {
		const struct lcs_chunk *c = &r->chunks[k];
		const uint8_t *payload = buf + (c->off - w->start) + sizeof(struct lcs_rec);
		struct lcs_rec h;
		int wr = 0;

		memcpy(&h, buf + (c->off - w->start), sizeof(h));
		if (h.magic != REC_MAGIC || h.type != REC_DATA || h.hdr_sum != hdr_sum(&h) ||
		    h.file_id != f->id || h.file_off != *expect || h.stored_len != c->stored ||
		    h.raw_len != c->raw || h.codec != c->codec)
			return lc_err_msg(err, EBADMSG,
					  "image '%s': damaged record at offset %llu "
					  "of the container",
					  f->name, (unsigned long long)c->off);
		if (XXH3_64bits_withSeed(payload, c->stored, h.file_off) != h.sum)
			return lc_err_msg(err, EBADMSG,
					  "image '%s': checksum mismatch at offset "
					  "%llu of the image",
					  f->name, (unsigned long long)*expect);
		if (c->codec == LC_CODEC_ZSTD) {
			size_t got = ZSTD_decompressDCtx(dctx, dbuf, c->raw, payload, c->stored);

			if (ZSTD_isError(got) || got != c->raw)
				return lc_err_msg(err, EBADMSG,
						  "image '%s': cannot decompress at "
						  "offset %llu: %s",
						  f->name, (unsigned long long)*expect,
						  ZSTD_isError(got) ? ZSTD_getErrorName(got)
								    : "short");
			payload = dbuf;
		}
		if (out >= 0)
			wr = write_all(out, payload, c->raw);
		if (wr < 0)
			return lc_err_set(err, -wr, "cannot pass image '%s' on", f->name);
		*expect += c->raw;
	}
	return 0;
}

int lc_lcs_copy_out(struct lc_lcs_reader *r, int i, int out, struct lc_err *err)
{
	const struct lc_lcs_file *f = lc_lcs_file(r, i);
	struct prefetch p = { .r = r };
	ZSTD_DCtx *dctx = NULL;
	uint8_t *dbuf = NULL;
	uint64_t expect = 0;
	uint32_t maxraw = 0;
	size_t slot_size = LC_LCS_ALIGN;
	pthread_t th[PREFETCH_THREADS];
	int nth = 0;
	int n, ret = 0;

	if (!f)
		return lc_err_set(err, ENOENT, "no image file %d", i);
	n = plan_windows(r, f, &p.w);
	if (n < 0)
		return lc_err_set(err, -n, "reading '%s'", f->name);
	p.nwin = (uint32_t)n;
	for (uint32_t k = 0; k < f->n_chunks; k++)
		if (r->chunks[f->first_chunk + k].codec == LC_CODEC_ZSTD &&
		    r->chunks[f->first_chunk + k].raw > maxraw)
			maxraw = r->chunks[f->first_chunk + k].raw;
	if (maxraw && (!(dctx = ZSTD_createDCtx()) || !(dbuf = malloc(maxraw)))) {
		ret = lc_err_set(err, ENOMEM, "reading '%s'", f->name);
		goto out;
	}
	for (int k = 0; k < n; k++)
		slot_size = p.w[k].len > slot_size ? p.w[k].len : slot_size;
	for (int s = 0; s < WIN_SLOTS && s < n; s++)
		if (posix_memalign((void **)&p.slot[s], LC_LCS_ALIGN, slot_size)) {
			ret = lc_err_set(err, ENOMEM, "reading '%s'", f->name);
			goto out;
		}
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	for (int s = 0; s < WIN_SLOTS; s++)
		p.ready[s] = -1;
	while (n > 1 && nth < PREFETCH_THREADS && nth < n &&
	       pthread_create(&th[nth], NULL, prefetch_main, &p) == 0)
		nth++;
	for (uint32_t k = 0; k < p.nwin && ret == 0; k++) {
		int s = (int)(k % WIN_SLOTS), rr;

		if (nth) {
			pthread_mutex_lock(&p.mu);
			while (p.ready[s] != (int64_t)k)
				pthread_cond_wait(&p.cv, &p.mu);
			rr = p.slot_err[s];
			pthread_mutex_unlock(&p.mu);
		} else {
			rr = pread_all(r->fd, p.slot[s], p.w[k].len, p.w[k].start);
		}
		if (rr < 0)
			ret = lc_err_set(err, -rr, "cannot read image '%s' from the container",
					 f->name);
		else
			ret = emit_window(r, f, &p.w[k], p.slot[s], &expect, dctx, dbuf, out, err);
		pthread_mutex_lock(&p.mu);
		p.consumed = k + 1;
		pthread_cond_broadcast(&p.cv);
		pthread_mutex_unlock(&p.mu);
	}
	if (nth) {
		pthread_mutex_lock(&p.mu);
		p.cancel = true;
		pthread_cond_broadcast(&p.cv);
		pthread_mutex_unlock(&p.mu);
		for (int t = 0; t < nth; t++)
			pthread_join(th[t], NULL);
	}
	pthread_mutex_destroy(&p.mu);
	pthread_cond_destroy(&p.cv);
	if (ret == 0 && expect != f->raw_size)
		ret = lc_err_msg(err, EBADMSG, "image '%s' is short", f->name);
out:
	for (int s = 0; s < WIN_SLOTS; s++)
		free(p.slot[s]);
	free(p.w);
	free(dbuf);
	ZSTD_freeDCtx(dctx);
	return ret;
}
