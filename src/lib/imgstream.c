/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Our image streamer for criu's --stream; see imgstream.h.
 *
 * Capture: the main thread accepts criu's requests and reads every image
 * pipe that has data (criu writes several images at once, e.g. a task's
 * pagemap and pages, so a blocking read of one pipe could deadlock) into
 * chunk buffers. Full chunks go to worker threads that compress them or not
 * (the policy below) and append them to the container, whose writer threads
 * keep large O_DIRECT writes in flight.
 *
 * Compression policy (LC_COMPRESS_AUTO): the first SAMPLE_BYTES of large
 * chunks are compressed as a sample, which measures the ratio and the speed
 * of one CPU; while the disk's rate is not known (no hint, less than a few
 * MiB written), every other chunk of it is written raw to measure it. zstd is then used only if it makes the dump faster:
 *     min(threads x speed, disk rate / ratio) > MARGIN x disk rate
 * where the disk rate is the one measured by our writes so far, else the
 * rate earlier checkpoints reached here, else DEFAULT_DISK_RATE. In raw mode
 * one chunk in PROBE_EVERY is still compressed, so the decision follows the
 * memory as it changes (zero pages, then dense arrays). A chunk that does not
 * shrink is stored raw.
 *
 * Serve: criu asks for the files one request at a time but several restoring
 * processes may read their pipes at once, so every file is served by its own
 * thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "imgstream.h"
#include "lcs.h"
#include "util.h"

#define SAMPLE_BYTES	  (32u << 20)
#define PROBE_EVERY	  32
#define MIN_ELIGIBLE	  (64u << 10)
#define DEFAULT_DISK_RATE 2.0e9
#define MARGIN		  1.15
#define DECAY		  0.95
#define MAX_REQUEST	  4096
#define MAX_OPEN	  1024
#define PIPE_BIG	  (1 << 20)

/* ---- criu's protocol ---- */

static int read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return got ? -EPROTO : 0;
		got += (size_t)n;
	}
	return 1;
}

static int write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

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

static int varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *ret)
{
	uint64_t v = 0;

	for (int shift = 0; shift < 64; shift += 7) {
		if (*pos >= len)
			return -EPROTO;
		v |= (uint64_t)(p[*pos] & 0x7f) << shift;
		if (!(p[(*pos)++] & 0x80)) {
			*ret = v;
			return 0;
		}
	}
	return -EPROTO;
}

/*
 * Reads one img_streamer_request_entry: a native 32-bit length, then the
 * message, whose field 1 is the file name. Returns 1, 0 at EOF, or -errno.
 */
static int read_request(int sock, char *name, size_t size)
{
	uint8_t buf[MAX_REQUEST];
	uint32_t len;
	size_t pos = 0;
	bool have = false;
	int r;

	r = read_full(sock, &len, sizeof(len));
	if (r <= 0)
		return r;
	if (len > sizeof(buf))
		return -EPROTO;
	r = read_full(sock, buf, len);
	if (r <= 0)
		return r ? r : -EPROTO;
	while (pos < len) {
		uint64_t key, l;

		if (varint(buf, len, &pos, &key) < 0)
			return -EPROTO;
		switch (key & 7) {
		case 0:
			if (varint(buf, len, &pos, &l) < 0)
				return -EPROTO;
			break;
		case 1:
		case 5:
			pos += (key & 7) == 1 ? 8 : 4;
			if (pos > len)
				return -EPROTO;
			break;
		case 2:
			if (varint(buf, len, &pos, &l) < 0 || l > len - pos)
				return -EPROTO;
			if (key >> 3 == 1) {
				if (l >= size || memchr(buf + pos, 0, l))
					return -EPROTO;
				memcpy(name, buf + pos, l);
				name[l] = '\0';
				have = true;
			}
			pos += l;
			break;
		default: return -EPROTO;
		}
	}
	return have ? 1 : -EPROTO;
}

/* img_streamer_reply_entry { required bool exists = 1; } */
static int send_reply(int sock, bool exists)
{
	uint8_t msg[6] = { 2, 0, 0, 0, 0x08, exists };

	return write_full(sock, msg, sizeof(msg));
}

