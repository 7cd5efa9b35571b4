/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Strict JSON helpers over jansson, shared by the record modules (meta.c,
 * ledger.c). The rest of the code never sees JSON.
 */
#ifndef LC_JSON_H
#define LC_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "err.h"

/* Parses text, refusing duplicate keys; NULL with err set on failure. */
json_t *lc_json_parse(const char *text, struct lc_err *err);
/* o must be an object whose "version" is 1..max. */
int lc_json_check_version(json_t *o, int max, struct lc_err *err);
/* Copies the string field key (no NUL inside, shorter than size) into buf. */
int lc_json_str(json_t *o, const char *key, char *buf, size_t size, struct lc_err *err);
/* Reads the integer field key, which must lie in [min, max]. */
int lc_json_int(json_t *o, const char *key, long long min, long long max, long long *ret,
		struct lc_err *err);
/*
 * A JSON string of s; bytes that are not valid UTF-8 become '?' (jansson
 * refuses them, and a record must never lose a field for a job's odd path).
 * NULL only when out of memory.
 */
json_t *lc_json_text(const char *s);
/*
 * A path (any bytes but NUL) kept losslessly: as the string field key when it
 * is valid UTF-8, else as key_hex, its bytes in hexadecimal.
 */
int lc_json_set_path(json_t *o, const char *key, const char *path);
/* Reads a path written by lc_json_set_path() into buf. */
int lc_json_path(json_t *o, const char *key, char *buf, size_t size, struct lc_err *err);
/* Writes o (reference stolen; NULL means out of memory) atomically as name, mode 0600. */
int lc_json_save(int dirfd, const char *name, json_t *o);
/* The same with lc_write_file_at() flags (LC_WRITE_NOSYNC). */
int lc_json_save_flags(int dirfd, const char *name, json_t *o, int flags);

#endif
