/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Error objects, see err.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

static int vset(struct lc_err *e, int code, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static int vset(struct lc_err *e, int code, const char *fmt, va_list ap)
{
	if (code <= 0)
		code = EIO;
	e->code = code;
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	return -code;
}

int lc_err_set(struct lc_err *e, int code, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vset(e, code, fmt, ap);
	va_end(ap);
	code = e->code;
	n = strlen(e->msg);
	if (n + 3 < sizeof(e->msg))
		snprintf(e->msg + n, sizeof(e->msg) - n, ": %s", strerror(code));
	return -code;
}

int lc_err_msg(struct lc_err *e, int code, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vset(e, code, fmt, ap);
	va_end(ap);
	return r;
}

int lc_err_wrap(struct lc_err *e, const char *fmt, ...)
{
	char prefix[256], old[sizeof(e->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof(old));
	snprintf(e->msg, sizeof(e->msg), "%s: %s", prefix, old);
	if (e->code <= 0)
		e->code = EIO;
	return -e->code;
}