static int recv_fd(int sock)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	char c;
	struct iovec iov = { &c, 1 };
	struct msghdr m = { .msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *h;
	ssize_t n;
	int fd;

	do
		n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	h = CMSG_FIRSTHDR(&m);
	if (n != 1 || !h || h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS ||
	    h->cmsg_len != CMSG_LEN(sizeof(int)) || (m.msg_flags & MSG_CTRUNC))
		return -EPROTO;
	memcpy(&fd, CMSG_DATA(h), sizeof(fd));
	return fd;
}

/* Listens on name in the current directory; only the owner may connect (umask). */
static int listen_here(const char *name, struct lc_err *err)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	mode_t old;
	int s, r;

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", name);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return lc_err_set(err, errno, "socket");
	(void)unlink(name);
	old = umask(077);
	r = bind(s, (struct sockaddr *)&a, sizeof(a));
	umask(old);
	if (r < 0 || listen(s, 1) < 0) {
		r = lc_err_set(err, errno, "cannot listen on '%s'", name);
		close(s);
		return r;
	}
	return s;
}

static int accept_criu(int ls, struct lc_err *err)
{
	int s;

	do
		s = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
	while (s < 0 && errno == EINTR);
	if (s < 0)
		return lc_err_set(err, errno, "accepting criu's connection");
	return s;
}

/*
 * Listens on the socket criu connects to (name, in the images directory),
 * tells the caller through ready_fd that criu may start, and accepts criu's
 * one connection. The listening socket is gone when this returns.
 */
static int connect_criu(const char *name, int ready_fd, struct lc_err *err)
{
	int ls, sock;

	ls = listen_here(name, err);
	if (ls < 0)
		return ls;
	if (ready_fd >= 0 && write_full(ready_fd, "R", 1) < 0)
		sock = lc_err_set(err, EPIPE, "the caller is gone");
	else
		sock = accept_criu(ls, err);
	close(ls);
	(void)unlink(name);
	return sock;
}

static int online_cpus(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	return 1;
}

static long peak_rss_kib(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : 0;
}

static void set_err(struct lc_stream_stats *st, const struct lc_err *e)
{
	st->err_code = e->code ? e->code : EIO;
	snprintf(st->err_msg, sizeof(st->err_msg), "%s", e->msg);
}

/* ---- capture ---- */

enum choice { USE_RAW, USE_ZSTD, USE_PROBE, USE_SAMPLE };

struct job {
	uint64_t seq; /* chunks are appended in this order */
	uint32_t id;
	uint64_t off;
	uint8_t *buf;
	uint32_t len;
};

struct cap {
	const struct lc_stream_opts *o;
	struct lc_lcs_writer *w;
	size_t chunk;
	int level, nthreads, nstarted;
	double cpus; /* CPUs compression may count on (criu needs some too) */
	pthread_t th[8];
	pthread_mutex_t mu;
	pthread_cond_t cv_job, cv_buf, cv_seq;
	uint64_t next_seq, append_seq;
	struct job q[MAX_OPEN];
	int qhead, qlen, busy;
	uint8_t *pool[MAX_OPEN];
	int npool, pool_total, pool_cap;
	bool stop;
	int err;
	/* policy, under pmu */
	pthread_mutex_t pmu;
	long long eligible;
	int since_probe, since_eval;
	double z_raw, z_stored, z_secs;
	double sample_raw, sample_stored, sample_secs;
	bool sampled, use_zstd;
	int switches;
	char decision[200];
};

static double disk_rate(struct cap *c, const char **how)
{
	double r = lc_lcs_write_rate(c->w);

	*how = "measured";
	if (r <= 0 && c->o->disk_rate_hint > 0) {
		r = c->o->disk_rate_hint;
		*how = "earlier checkpoints";
	}
	if (r <= 0) {
		r = DEFAULT_DISK_RATE;
		*how = "assumed";
	}
	return r;
}

/* Decides from the measurements so far; called with pmu held. */
static void evaluate(struct cap *c)
{
	const char *how;
	double ratio, speed, w, tz;
	bool z;

	if (c->z_raw <= 0 || c->z_secs <= 0)
		return;
	ratio = c->z_stored / c->z_raw;
	speed = c->z_raw / c->z_secs;
	w = disk_rate(c, &how);
	tz = speed * c->cpus;
	if (w / ratio < tz)
		tz = w / ratio;
	z = ratio < 0.9 && tz > MARGIN * w;
	if (c->sampled && z != c->use_zstd)
		c->switches++;
	if (!c->sampled || z != c->use_zstd)
		snprintf(c->decision, sizeof(c->decision),
			 "%s: ratio %.2f, zstd -%d %.0f MiB/s per CPU x %.1f, disk %.0f MiB/s "
			 "(%s), expected %.0f MiB/s compressed",
			 z ? "zstd" : "raw", ratio, c->level, speed / 1048576.0, c->cpus,
			 w / 1048576.0, how, tz / 1048576.0);
	c->use_zstd = z;
	c->sampled = true;
}

