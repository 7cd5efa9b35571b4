/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Configuration, in this order, each overriding the one before:
 *
 *   1. built-in defaults;
 *   2. the system file LC_SYSCONFDIR/lsf-criu.conf;
 *   3. $LSF_ENVDIR/lsf-criu.conf, beside LSF's own lsf.conf, when it is
 *      trusted: a regular file owned by root or by the owner of lsf.conf
 *      (LSF's primary admin), writable by nobody else, in a directory
 *      writable by nobody else;
 *   4. only when the admin set "allow_user_overrides = yes": the file named
 *      by $LSF_CRIU_CONF, then $LSF_CRIU_CRIU for the criu path, and the
 *      job's JOB_TERMINATE_INTERVAL over lsb.params' (lc_cfg_terminate_interval).
 *
 * "key = value" lines, '#' comments. Bad values are logged and the previous
 * value kept. The admin limits (max_timeout_seconds, max_restart_limit,
 * terminate_interval) bound what a job owner may ask for in the job's
 * environment.
 */
#ifndef LC_CFG_H
#define LC_CFG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

enum lc_missing_policy { LC_MISSING_FAIL, LC_MISSING_RERUN };
/* capabilities: criu has file capabilities; starter-only: none, jobs run under lsf-criu-start. */
enum lc_install_mode { LC_MODE_CAPABILITIES, LC_MODE_STARTER_ONLY };

struct lc_cfg {
	char criu[PATH_MAX];		 /* absolute path of criu */
	enum lc_missing_policy missing;	 /* erestart: images missing or invalid */
	long pid_wait_seconds;		 /* restore: wait for the original PIDs */
	long kill_wait_seconds;		 /* echkpnt -k: wait for the tree to vanish */
	long max_timeout_seconds;	 /* cap of ORUN_TIMEOUT_SECONDS */
	long max_restart_limit;		 /* cap of ORUN_RESTART_LIMIT */
	long terminate_interval;	 /* seconds between INT, TERM, KILL; 0: from lsb.params */
	long checkpoint_timeout_seconds; /* deadline of a checkpoint not asked at the run limit */
	long space_margin_mb;		 /* extra room a checkpoint must find on the filesystem */
	bool image_streaming;		 /* dump through our streamer into one container */
	int compression;		 /* enum lc_compress: 0 auto, 1 off, 2 on */
	long postexec_grace_seconds;	 /* the watchdog runs the post-exec if none acted by then */
	bool allow_user_overrides; /* honour LSF_CRIU_CONF, LSF_CRIU_CRIU, JOB_TERMINATE_INTERVAL */
	char path[PATH_MAX];	   /* the last file read, or "" */
	enum lc_install_mode mode; /* install_mode (lsf-criu check) */
};

/* Never fails: problems are logged and defaults kept. */
void lc_cfg_load(struct lc_cfg *cfg);
/*
 * lc_cfg_load() with the system file sysconf and LSF's configuration
 * directory envdir (NULL: none); exposed for tests.
 */
void lc_cfg_load_files(struct lc_cfg *cfg, const char *sysconf, const char *envdir);
/* Parses one config text into cfg (exposed for tests and fuzzing). */
void lc_cfg_parse(struct lc_cfg *cfg, const char *text);

/*
 * Seconds between LSF's INT, TERM and KILL: the admin's terminate_interval;
 * else, where the admin allows user overrides, the job's
 * JOB_TERMINATE_INTERVAL; else JOB_TERMINATE_INTERVAL of LSF's lsb.params
 * (see lc_lsf_conf_path); else 10 (LSF's default).
 */
long lc_cfg_terminate_interval(const struct lc_cfg *cfg);
/*
 * The path of one of LSF's configuration files: <envdir>/<name>, else
 * <envdir>/lsbatch/<cluster>/configdir/<name> (a standard LSF install).
 */
int lc_lsf_conf_path(const char *envdir, const char *name, char *buf, size_t size);
/* The job's value of name (an integer in [min, max], default def), capped at cap. */
long lc_cfg_capped_env(const char *name, long min, long max, long def, long cap);

#endif
