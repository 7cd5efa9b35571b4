/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Configuration loading; see cfg.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "cleanup.h"
#include "log.h"
#include "util.h"

#ifndef LC_SYSCONFDIR
#define LC_SYSCONFDIR "/etc"
#endif
#ifndef LC_CRIU_DEFAULT
#define LC_CRIU_DEFAULT "/usr/local/libexec/lsf-criu/criu"
#endif

static void set_criu(struct lc_cfg *cfg, const char *v, const char *from)
{
	if (v[0] != '/' || strlen(v) >= sizeof(cfg->criu)) {
		log_warn("%s: criu path '%s' is not an absolute path, ignoring", from, v);
		return;
	}
	snprintf(cfg->criu, sizeof(cfg->criu), "%s", v);
}

void lc_cfg_parse(struct lc_cfg *cfg, const char *text)
{
	const char *p = text;
	int lineno = 0;

	while (*p) {
		char line[1024], *key, *val, *eq;
		size_t n = strcspn(p, "\n");
		long v;

		lineno++;
		if (n >= sizeof(line)) {
			log_warn("config line %d is too long, ignoring", lineno);
			p += n + (p[n] == '\n');
			continue;
		}
		memcpy(line, p, n);
		line[n] = '\0';
		p += n + (p[n] == '\n');
		key = lc_trim(line);
		if (!*key || *key == '#')
			continue;
		/* A '#' after a blank starts a comment, as in LSF's own files. */
		for (char *h = strchr(key, '#'); h; h = strchr(h + 1, '#'))
			if (h[-1] == ' ' || h[-1] == '\t') {
				*h = '\0';
				key = lc_trim(key);
				break;
			}
		eq = strchr(key, '=');
		if (!eq) {
			log_warn("config line %d: no '=', ignoring", lineno);
			continue;
		}
		*eq = '\0';
		key = lc_trim(key);
		val = lc_trim(eq + 1);
		if (!strcmp(key, "criu")) {
			set_criu(cfg, val, "config");
		} else if (!strcmp(key, "restore_missing_images")) {
			if (!strcmp(val, "fail"))
				cfg->missing = LC_MISSING_FAIL;
			else if (!strcmp(val, "rerun"))
				cfg->missing = LC_MISSING_RERUN;
			else
				log_warn("config: restore_missing_images '%s' is not 'fail' or "
					 "'rerun', ignoring",
					 val);
		} else if (!strcmp(key, "install_mode")) {
			if (!strcmp(val, "capabilities"))
				cfg->mode = LC_MODE_CAPABILITIES;
			else if (!strcmp(val, "starter-only"))
				cfg->mode = LC_MODE_STARTER_ONLY;
			else
				log_warn("config: install_mode '%s' is not 'capabilities' or "
					 "'starter-only', ignoring",
					 val);
		} else if (!strcmp(key, "pid_wait_seconds") || !strcmp(key, "kill_wait_seconds")) {
			if (lc_parse_long(val, 0, 86400, &v) < 0) {
				log_warn("config: %s '%s' is not a number of seconds (0-86400), "
					 "ignoring",
					 key, val);
				continue;
			}
			if (key[0] == 'p')
				cfg->pid_wait_seconds = v;
			else
				cfg->kill_wait_seconds = v;
		} else {
			log_warn("config line %d: unknown key '%s', ignoring", lineno, key);
		}
	}
}

void lc_cfg_load(struct lc_cfg *cfg)
{
	_cleanup_free_ char *text = NULL;
	const char *path, *env;
	int r;

	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->criu, sizeof(cfg->criu), "%s", LC_CRIU_DEFAULT);
	cfg->missing = LC_MISSING_FAIL;
	cfg->pid_wait_seconds = 60;
	cfg->kill_wait_seconds = 10;

	env = getenv("LSF_CRIU_CONF");
	path = env && *env ? env : LC_SYSCONFDIR "/lsf-criu.conf";
	r = lc_read_file_at(AT_FDCWD, path, 65536, (uid_t)-1, &text, NULL);
	if (r == 0) {
		snprintf(cfg->path, sizeof(cfg->path), "%s", path);
		lc_cfg_parse(cfg, text);
	} else if (r != -ENOENT || (env && *env)) {
		log_warn("cannot read config file '%s': %s, using defaults", path, strerror(-r));
	}
	env = getenv("LSF_CRIU_CRIU");
	if (env && *env)
		set_criu(cfg, env, "LSF_CRIU_CRIU");
}