static enum choice choose(struct cap *c, uint32_t len)
{
	enum choice ch;

	if (c->o->compress == LC_COMPRESS_OFF)
		return USE_RAW;
	if (c->o->compress == LC_COMPRESS_ON)
		return USE_ZSTD;
	if (len < MIN_ELIGIBLE)
		return USE_RAW;
	pthread_mutex_lock(&c->pmu);
	c->eligible += len;
	if (!c->sampled && c->eligible <= SAMPLE_BYTES) {
		/* Until the disk's rate is known, every other chunk is written raw to learn it. */
		bool know = c->o->disk_rate_hint > 0 || lc_lcs_write_rate(c->w) > 0;

		ch = know || ++c->since_probe & 1 ? USE_SAMPLE : USE_RAW;
	} else {
		if (!c->sampled || ++c->since_eval >= 16) {
			c->since_eval = 0;
			evaluate(c);
		}
		if (c->use_zstd) {
			ch = USE_ZSTD;
		} else if (!c->sampled) {
			ch = USE_SAMPLE; /* no measurement came back yet */
		} else if (++c->since_probe >= PROBE_EVERY) {
			c->since_probe = 0;
			ch = USE_PROBE;
		} else {
			ch = USE_RAW;
		}
	}
	pthread_mutex_unlock(&c->pmu);
	return ch;
}

static void measured(struct cap *c, uint32_t raw, size_t stored, double secs, bool sample)
{
	pthread_mutex_lock(&c->pmu);
	c->z_raw = c->z_raw * DECAY + raw;
	c->z_stored = c->z_stored * DECAY + (double)stored;
	c->z_secs = c->z_secs * DECAY + secs;
	if (sample) {
		c->sample_raw += raw;
		c->sample_stored += (double)stored;
		c->sample_secs += secs;
	}
	pthread_mutex_unlock(&c->pmu);
}

