/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Configuration: built-in defaults, then the config file ($LSF_CRIU_CONF or
 * LC_SYSCONFDIR/lsf-criu.conf, "key = value" lines, '#' comments), then
 * $LSF_CRIU_CRIU for the criu path. Bad values are logged and the default kept.
 */
#ifndef LC_CFG_H
#define LC_CFG_H

#include <limits.h>
#include <stdbool.h>

enum lc_missing_policy { LC_MISSING_FAIL, LC_MISSING_RERUN };
/* capabilities: criu has file capabilities; starter-only: none, jobs run under lsf-criu-start. */
enum lc_install_mode { LC_MODE_CAPABILITIES, LC_MODE_STARTER_ONLY };

struct lc_cfg {
	char criu[PATH_MAX];		 /* absolute path of criu */
	enum lc_missing_policy missing; /* erestart: images missing or invalid */
	long pid_wait_seconds;		 /* restore: wait for the original PIDs */
	long kill_wait_seconds;		 /* echkpnt -k: wait for the tree to vanish */
	char path[PATH_MAX];		 /* the file read, or "" */
	enum lc_install_mode mode;	 /* install_mode (lsf-criu check) */
};

/* Never fails: problems are logged and defaults kept. */
void lc_cfg_load(struct lc_cfg *cfg);
/* Parses one config text into cfg (exposed for tests and fuzzing). */
void lc_cfg_parse(struct lc_cfg *cfg, const char *text);

#endif
