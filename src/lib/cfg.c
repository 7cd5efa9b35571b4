/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Configuration loading; see cfg.h.
 *
 * Contract:
 * 1. A value that changes what the admin enforces (the criu binary, the
 *    limits) MUST come from a file the job owner cannot write, unless the
 *    admin explicitly allowed user overrides.
 * 2. Every problem is logged once and leaves the previous value in place.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "cleanup.h"
#include "log.h"
#include "lsfenv.h"
#include "util.h"

#ifndef LC_SYSCONFDIR
#define LC_SYSCONFDIR "/etc"
#endif
#ifndef LC_CRIU_DEFAULT
#define LC_CRIU_DEFAULT "/usr/local/libexec/lsf-criu/criu"
#endif

#define CFG_NAME "lsf-criu.conf"

static void set_criu(struct lc_cfg *cfg, const char *v, const char *from)
{
	if (v[0] != '/' || strlen(v) >= sizeof(cfg->criu)) {
		log_warn("%s: criu path '%s' is not an absolute path, ignoring", from, v);
		return;
	}
	snprintf(cfg->criu, sizeof(cfg->criu), "%s", v);
}

static const struct {
	const char *key;
	size_t off;
	long min, max;
} numbers[] = {
	{ "pid_wait_seconds", offsetof(struct lc_cfg, pid_wait_seconds), 0, 86400 },
	{ "kill_wait_seconds", offsetof(struct lc_cfg, kill_wait_seconds), 0, 86400 },
	{ "max_timeout_seconds", offsetof(struct lc_cfg, max_timeout_seconds), 1, 86400 },
	{ "max_restart_limit", offsetof(struct lc_cfg, max_restart_limit), 0, 60 },
	{ "terminate_interval", offsetof(struct lc_cfg, terminate_interval), 1, 3600 },
	{ "checkpoint_timeout_seconds", offsetof(struct lc_cfg, checkpoint_timeout_seconds), 1,
	  604800 },
	{ "space_margin_mb", offsetof(struct lc_cfg, space_margin_mb), 0, 1 << 20 },
	{ "postexec_grace_seconds", offsetof(struct lc_cfg, postexec_grace_seconds), 1, 86400 },
};

static bool parse_bool(const char *v, bool *ret)
{
	if (!strcmp(v, "yes") || !strcmp(v, "y") || !strcmp(v, "Y") || !strcmp(v, "true")) {
		*ret = true;
		return true;
	}
	if (!strcmp(v, "no") || !strcmp(v, "n") || !strcmp(v, "N") || !strcmp(v, "false")) {
		*ret = false;
		return true;
	}
	return false;
}

static void set_key(struct lc_cfg *cfg, const char *key, const char *val, int lineno)
{
	long v;

	if (!strcmp(key, "criu")) {
		set_criu(cfg, val, "config");
		return;
	}
	if (!strcmp(key, "restore_missing_images")) {
		if (!strcmp(val, "fail"))
			cfg->missing = LC_MISSING_FAIL;
		else if (!strcmp(val, "rerun"))
			cfg->missing = LC_MISSING_RERUN;
		else
			log_warn("config: restore_missing_images '%s' is not 'fail' or 'rerun', "
				 "ignoring",
				 val);
		return;
	}
	if (!strcmp(key, "install_mode")) {
		if (!strcmp(val, "capabilities"))
			cfg->mode = LC_MODE_CAPABILITIES;
		else if (!strcmp(val, "starter-only"))
			cfg->mode = LC_MODE_STARTER_ONLY;
		else
			log_warn("config: install_mode '%s' is not 'capabilities' or "
				 "'starter-only', ignoring",
				 val);
		return;
	}
	if (!strcmp(key, "image_streaming")) {
		if (!parse_bool(val, &cfg->image_streaming))
			log_warn("config: image_streaming '%s' is not yes or no, ignoring", val);
		return;
	}
	if (!strcmp(key, "compression")) {
		/* The values of enum lc_compress (imgstream.h). */
		if (!strcmp(val, "auto"))
			cfg->compression = 0;
		else if (!strcmp(val, "off"))
			cfg->compression = 1;
		else if (!strcmp(val, "on"))
			cfg->compression = 2;
		else
			log_warn("config: compression '%s' is not auto, on or off, ignoring", val);
		return;
	}
	if (!strcmp(key, "allow_user_overrides")) {
		if (!parse_bool(val, &cfg->allow_user_overrides))
			log_warn("config: allow_user_overrides '%s' is not yes or no, ignoring",
				 val);
		return;
	}
	for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
		if (strcmp(key, numbers[i].key))
			continue;
		if (lc_parse_long(val, numbers[i].min, numbers[i].max, &v) < 0) {
			log_warn("config: %s '%s' is not a whole number from %ld to %ld, ignoring",
				 key, val, numbers[i].min, numbers[i].max);
			return;
		}
		*(long *)((char *)cfg + numbers[i].off) = v;
		return;
	}
	log_warn("config line %d: unknown key '%s', ignoring", lineno, key);
}