/* CPU seconds of the calling thread: the speed of zstd itself, not of a busy host. */
static double thread_cpu(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void fail(struct cap *c, int err)
{
	pthread_mutex_lock(&c->mu);
	if (!c->err)
		c->err = err;
	pthread_cond_broadcast(&c->cv_buf);
	pthread_mutex_unlock(&c->mu);
}

static void *worker_main(void *arg)
{
	struct cap *c = arg;
	size_t bound = ZSTD_compressBound(c->chunk);
	ZSTD_CCtx *cctx = NULL;
	uint8_t *dst = NULL;
	bool first = true;

	pthread_mutex_lock(&c->mu);
	for (;;) {
		struct job j;
		enum choice ch;
		size_t n = 0;
		int r;

		while (!c->qlen && !c->stop)
			pthread_cond_wait(&c->cv_job, &c->mu);
		if (!c->qlen)
			break;
		j = c->q[c->qhead];
		c->qhead = (c->qhead + 1) % MAX_OPEN;
		c->qlen--;
		c->busy++;
		pthread_mutex_unlock(&c->mu);
		ch = choose(c, j.len);
		if (ch != USE_RAW && !cctx) {
			/* Only dumps that compress pay for a context (small dumps stay small). */
			cctx = ZSTD_createCCtx();
			dst = malloc(bound);
			if (!cctx || !dst)
				fail(c, ENOMEM);
		}
		if (ch != USE_RAW && cctx && dst) {
			double t0 = thread_cpu();

			n = ZSTD_compressCCtx(cctx, dst, bound, j.buf, j.len, c->level);
			/* The first one also pays for touching the context and the buffer. */
			if (!ZSTD_isError(n) && !first)
				measured(c, j.len, n, thread_cpu() - t0, ch == USE_SAMPLE);
			first = false;
		} else if (ch != USE_RAW) {
			ch = USE_RAW;
		}
		/*
		 * Append in submission order, so that each image's chunks follow each
		 * other in the container and a restore reads it in long runs. The queue
		 * is FIFO, so the oldest chunk is always with a running worker.
		 */
		pthread_mutex_lock(&c->mu);
		while (c->append_seq != j.seq)
			pthread_cond_wait(&c->cv_seq, &c->mu);
		pthread_mutex_unlock(&c->mu);
		if (ch != USE_RAW && !ZSTD_isError(n) && n < (size_t)j.len * 31 / 32)
			r = lc_lcs_put(c->w, j.id, j.off, LC_CODEC_ZSTD, dst, (uint32_t)n, j.len);
		else
			r = lc_lcs_put(c->w, j.id, j.off, LC_CODEC_RAW, j.buf, j.len, j.len);
		if (r < 0)
			fail(c, -r);
		pthread_mutex_lock(&c->mu);
		c->append_seq++;
		pthread_cond_broadcast(&c->cv_seq);
		c->pool[c->npool++] = j.buf;
		c->busy--;
		pthread_cond_broadcast(&c->cv_buf);
	}
	pthread_mutex_unlock(&c->mu);
	ZSTD_freeCCtx(cctx);
	free(dst);
	return NULL;
}

/* A free chunk buffer; allocates one more when none is coming back. */
static uint8_t *get_buf(struct cap *c)
{
	uint8_t *b = NULL;

	pthread_mutex_lock(&c->mu);
	while (!c->npool && !c->err) {
		if (c->pool_total < c->pool_cap || (!c->qlen && !c->busy)) {
			if (c->pool_total < MAX_OPEN - 1 && (b = malloc(c->chunk)))
				c->pool_total++;
			else
				c->err = ENOMEM;
			break;
		}
		pthread_cond_wait(&c->cv_buf, &c->mu);
	}
	if (!b && !c->err)
		b = c->pool[--c->npool];
	pthread_mutex_unlock(&c->mu);
	return b;
}

static void submit(struct cap *c, uint32_t id, uint64_t off, uint8_t *buf, size_t len)
{
	pthread_mutex_lock(&c->mu);
	c->q[(c->qhead + c->qlen) % MAX_OPEN] =
		(struct job){ c->next_seq++, id, off, buf, (uint32_t)len };
	c->qlen++;
	pthread_cond_signal(&c->cv_job);
	pthread_mutex_unlock(&c->mu);
}

struct ofile {
	int fd;
	uint32_t id;
	uint64_t off;
	uint8_t *buf;
	size_t fill;
};

/* Reads what pipe f has. Returns 1 at EOF, 0, or a negative errno. */
static int drain(struct cap *c, struct ofile *f)
{
	size_t budget = 4 * c->chunk;

	while (budget) {
		ssize_t n;

		if (!f->buf) {
			f->buf = get_buf(c);
			if (!f->buf)
				return -(c->err ? c->err : ENOMEM);
			f->fill = 0;
		}
		n = read(f->fd, f->buf + f->fill, c->chunk - f->fill);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n < 0)
			return -errno;
		if (n == 0) {
			if (f->fill) {
				submit(c, f->id, f->off, f->buf, f->fill);
				f->off += f->fill;
			} else {
				pthread_mutex_lock(&c->mu);
				c->pool[c->npool++] = f->buf;
				pthread_mutex_unlock(&c->mu);
			}
			f->buf = NULL;
			lc_lcs_end_file(c->w, f->id, f->off);
			return 1;
		}
		f->fill += (size_t)n;
		budget = (size_t)n < budget ? budget - (size_t)n : 0;
		if (f->fill == c->chunk) {
			submit(c, f->id, f->off, f->buf, f->fill);
			f->off += f->fill;
			f->buf = NULL;
		}
	}
	return 0;
}

