/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Strict JSON helpers; see json.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "util.h"

json_t *lc_json_parse(const char *text, struct lc_err *err)
{
	json_error_t je;
	json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, &je);

	if (!o)
		lc_err_set(err, EINVAL, "invalid JSON at line %d: %s", je.line, je.text);
	return o;
}

int lc_json_check_version(json_t *o, int max, struct lc_err *err)
{
	long long v;

	if (!json_is_object(o))
		return lc_err_set(err, EINVAL, "not a JSON object");
	if (lc_json_int(o, "version", 1, 1000000, &v, err) < 0)
		return -err->code;
	if (v > max)
		return lc_err_set(err, EPROTONOSUPPORT, "version %lld is newer than this lsf-criu "
				  "understands (%d)", v, max);
	return 0;
}

int lc_json_str(json_t *o, const char *key, char *buf, size_t size, struct lc_err *err)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_string(v))
		return lc_err_set(err, EINVAL, "field '%s' missing or not a string", key);
	if (json_string_length(v) >= size || strlen(json_string_value(v)) != json_string_length(v))
		return lc_err_set(err, EINVAL, "field '%s' too long or holds a NUL", key);
	memcpy(buf, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

int lc_json_int(json_t *o, const char *key, long long min, long long max, long long *ret,
		struct lc_err *err)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		return lc_err_set(err, EINVAL, "field '%s' missing or not an integer", key);
	if (json_integer_value(v) < min || json_integer_value(v) > max)
		return lc_err_set(err, ERANGE, "field '%s' out of range", key);
	*ret = json_integer_value(v);
	return 0;
}

int lc_json_save(int dirfd, const char *name, json_t *o)
{
	char *txt;
	int r;

	if (!o)
		return -ENOMEM;
	txt = json_dumps(o, JSON_INDENT(2));
	json_decref(o);
	if (!txt)
		return -ENOMEM;
	r = lc_write_atomic_at(dirfd, name, txt, strlen(txt), 0600);
	free(txt);
	return r;
}