/*
 * Calls fn(key, value) for every "key = value" line (value NULL without '=');
 * '#' starts a comment. Over-long lines are skipped, logged unless quiet.
 */
static void for_each_line(const char *text, void (*fn)(void *, const char *, const char *, int),
			  void *arg, bool quiet)
{
	const char *p = text;
	int lineno = 0;

	while (*p) {
		char line[1024], *key, *val, *eq;
		size_t n = strcspn(p, "\n");

		lineno++;
		if (n >= sizeof(line)) {
			if (!quiet)
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
			fn(arg, key, NULL, lineno);
			continue;
		}
		*eq = '\0';
		key = lc_trim(key);
		val = lc_trim(eq + 1);
		fn(arg, key, val, lineno);
	}
}

static void cfg_line(void *arg, const char *key, const char *val, int lineno)
{
	if (!val) {
		log_warn("config line %d: no '=', ignoring", lineno);
		return;
	}
	set_key(arg, key, val, lineno);
}

void lc_cfg_parse(struct lc_cfg *cfg, const char *text)
{
	for_each_line(text, cfg_line, cfg, false);
}

/* Reads and parses path; a missing file is silent unless loud. */
static void read_file(struct lc_cfg *cfg, int atfd, const char *name, const char *shown, bool loud)
{
	_cleanup_free_ char *text = NULL;
	int r = lc_read_file_at(atfd, name, 65536, (uid_t)-1, &text, NULL);

	if (r == 0) {
		snprintf(cfg->path, sizeof(cfg->path), "%s", shown);
		lc_cfg_parse(cfg, text);
	} else if (r != -ENOENT || loud) {
		log_warn("cannot read config file '%s': %s, ignoring it", shown, strerror(-r));
	}
}

/*
 * The admin's file in LSF's configuration directory: owned by root or by
 * lsf.conf's owner, writable by nobody else, in a directory writable by
 * nobody else. Returns an fd of the directory, or -1.
 */