/* Takes one request and its pipe. Returns 1, 0 when criu is done, or -errno. */
static int new_file(struct cap *c, int sock, struct ofile *files, int *nopen, struct lc_err *err)
{
	char name[LC_LCS_MAX_NAME + 1];
	int r, fd, id;

	r = read_request(sock, name, sizeof(name));
	if (r < 0)
		return lc_err_set(err, -r, "bad request from criu");
	if (r == 0)
		return 0;
	fd = recv_fd(sock);
	if (fd < 0)
		return lc_err_set(err, -fd, "no pipe from criu for '%s'", name);
	if (*nopen >= MAX_OPEN) {
		close(fd);
		return lc_err_set(err, EMFILE, "criu keeps too many images open");
	}
	id = lc_lcs_add_file(c->w, name, err);
	if (id < 0) {
		close(fd);
		return id;
	}
	(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if (!strncmp(name, "pages-", 6))
		(void)fcntl(fd, F_SETPIPE_SZ, PIPE_BIG);
	files[(*nopen)++] = (struct ofile){ .fd = fd, .id = (uint32_t)id };
	return 1;
}

static void stop_workers(struct cap *c)
{
	pthread_mutex_lock(&c->mu);
	c->stop = true;
	pthread_cond_broadcast(&c->cv_job);
	pthread_mutex_unlock(&c->mu);
	for (int i = 0; i < c->nstarted; i++)
		pthread_join(c->th[i], NULL);
	c->nstarted = 0;
}

static int capture_loop(struct cap *c, int sock, struct lc_err *err)
{
	static struct ofile files[MAX_OPEN];
	static struct pollfd pfd[MAX_OPEN + 1];
	int nopen = 0, r = 0;
	bool sock_open = true;

	while (sock_open || nopen) {
		int n = 0;

		if (sock_open)
			pfd[n++] = (struct pollfd){ .fd = sock, .events = POLLIN };
		for (int i = 0; i < nopen; i++)
			pfd[n++] = (struct pollfd){ .fd = files[i].fd, .events = POLLIN };
		if (poll(pfd, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			r = lc_err_set(err, errno, "poll");
			break;
		}
		for (int i = nopen - 1; i >= 0; i--) {
			if (!pfd[i + sock_open].revents)
				continue;
			r = drain(c, &files[i]);
			if (r < 0) {
				r = lc_err_set(err, -r, "reading an image from criu");
				goto out;
			}
			if (r == 1) {
				close(files[i].fd);
				files[i] = files[--nopen];
			}
		}
		if (sock_open && pfd[0].revents) {
			r = new_file(c, sock, files, &nopen, err);
			if (r < 0)
				goto out;
			sock_open = r == 1;
		}
		if (c->err) {
			r = lc_err_set(err, c->err, "storing the images");
			break;
		}
	}
	r = r < 0 ? r : 0;
out:
	for (int i = 0; i < nopen; i++) {
		close(files[i].fd);
		free(files[i].buf);
	}
	return r;
}

static void cap_free(struct cap *c)
{
	stop_workers(c);
	for (int i = 0; i < c->npool; i++)
		free(c->pool[i]);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->pmu);
	pthread_cond_destroy(&c->cv_job);
	pthread_cond_destroy(&c->cv_buf);
	pthread_cond_destroy(&c->cv_seq);
}

int lc_stream_capture(const struct lc_stream_opts *o, int ready_fd, struct lc_stream_stats *st)
{
	static struct cap c;
	struct lc_lcs_wopts wo = { .direct = !o->buffered, .discard = o->discard };
	struct lc_lcs_wstats ws = { 0 };
	struct lc_err err = { 0 };
	int sock = -1, r;
	double t0 = 0;

	memset(st, 0, sizeof(*st));
	memset(&c, 0, sizeof(c));
	c.o = o;
	c.chunk = o->chunk_size ? o->chunk_size : 1u << 20;
	c.level = o->level ? o->level : 1;
	c.nthreads = o->threads > 0 ? o->threads : online_cpus();
	c.nthreads = c.nthreads > 8 ? 8 : c.nthreads < 1 ? 1 : c.nthreads;
	c.pool_cap = 2 * c.nthreads + 2;
	c.cpus = online_cpus() - 0.5;
	c.cpus = c.cpus > c.nthreads ? c.nthreads : c.cpus < 0.5 ? 0.5 : c.cpus;
	pthread_mutex_init(&c.mu, NULL);
	pthread_mutex_init(&c.pmu, NULL);
	pthread_cond_init(&c.cv_job, NULL);
	pthread_cond_init(&c.cv_buf, NULL);
	pthread_cond_init(&c.cv_seq, NULL);
	if (c.chunk < 4096 || c.chunk > (4u << 20)) {
		r = lc_err_set(&err, EINVAL, "bad chunk size");
		goto out;
	}
	r = lc_lcs_create(AT_FDCWD, LC_LCS_NAME, &wo, &c.w, &err);
	if (r < 0)
		goto out;
	for (int i = 0; i < c.nthreads; i++) {
		if (pthread_create(&c.th[i], NULL, worker_main, &c)) {
			r = lc_err_set(&err, EAGAIN, "cannot start the compression threads");
			goto out;
		}
		c.nstarted++;
	}
	sock = connect_criu(LC_STREAM_CAPTURE_SOCK, ready_fd, &err);
	if (sock < 0) {
		r = sock;
		goto out;
	}
	t0 = lc_now();
	r = capture_loop(&c, sock, &err);
	/* Let the workers finish what is queued. */
	pthread_mutex_lock(&c.mu);
	while (r == 0 && (c.qlen || c.busy) && !c.err)
		pthread_cond_wait(&c.cv_buf, &c.mu);
	pthread_mutex_unlock(&c.mu);
	if (r == 0 && c.err)
		r = lc_err_set(&err, c.err, "storing the images");
	stop_workers(&c);
	if (r == 0) {
		r = lc_lcs_finish(c.w, &ws, &err);
		c.w = NULL;
	}
out:
	stop_workers(&c);
	if (c.w)
		lc_lcs_abort(c.w);
	cap_free(&c);
	if (sock >= 0)
		close(sock);
	st->n_files = ws.n_files;
	st->raw_bytes = ws.raw_bytes;
	st->stored_bytes = ws.stored_bytes;
	st->file_bytes = ws.file_bytes;
	st->zstd_raw = ws.zstd_raw;
	st->zstd_stored = ws.zstd_stored;
	st->seconds = t0 > 0 ? lc_now() - t0 : 0;
	st->write_rate = ws.write_busy > 0 ? (double)ws.file_bytes / ws.write_busy : 0;
	st->sync_seconds = ws.sync_seconds;
	st->direct = ws.direct;
	st->threads = c.nthreads;
	st->compressed = ws.zstd_raw * 2 > ws.raw_bytes;
	if (c.sample_raw > 0 && c.sample_secs > 0) {
		st->sample_ratio = c.sample_stored / c.sample_raw;
		st->zstd_rate = c.sample_raw / c.sample_secs;
	}
	if (o->compress == LC_COMPRESS_OFF)
		snprintf(st->decision, sizeof(st->decision), "raw: compression is off");
	else if (o->compress == LC_COMPRESS_ON)
		snprintf(st->decision, sizeof(st->decision), "zstd -%d: compression is on",
			 c.level);
	else if (!c.sampled)
		snprintf(st->decision, sizeof(st->decision), "raw: too little memory to sample");
	else
		snprintf(st->decision, sizeof(st->decision), "%s%s", c.decision,
			 c.switches ? "; changed with the memory's content" : "");
	st->peak_rss_kib = peak_rss_kib();
	if (r < 0)
		set_err(st, &err);
	return r;
}

/* ---- serve ---- */

struct srv {
	struct lc_lcs_reader *rd;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int active;
	int err;
	struct lc_err first;
	long long served;
};

struct xfer {
	struct srv *s;
	int idx, fd;
};

static void *xfer_main(void *arg)
{
	struct xfer *x = arg;
	struct srv *s = x->s;
	struct lc_err err = { 0 };
	int r;

	r = lc_lcs_copy_out(s->rd, x->idx, x->fd, &err);
	close(x->fd);
	pthread_mutex_lock(&s->mu);
	/* criu may stop reading an image it has all it needs from. */
	if (r < 0 && err.code != EPIPE && !s->err) {
		s->err = err.code;
		s->first = err;
	}
	if (r == 0)
		s->served += (long long)lc_lcs_file(s->rd, x->idx)->raw_size;
	s->active--;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	free(x);
	return NULL;
}

int lc_stream_serve(const struct lc_stream_opts *o, int ready_fd, struct lc_stream_stats *st)
{
	struct srv s = { 0 };
	struct lc_err err = { 0 };
	pthread_attr_t attr;
	int sock = -1, r;
	double t0 = 0;

	memset(st, 0, sizeof(*st));
	pthread_mutex_init(&s.mu, NULL);
	pthread_cond_init(&s.cv, NULL);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 << 10);
	r = lc_lcs_open(AT_FDCWD, LC_LCS_NAME, !o->buffered, &s.rd, &err);
	if (r < 0)
		goto out;
	sock = connect_criu(LC_STREAM_SERVE_SOCK, ready_fd, &err);
	if (sock < 0) {
		r = sock;
		goto out;
	}
	t0 = lc_now();
	for (;;) {
		char name[LC_LCS_MAX_NAME + 1];
		struct xfer *x;
		int idx, fd;

		r = read_request(sock, name, sizeof(name));
		if (r <= 0) {
			if (r < 0)
				r = lc_err_set(&err, -r, "bad request from criu");
			break;
		}
		idx = lc_lcs_find(s.rd, name);
		r = send_reply(sock, idx >= 0);
		if (r < 0) {
			r = lc_err_set(&err, -r, "answering criu");
			break;
		}
		if (idx < 0)
			continue;
		fd = recv_fd(sock);
		if (fd < 0) {
			r = lc_err_set(&err, -fd, "no pipe from criu for '%s'", name);
			break;
		}
		/* A small pipe costs a switch to criu and back every 64 KiB. */
		if (lc_lcs_file(s.rd, idx)->raw_size > (64u << 10))
			(void)fcntl(fd, F_SETPIPE_SZ, PIPE_BIG);
		x = malloc(sizeof(*x));
		if (!x) {
			close(fd);
			r = lc_err_set(&err, ENOMEM, "serving '%s'", name);
			break;
		}
		*x = (struct xfer){ &s, idx, fd };
		pthread_mutex_lock(&s.mu);
		s.active++;
		pthread_mutex_unlock(&s.mu);
		if (pthread_create(&(pthread_t){ 0 }, &attr, xfer_main, x)) {
			/* No thread: serve it here (criu reads one file at a time). */
			xfer_main(x);
		}
	}
	pthread_mutex_lock(&s.mu);
	while (s.active)
		pthread_cond_wait(&s.cv, &s.mu);
	pthread_mutex_unlock(&s.mu);
	if (r == 0 && s.err)
		r = lc_err_set(&err, s.err, "%s", s.first.msg);
out:
	if (sock >= 0)
		close(sock);
	st->seconds = t0 > 0 ? lc_now() - t0 : 0;
	st->raw_bytes = s.served;
	if (s.rd) {
		st->n_files = lc_lcs_n_files(s.rd);
		lc_lcs_close(s.rd);
	}
	st->peak_rss_kib = peak_rss_kib();
	pthread_attr_destroy(&attr);
	pthread_mutex_destroy(&s.mu);
	pthread_cond_destroy(&s.cv);
	if (r < 0)
		set_err(st, &err);
	return r;
}

