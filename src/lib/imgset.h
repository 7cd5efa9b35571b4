/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Image sets in the job checkpoint directory: ckpt.<N>/ (one checkpoint,
 * N growing), ckpt.<N>.failed/ (what is left of a failed attempt: its logs
 * only). lsf-criu.current (meta.h) names the newest committed set.
 */
#ifndef LC_IMGSET_H
#define LC_IMGSET_H

#include <stddef.h>

/* The next free name: one more than the highest ckpt.<N> present, failed ones included. */
int lc_imgset_next(int dirfd, char *name, size_t size);
/* The N of "ckpt.<N>" or "ckpt.<N>.failed", or -1. */
long lc_imgset_number(const char *name);
/*
 * Removes every image set older than keep (a lower N) and every failed
 * one; with keep NULL, only the failed ones. Returns how many were removed.
 */
int lc_imgset_prune(int dirfd, const char *keep);
/*
 * Deletes the image data of a set that failed, keeping its logs and records
 * (*.log, *.out, *.json) for diagnosis, and renames it <name>.failed. The
 * data goes first, so that even a full filesystem has room for the rename.
 */
int lc_imgset_quarantine(int dirfd, const char *name, char *ret_name, size_t size);
/* fsync()s every regular file of the set but criu's logs, then the set's directory. */
int lc_imgset_sync(int imgfd);

#endif
