/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Records kept in the job checkpoint directory, as JSON through jansson:
 *
 *   ckpt.<N>/meta.json   what echkpnt.criu saw and did for image set N
 *   lsf-criu.root        which process is the job's dump root after a restore
 *   lsf-criu.current     the name of the newest verified image set (plain text)
 *
 * Readers are strict: a missing field, a wrong type, an unknown newer
 * version or an over-long list is an error, never a guess.
 */
#ifndef LC_META_H
#define LC_META_H

#include <stdbool.h>
#include <sys/types.h>

#include "err.h"

#define LC_META_VERSION	  1
#define LC_META_MAX_PIDS  4096
#define LC_META_MAX_FILES 8

struct lc_meta_stdio {
	int fd;
	char target[4096]; /* readlink of /proc/<root>/fd/<fd> at dump time */
};

struct lc_meta_file {
	int fd;
	char path[4096];
	long long pos;
	char copy[64]; /* saved copy inside the image set */
};

struct lc_meta {
	char jobid[32];
	long long created; /* epoch seconds */
	pid_t root_pid;
	unsigned long long root_start_time;
	uid_t uid;
	bool file_locks;
	bool killed;
	bool ns; /* dumped inside the job's own namespaces (lsf-criu-start) */
	double dump_seconds;
	long long image_bytes; /* size of the image set on disk */
	char criu_version[32];
	/* Optional (absent in image sets of older versions: false, 0, ""). */
	bool stream;	      /* images in images.lcs through our streamer */
	long long raw_bytes;  /* criu's images before compression */
	char compression[16]; /* "zstd-1", "none" */
	double write_rate;    /* bytes/s the disk took while a write was in flight */
	double zstd_rate;     /* bytes/s one CPU compressed the sample */
	char decision[200];   /* why compressed or not, with the numbers */
	long peak_rss_kib;    /* largest of echkpnt.criu and the streamer */
	int n_pids;
	pid_t pids[LC_META_MAX_PIDS];
	int n_stdio;
	struct lc_meta_stdio stdio[3];
	int n_files;
	struct lc_meta_file files[LC_META_MAX_FILES];
};

/* Writes meta.json into a new image set, without fsync: lc_imgset_sync() follows. */
int lc_meta_save(int imgfd, const struct lc_meta *m);
int lc_meta_load(int imgfd, uid_t owner, struct lc_meta *m, struct lc_err *err);
/* Parses meta.json text (exposed for tests and fuzzing). */
int lc_meta_parse(const char *text, struct lc_meta *m, struct lc_err *err);

struct lc_root_rec {
	char jobid[32];
	pid_t pid;
	unsigned long long start_time;
	char imgset[64];
};

int lc_root_save(int dirfd, const struct lc_root_rec *r);
int lc_root_load(int dirfd, uid_t owner, struct lc_root_rec *r, struct lc_err *err);
int lc_root_parse(const char *text, struct lc_root_rec *r, struct lc_err *err);

#define LC_CURRENT_FILE	 "lsf-criu.current"
#define LC_HANDOVER_FILE "lsf-criu.handover"

/*
 * A committed image set that LSF does not know as a checkpoint of jobid yet:
 * echkpnt.criu died after committing it, or the restarted job jobid could
 * not be restored from it. The next "bchkpnt -k jobid" hands it to LSF
 * (echkpnt.criu kills the job and exits 0 without dumping again), so LSF
 * records a checkpoint of jobid and "brestart <base> jobid" can use it.
 */
struct lc_handover {
	char jobid[32];
	char imgset[64];
	char why[160];
};

int lc_handover_save(int dirfd, const struct lc_handover *h);
/* -ENOENT when there is none. */
int lc_handover_load(int dirfd, uid_t owner, struct lc_handover *h, struct lc_err *err);

/* True for "ckpt.<digits>" (at most 9 digits), the only image set names we use. */
bool lc_imgset_name_ok(const char *name);
/* Reads lsf-criu.current into name (must pass lc_imgset_name_ok). */
int lc_current_load(int dirfd, uid_t owner, char *name, size_t size, struct lc_err *err);
int lc_current_save(int dirfd, const char *name);

#endif