/* ---- the streamer as a child process ---- */

int lc_streamer_start(struct lc_streamer *s, bool serve, int imgfd, const struct lc_stream_opts *o,
		      struct lc_err *err)
{
	struct pollfd pfd;
	pid_t parent = getpid();
	int p[2], r;
	char c = 0;

	s->pid = -1;
	s->res_fd = -1;
	s->serve = serve;
	if (pipe2(p, O_CLOEXEC) < 0)
		return lc_err_set(err, errno, "pipe");
	s->pid = fork();
	if (s->pid < 0) {
		r = lc_err_set(err, errno, "cannot start the image streamer");
		close(p[0]);
		close(p[1]);
		return r;
	}
	if (s->pid == 0) {
		struct lc_stream_stats st = { 0 };
		sigset_t none;

		close(p[0]);
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* 0: we are the first child in a PID namespace the caller just made. */
		if (getppid() != parent && getppid() != 0)
			_exit(1);
		(void)prctl(PR_SET_NAME, serve ? "lc-stream-serve" : "lc-stream-capt");
		/*
		 * Out of the caller's process group, like criu itself: LSF stops and
		 * signals the job's group, and a restore must not stall on a stopped
		 * streamer (PDEATHSIG still ties it to the caller).
		 */
		(void)setpgid(0, 0);
		signal(SIGPIPE, SIG_IGN);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (fchdir(imgfd) < 0) {
			st.err_code = errno;
			snprintf(st.err_msg, sizeof(st.err_msg),
				 "cannot enter the image directory");
			r = -1;
		} else {
			r = serve ? lc_stream_serve(o, p[1], &st) : lc_stream_capture(o, p[1], &st);
		}
		/* Before "R": a failure byte; after it, the result. */
		if (write_full(p[1], "E", 1) < 0 || write_full(p[1], &st, sizeof(st)) < 0)
			_exit(2);
		_exit(r < 0 ? 1 : 0);
	}
	close(p[1]);
	s->res_fd = p[0];
	pfd = (struct pollfd){ .fd = s->res_fd, .events = POLLIN };
	r = poll(&pfd, 1, 30000);
	if (r <= 0 || read(s->res_fd, &c, 1) != 1 || c != 'R') {
		struct lc_stream_stats st;

		if (c == 'E' && read_full(s->res_fd, &st, sizeof(st)) == 1)
			r = lc_err_msg(err, st.err_code ? st.err_code : EIO,
				       "the image streamer failed: %s", st.err_msg);
		else
			r = lc_err_msg(err, EIO, "the image streamer did not start");
		lc_streamer_stop(s);
		return r;
	}
	return 0;
}

