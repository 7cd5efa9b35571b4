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
		return lc_err_set(err, EPROTONOSUPPORT,
				  "version %lld is newer than this lsf-criu "
				  "understands (%d)",
				  v, max);
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

json_t *lc_json_text(const char *s)
{
	json_t *j = json_string(s);
	char *copy;
	size_t i = 0, n;

	if (j || !s)
		return j;
	copy = strdup(s);
	if (!copy)
		return NULL;
	n = strlen(copy);
	/* Keep every complete UTF-8 sequence, replace any other byte. */
	while (i < n) {
		unsigned char c = (unsigned char)copy[i];
		size_t len = c < 0x80		  ? 1
			     : (c & 0xe0) == 0xc0 ? 2
			     : (c & 0xf0) == 0xe0 ? 3
			     : (c & 0xf8) == 0xf0 ? 4
						  : 0;
		json_t *probe;
		char tmp[5];

		if (len == 0 || i + len > n) {
			copy[i++] = '?';
			continue;
		}
		memcpy(tmp, copy + i, len);
		tmp[len] = '\0';
		probe = json_string(tmp);
		if (!probe) {
			copy[i++] = '?';
			continue;
		}
		json_decref(probe);
		i += len;
	}
	j = json_string(copy);
	free(copy);
	return j;
}

int lc_json_set_path(json_t *o, const char *key, const char *path)
{
	static const char hex[] = "0123456789abcdef";
	json_t *v = json_string(path);
	char name[64];
	char *h;
	size_t n;
	int r;

	if (v)
		return json_object_set_new(o, key, v);
	n = strlen(path);
	h = malloc(2 * n + 1);
	if (!h || (size_t)snprintf(name, sizeof(name), "%s_hex", key) >= sizeof(name)) {
		free(h);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		h[2 * i] = hex[(unsigned char)path[i] >> 4];
		h[2 * i + 1] = hex[(unsigned char)path[i] & 15];
	}
	h[2 * n] = '\0';
	r = json_object_set_new(o, name, json_string(h));
	free(h);
	return r;
}

static int unhex(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int lc_json_path(json_t *o, const char *key, char *buf, size_t size, struct lc_err *err)
{
	char name[64];
	const char *h;
	json_t *v;
	size_t n;

	if (json_object_get(o, key))
		return lc_json_str(o, key, buf, size, err);
	snprintf(name, sizeof(name), "%s_hex", key);
	v = json_object_get(o, name);
	if (!json_is_string(v))
		return lc_err_set(err, EINVAL, "field '%s' missing or not a string", key);
	h = json_string_value(v);
	n = json_string_length(v);
	if (n % 2 || n / 2 >= size)
		return lc_err_set(err, EINVAL, "field '%s' is not hexadecimal or too long", name);
	for (size_t i = 0; i < n / 2; i++) {
		int hi = unhex(h[2 * i]), lo = unhex(h[2 * i + 1]);

		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			return lc_err_set(err, EINVAL,
					  "field '%s' is not hexadecimal or holds a NUL", name);
		buf[i] = (char)(hi << 4 | lo);
	}
	buf[n / 2] = '\0';
	return 0;
}

int lc_json_save(int dirfd, const char *name, json_t *o)
{
	return lc_json_save_flags(dirfd, name, o, 0);
}

int lc_json_save_flags(int dirfd, const char *name, json_t *o, int flags)
{
	char *txt;
	int r;

	if (!o)
		return -ENOMEM;
	txt = json_dumps(o, JSON_INDENT(2));
	json_decref(o);
	if (!txt)
		return -ENOMEM;
	r = lc_write_file_at(dirfd, name, txt, strlen(txt), 0600, flags);
	free(txt);
	return r;
}
