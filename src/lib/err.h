/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Error objects: a positive errno and a message, no heap, so they are safe
 * after fork() and when memory runs out. Fallible functions return a
 * negative errno and fill the error object.
 */
#ifndef LC_ERR_H
#define LC_ERR_H

#include <stdarg.h>

struct lc_err {
	int code;
	char msg[512];
};

/* Sets the error and returns -code (code is a positive errno; 0 becomes EIO). */
int lc_err_set(struct lc_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Like lc_err_set, without the strerror() text (the message says it all). */
int lc_err_msg(struct lc_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prefixes the message with "ctx: " and returns -e->code. */
int lc_err_wrap(struct lc_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