static int trusted_envdir(const char *envdir, struct stat *ret_st)
{
	_cleanup_close_ int dfd = -1;
	struct stat dst, lst, fst;
	uid_t admin = 0;

	if (!envdir || envdir[0] != '/')
		return -1;
	dfd = open(envdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fstat(dfd, &dst) < 0)
		return -1;
	if (fstatat(dfd, "lsf.conf", &lst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(lst.st_mode))
		admin = lst.st_uid;
	if (fstatat(dfd, CFG_NAME, &fst, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	if ((dst.st_uid != 0 && dst.st_uid != admin) || (dst.st_mode & (S_IWGRP | S_IWOTH)) ||
	    !S_ISREG(fst.st_mode) || (fst.st_uid != 0 && fst.st_uid != admin) ||
	    (fst.st_mode & (S_IWGRP | S_IWOTH))) {
		log_warn("'%s/%s' is not owned by root or LSF's admin, or is writable by others; "
			 "ignoring it",
			 envdir, CFG_NAME);
		return -1;
	}
	*ret_st = fst;
	return TAKE_FD(dfd);
}

void lc_cfg_load_files(struct lc_cfg *cfg, const char *sysconf, const char *envdir)
{
	_cleanup_close_ int dfd = -1;
	const char *env;
	struct stat st;

	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->criu, sizeof(cfg->criu), "%s", LC_CRIU_DEFAULT);
	cfg->missing = LC_MISSING_FAIL;
	cfg->pid_wait_seconds = 60;
	cfg->kill_wait_seconds = 10;
	cfg->max_timeout_seconds = 3600;
	cfg->max_restart_limit = 60;
	cfg->terminate_interval = 0;
	cfg->checkpoint_timeout_seconds = 3600;
	cfg->space_margin_mb = 64;
	cfg->image_streaming = true;
	cfg->compression = 0;
	cfg->postexec_grace_seconds = 120;

	if (sysconf)
		read_file(cfg, AT_FDCWD, sysconf, sysconf, false);
	dfd = trusted_envdir(envdir, &st);
	if (dfd >= 0) {
		char shown[PATH_MAX];

		snprintf(shown, sizeof(shown), "%s/%s", envdir, CFG_NAME);
		read_file(cfg, dfd, CFG_NAME, shown, true);
	}
	env = getenv("LSF_CRIU_CONF");
	if (env && *env) {
		if (cfg->allow_user_overrides)
			read_file(cfg, AT_FDCWD, env, env, true);
		else
			log_warn("LSF_CRIU_CONF='%.200s' is ignored: the admin does not allow user "
				 "overrides (allow_user_overrides)",
				 env);
	}
	env = getenv("LSF_CRIU_CRIU");
	if (env && *env) {
		if (cfg->allow_user_overrides)
			set_criu(cfg, env, "LSF_CRIU_CRIU");
		else if (strcmp(env, cfg->criu))
			log_warn("LSF_CRIU_CRIU='%.200s' is ignored: the admin does not allow user "
				 "overrides (allow_user_overrides); using '%s'",
				 env, cfg->criu);
	}
}

void lc_cfg_load(struct lc_cfg *cfg)
{
	lc_cfg_load_files(cfg, LC_SYSCONFDIR "/" CFG_NAME, getenv("LSF_ENVDIR"));
}

struct params_seek {
	long value;
};

static void params_line(void *arg, const char *key, const char *val, int lineno)
{
	struct params_seek *p = arg;
	long v;

	(void)lineno;
	if (val && !strcmp(key, "JOB_TERMINATE_INTERVAL") && lc_parse_long(val, 1, 3600, &v) == 0)
		p->value = v;
}

int lc_lsf_conf_path(const char *envdir, const char *name, char *buf, size_t size)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	struct stat st;
	char sub[PATH_MAX];

	if (!envdir || envdir[0] != '/')
		return -ENOENT;
	if ((size_t)snprintf(buf, size, "%s/%s", envdir, name) < size && stat(buf, &st) == 0 &&
	    S_ISREG(st.st_mode))
		return 0;
	snprintf(sub, sizeof(sub), "%s/lsbatch", envdir);
	d = opendir(sub);
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(buf, size, "%s/%s/configdir/%s", sub, de->d_name, name) <
			    size &&
		    stat(buf, &st) == 0 && S_ISREG(st.st_mode))
			return 0;
	}
	buf[0] = '\0';
	return -ENOENT;
}

/* JOB_TERMINATE_INTERVAL from LSF's lsb.params, or 0. */
static long lsb_params_interval(void)
{
	_cleanup_free_ char *text = NULL;
	struct params_seek p = { 0 };
	char path[PATH_MAX];

	if (lc_lsf_conf_path(getenv("LSF_ENVDIR"), "lsb.params", path, sizeof(path)) < 0 ||
	    lc_read_file_at(AT_FDCWD, path, 1 << 20, (uid_t)-1, &text, NULL) < 0)
		return 0;
	/* LSF's file, not ours: its odd lines are none of our business (quiet). */
	for_each_line(text, params_line, &p, true);
	return p.value;
}

long lc_cfg_terminate_interval(const struct lc_cfg *cfg)
{
	long v;

	if (cfg->terminate_interval > 0)
		return cfg->terminate_interval;
	v = lsb_params_interval();
	if (cfg->allow_user_overrides)
		return lc_env_long("JOB_TERMINATE_INTERVAL", 1, 3600, v > 0 ? v : 10);
	return v > 0 ? v : 10;
}

long lc_cfg_capped_env(const char *name, long min, long max, long def, long cap)
{
	long v = lc_env_long(name, min, max, def < cap ? def : cap);

	if (v > cap) {
		log_warn("%s=%ld is above the admin's limit %ld; using %ld", name, v, cap, cap);
		return cap;
	}
	return v;
}