int lc_streamer_finish(struct lc_streamer *s, long long deadline, struct lc_stream_stats *st,
		       struct lc_err *err)
{
	struct pollfd pfd = { .fd = s->res_fd, .events = POLLIN };
	char c;
	int r, status;

	memset(st, 0, sizeof(*st));
	if (s->pid <= 0)
		return lc_err_msg(err, ESRCH, "no image streamer");
	for (;;) {
		int ms = -1;

		if (deadline > 0) {
			long long left = deadline - (long long)time(NULL);

			if (left <= 0) {
				lc_streamer_stop(s);
				return lc_err_msg(err, ETIMEDOUT,
						  "the image streamer did not finish "
						  "by the deadline; killed it");
			}
			ms = left > 1000000 ? 1000000000 : (int)(left * 1000);
		}
		r = poll(&pfd, 1, ms);
		if (r > 0 || (r < 0 && errno != EINTR))
			break;
	}
	if (read_full(s->res_fd, &c, 1) != 1 || c != 'E' ||
	    read_full(s->res_fd, st, sizeof(*st)) != 1) {
		lc_streamer_stop(s);
		return lc_err_msg(err, EIO, "the image streamer died");
	}
	close(s->res_fd);
	s->res_fd = -1;
	do
		r = waitpid(s->pid, &status, 0);
	while (r < 0 && errno == EINTR);
	s->pid = -1;
	if (st->err_code)
		return lc_err_msg(err, st->err_code, "image streamer: %s", st->err_msg);
	if (r < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		return lc_err_msg(err, EIO, "the image streamer failed");
	return 0;
}

void lc_streamer_stop(struct lc_streamer *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	s->pid = -1;
	if (s->res_fd >= 0)
		close(s->res_fd);
	s->res_fd = -1;
}

/* ---- checking and exporting ---- */

bool lc_stream_is_streamed(int imgfd)
{
	struct stat st;

	return fstatat(imgfd, LC_LCS_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

int lc_stream_verify(int imgfd, const char *const *need, bool deep, struct lc_stream_stats *st,
		     struct lc_err *err)
{
	struct lc_lcs_reader *rd = NULL;
	int r;

	memset(st, 0, sizeof(*st));
	r = lc_lcs_open(imgfd, LC_LCS_NAME, deep, &rd, err);
	if (r < 0)
		return r;
	for (int i = 0; need && need[i]; i++) {
		int k = lc_lcs_find(rd, need[i]);

		if (k < 0 || lc_lcs_file(rd, k)->raw_size == 0) {
			r = lc_err_msg(err, k < 0 ? ENOENT : EINVAL, "image file '%s' is %s",
				       need[i], k < 0 ? "missing" : "empty");
			goto out;
		}
	}
	st->n_files = lc_lcs_n_files(rd);
	for (int i = 0; i < st->n_files; i++) {
		const struct lc_lcs_file *f = lc_lcs_file(rd, i);

		st->raw_bytes += (long long)f->raw_size;
		st->stored_bytes += (long long)f->stored_size;
		if (deep) {
			r = lc_lcs_copy_out(rd, i, -1, err);
			if (r < 0)
				goto out;
		}
	}
out:
	lc_lcs_close(rd);
	return r;
}

int lc_stream_export(int imgfd, int outfd, struct lc_err *err)
{
	struct lc_lcs_reader *rd = NULL;
	int r, n = 0;

	r = lc_lcs_open(imgfd, LC_LCS_NAME, true, &rd, err);
	if (r < 0)
		return r;
	for (int i = 0; i < lc_lcs_n_files(rd); i++) {
		const struct lc_lcs_file *f = lc_lcs_file(rd, i);
		int fd = openat(outfd, f->name,
				O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

		if (fd < 0) {
			r = lc_err_set(err, errno, "cannot create '%s'", f->name);
			break;
		}
		r = lc_lcs_copy_out(rd, i, fd, err);
		if (close(fd) < 0 && r == 0)
			r = lc_err_set(err, errno, "cannot write '%s'", f->name);
		if (r < 0)
			break;
		n++;
	}
	lc_lcs_close(rd);
	return r < 0 ? r : n;
}
