/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of src/lib/cfg.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "log.h"
#include "tap.h"

/* The defaults of lc_cfg_load() (see cfg.c). */
#define DEF_CRIU      LC_CRIU_DEFAULT
#define DEF_MISSING   LC_MISSING_FAIL
#define DEF_PID_WAIT  60
#define DEF_KILL_WAIT 10

/* A config holding the defaults, as lc_cfg_load() starts. */
static void cfg_defaults(struct lc_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->criu, sizeof(cfg->criu), "%s", DEF_CRIU);
	cfg->missing = DEF_MISSING;
	cfg->pid_wait_seconds = DEF_PID_WAIT;
	cfg->kill_wait_seconds = DEF_KILL_WAIT;
	/* Warnings about bad lines are expected here; keep the output short. */
	lc_log_stderr_level(LC_LOG_ERROR);
}

/* True if cfg still holds every default. */
static int is_default(const struct lc_cfg *cfg)
{
	CHECK_STR(cfg->criu, DEF_CRIU);
	CHECK_INT(cfg->missing, ==, DEF_MISSING);
	CHECK_INT(cfg->pid_wait_seconds, ==, DEF_PID_WAIT);
	CHECK_INT(cfg->kill_wait_seconds, ==, DEF_KILL_WAIT);
	return TAP_PASS;
}

static int parse_valid(void)
{
	struct lc_cfg cfg;

	cfg_defaults(&cfg);
	lc_cfg_parse(&cfg, "criu = /opt/criu/sbin/criu\n"
			   "restore_missing_images = rerun\n"
			   "pid_wait_seconds = 120\n"
			   "kill_wait_seconds = 0\n");
	CHECK_STR(cfg.criu, "/opt/criu/sbin/criu");
	CHECK_INT(cfg.missing, ==, LC_MISSING_RERUN);
	CHECK_INT(cfg.pid_wait_seconds, ==, 120);
	CHECK_INT(cfg.kill_wait_seconds, ==, 0);
	/* Back to "fail", and the limits of the range. */
	lc_cfg_parse(&cfg, "restore_missing_images = fail\npid_wait_seconds = 86400\n"
			   "kill_wait_seconds = 86400");
	CHECK_INT(cfg.missing, ==, LC_MISSING_FAIL);
	CHECK_INT(cfg.pid_wait_seconds, ==, 86400);
	CHECK_INT(cfg.kill_wait_seconds, ==, 86400);
	return TAP_PASS;
}

static int parse_whitespace(void)
{
	struct lc_cfg cfg;

	cfg_defaults(&cfg);
	/* No blanks, tabs, CRLF line ends, no newline at the end. */
	lc_cfg_parse(&cfg, "criu=/a/criu\r\n"
			   "\t pid_wait_seconds\t=\t7 \t\r\n"
			   "   kill_wait_seconds =3");
	CHECK_STR(cfg.criu, "/a/criu");
	CHECK_INT(cfg.pid_wait_seconds, ==, 7);
	CHECK_INT(cfg.kill_wait_seconds, ==, 3);
	/* A value holding '=' and blanks inside. */
	lc_cfg_parse(&cfg, "criu = /opt/my criu/x=y\n");
	CHECK_STR(cfg.criu, "/opt/my criu/x=y");
	/* The last of repeated keys wins. */
	lc_cfg_parse(&cfg, "pid_wait_seconds = 1\npid_wait_seconds = 2\n");
	CHECK_INT(cfg.pid_wait_seconds, ==, 2);
	return TAP_PASS;
}

static int parse_comments_and_blanks(void)
{
	struct lc_cfg cfg;

	cfg_defaults(&cfg);
	lc_cfg_parse(&cfg, "# criu = /evil/criu\n"
			   "\n"
			   "   \n"
			   "\t\n"
			   "\r\n"
			   "  # pid_wait_seconds = 1\n"
			   "#kill_wait_seconds=2\n"
			   "\n\n\n");
	if (is_default(&cfg) != TAP_PASS)
		return TAP_FAIL;
	lc_cfg_parse(&cfg, "");
	if (is_default(&cfg) != TAP_PASS)
		return TAP_FAIL;
	/* Comments and blanks around a real setting. */
	lc_cfg_parse(&cfg, "# lsf-criu\n\nkill_wait_seconds = 4\n# end\n");
	CHECK_INT(cfg.kill_wait_seconds, ==, 4);
	CHECK_INT(cfg.pid_wait_seconds, ==, DEF_PID_WAIT);
	/* A '#' after a blank ends the value; one inside a word does not. */
	lc_cfg_parse(&cfg, "pid_wait_seconds = 7 # seconds\ncriu = /opt/c#1/criu\t# ours\n");
	CHECK_INT(cfg.pid_wait_seconds, ==, 7);
	CHECK_STR(cfg.criu, "/opt/c#1/criu");
	return TAP_PASS;
}

static int parse_relative_criu_ignored(void)
{
	static const char *const bad[] = {
		"criu = criu\n", "criu = bin/criu\n", "criu = ./criu\n", "criu = ../x/criu\n",
		"criu =\n",	 "criu = \n",	      "criu = ~/criu\n", "criu = $HOME/criu\n",
	};
	struct lc_cfg cfg;

	cfg_defaults(&cfg);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		lc_cfg_parse(&cfg, bad[i]);
		CHECK_STR(cfg.criu, DEF_CRIU);
	}
	/* A good path earlier in the same text is kept. */
	lc_cfg_parse(&cfg, "criu = /good/criu\ncriu = bad/criu\n");
	CHECK_STR(cfg.criu, "/good/criu");
	return TAP_PASS;
}

static int parse_bad_numbers_ignored(void)
{
	static const char *const bad[] = {
		"",	"-1",  "+5",   "05",	"5s",
		"5.0",	"1e3", "0x10", "86401", "99999999999999999999",
		"five", "5 5", "- 5",
	};
	struct lc_cfg cfg;
	char line[128];

	cfg_defaults(&cfg);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(line, sizeof(line), "pid_wait_seconds = %s\nkill_wait_seconds = %s\n",
			 bad[i], bad[i]);
		lc_cfg_parse(&cfg, line);
		if (is_default(&cfg) != TAP_PASS) {
			tap_diag("value \"%s\" was taken", bad[i]);
			return TAP_FAIL;
		}
	}
	/* A bad value does not stop the lines after it. */
	lc_cfg_parse(&cfg, "pid_wait_seconds = x\nkill_wait_seconds = 9\n");
	CHECK_INT(cfg.pid_wait_seconds, ==, DEF_PID_WAIT);
	CHECK_INT(cfg.kill_wait_seconds, ==, 9);
	return TAP_PASS;
}

static int parse_bad_policy_ignored(void)
{
	static const char *const bad[] = { "", "Rerun", "RERUN", "rerun2", "re run", "1", "true" };
	struct lc_cfg cfg;
	char line[128];

	cfg_defaults(&cfg);
	cfg.missing = LC_MISSING_RERUN;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(line, sizeof(line), "restore_missing_images = %s\n", bad[i]);
		lc_cfg_parse(&cfg, line);
		CHECK_INT(cfg.missing, ==, LC_MISSING_RERUN);
	}
	return TAP_PASS;
}

static int parse_unknown_keys_ignored(void)
{
	struct lc_cfg cfg;

	cfg_defaults(&cfg);
	lc_cfg_parse(&cfg, "foo = bar\n"
			   "CRIU = /upper/criu\n"
			   "criu_path = /other/criu\n"
			   " = /no/key\n"
			   "=\n"
			   "no equals sign here\n"
			   "criu /no/equals\n"
			   "pid_wait_seconds: 5\n"
			   "[section]\n");
	if (is_default(&cfg) != TAP_PASS)
		return TAP_FAIL;
	/* Unknown keys do not stop the known ones. */
	lc_cfg_parse(&cfg, "future_key = 1\nkill_wait_seconds = 11\n");
	CHECK_INT(cfg.kill_wait_seconds, ==, 11);
	return TAP_PASS;
}

/* Builds "<key> = <value>" padded with blanks before the newline to len bytes. */
static char *padded_line(const char *setting, size_t len)
{
	size_t n = strlen(setting);
	char *s = malloc(len + 64);

	if (!s || n > len)
		abort();
	memcpy(s, setting, n);
	memset(s + n, ' ', len - n);
	snprintf(s + len, 64, "\n");
	return s;
}

static int parse_long_line_ignored(void)
{
	struct lc_cfg cfg;
	char *text, *line;
	size_t n;

	cfg_defaults(&cfg);
	/* A line of 1024 characters or more is ignored as a whole... */
	line = padded_line("pid_wait_seconds = 5", 1024);
	lc_cfg_parse(&cfg, line);
	free(line);
	CHECK_INT(cfg.pid_wait_seconds, ==, DEF_PID_WAIT);
	/* ...also a long criu path, and a huge line... */
	line = malloc(70000);
	CHECK(line != NULL);
	n = (size_t)snprintf(line, 70000, "criu = /");
	memset(line + n, 'a', 70000 - n - 1);
	line[70000 - 1] = '\0';
	lc_cfg_parse(&cfg, line);
	CHECK_STR(cfg.criu, DEF_CRIU);
	free(line);
	/* ...and the lines after it still count. */
	line = padded_line("kill_wait_seconds = 5", 5000);
	text = malloc(strlen(line) + 64);
	CHECK(text != NULL);
	snprintf(text, strlen(line) + 64, "%spid_wait_seconds = 6\n", line);
	lc_cfg_parse(&cfg, text);
	free(text);
	free(line);
	CHECK_INT(cfg.kill_wait_seconds, ==, DEF_KILL_WAIT);
	CHECK_INT(cfg.pid_wait_seconds, ==, 6);
	/* A line of 1023 characters is still read. */
	line = padded_line("kill_wait_seconds = 8", 1023);
	lc_cfg_parse(&cfg, line);
	free(line);
	CHECK_INT(cfg.kill_wait_seconds, ==, 8);
	return TAP_PASS;
}

/* ---- lc_cfg_load ---- */

/* Writes name into the case's directory; returns its path in a static buffer. */
static const char *put(const char *name, const char *text)
{
	static char path[PATH_MAX + 64];

	if (text && tap_write_str(name, text) < 0)
		return NULL;
	snprintf(path, sizeof(path), "%s/%s", tap_dir, name);
	return path;
}

static int load_defaults(void)
{
	struct lc_cfg cfg;
	const char *path;

	lc_log_stderr_level(LC_LOG_ERROR);
	unsetenv("LSF_CRIU_CRIU");
	unsetenv("LSF_CRIU_CONF");
	/* An empty file. */
	path = put("empty.conf", "");
	CHECK(path);
	memset(&cfg, 0x5a, sizeof(cfg));
	lc_cfg_load_files(&cfg, path, NULL);
	if (is_default(&cfg) != TAP_PASS)
		return TAP_FAIL;
	CHECK_STR(cfg.path, path);
	CHECK_INT(cfg.max_timeout_seconds, ==, 3600);
	CHECK_INT(cfg.max_restart_limit, ==, 60);
	CHECK(!cfg.allow_user_overrides);
	/* A missing file: defaults, and no path. */
	memset(&cfg, 0x5a, sizeof(cfg));
	lc_cfg_load_files(&cfg, put("missing.conf", NULL), NULL);
	if (is_default(&cfg) != TAP_PASS)
		return TAP_FAIL;
	CHECK_STR(cfg.path, "");
	return TAP_PASS;
}

static int load_system_file(void)
{
	struct lc_cfg cfg;
	const char *path;

	lc_log_stderr_level(LC_LOG_ERROR);
	unsetenv("LSF_CRIU_CRIU");
	unsetenv("LSF_CRIU_CONF");
	path = put("lsf-criu.conf",
		   "# test\ncriu = /conf/criu\n"
		   "restore_missing_images = rerun\n"
		   "pid_wait_seconds = 30\nkill_wait_seconds = 2\n"
		   "max_timeout_seconds = 600\nmax_restart_limit = 3\n"
		   "terminate_interval = 4\ncheckpoint_timeout_seconds = 90\n"
		   "space_margin_mb = 0\nimage_streaming = no\ncompression = on\n");
	CHECK(path);
	lc_cfg_load_files(&cfg, path, NULL);
	CHECK(!cfg.image_streaming);
	CHECK_INT(cfg.compression, ==, 2);
	CHECK_STR(cfg.criu, "/conf/criu");
	CHECK_INT(cfg.missing, ==, LC_MISSING_RERUN);
	CHECK_INT(cfg.pid_wait_seconds, ==, 30);
	CHECK_INT(cfg.kill_wait_seconds, ==, 2);
	CHECK_INT(cfg.max_timeout_seconds, ==, 600);
	CHECK_INT(cfg.max_restart_limit, ==, 3);
	CHECK_INT(cfg.terminate_interval, ==, 4);
	CHECK_INT(cfg.checkpoint_timeout_seconds, ==, 90);
	CHECK_INT(cfg.space_margin_mb, ==, 0);
	CHECK_STR(cfg.path, path);
	/* Out of range: ignored. */
	path = put("bad.conf", "max_restart_limit = 61\nmax_timeout_seconds = 0\n"
			       "allow_user_overrides = maybe\nimage_streaming = perhaps\n"
			       "compression = max\n");
	lc_cfg_load_files(&cfg, path, NULL);
	CHECK(cfg.image_streaming);
	CHECK_INT(cfg.compression, ==, 0);
	CHECK_INT(cfg.max_restart_limit, ==, 60);
	CHECK_INT(cfg.max_timeout_seconds, ==, 3600);
	CHECK(!cfg.allow_user_overrides);
	return TAP_PASS;
}

/* The job owner's LSF_CRIU_CONF and LSF_CRIU_CRIU count only where the admin allows it. */
static int load_user_overrides(void)
{
	struct lc_cfg cfg;
	const char *sys;

	lc_log_stderr_level(LC_LOG_ERROR);
	CHECK(put("user.conf", "criu = /user/criu\nmax_timeout_seconds = 86400\n"));
	CHECK(setenv("LSF_CRIU_CONF", put("user.conf", NULL), 1) == 0);
	CHECK(setenv("LSF_CRIU_CRIU", "/env/criu", 1) == 0);
	sys = put("sys.conf", "criu = /conf/criu\nmax_timeout_seconds = 300\n");
	lc_cfg_load_files(&cfg, sys, NULL);
	CHECK_STR(cfg.criu, "/conf/criu");
	CHECK_INT(cfg.max_timeout_seconds, ==, 300);
	/* Allowed: the user's file, then LSF_CRIU_CRIU, win. */
	sys = put("sys2.conf", "criu = /conf/criu\nallow_user_overrides = yes\n");
	lc_cfg_load_files(&cfg, sys, NULL);
	CHECK_STR(cfg.criu, "/env/criu");
	CHECK_INT(cfg.max_timeout_seconds, ==, 86400);
	/* A relative or empty LSF_CRIU_CRIU is ignored: the file's value stays. */
	CHECK(setenv("LSF_CRIU_CRIU", "bin/criu", 1) == 0);
	lc_cfg_load_files(&cfg, sys, NULL);
	CHECK_STR(cfg.criu, "/user/criu");
	CHECK(setenv("LSF_CRIU_CRIU", "", 1) == 0);
	lc_cfg_load_files(&cfg, sys, NULL);
	CHECK_STR(cfg.criu, "/user/criu");
	/* Too long for the buffer: ignored. */
	{
		char *longp = malloc(PATH_MAX + 16);

		CHECK(longp != NULL);
		longp[0] = '/';
		memset(longp + 1, 'x', PATH_MAX + 1);
		longp[PATH_MAX + 2] = '\0';
		CHECK(setenv("LSF_CRIU_CRIU", longp, 1) == 0);
		free(longp);
		unsetenv("LSF_CRIU_CONF");
		lc_cfg_load_files(&cfg, sys, NULL);
		CHECK_STR(cfg.criu, "/conf/criu");
	}
	unsetenv("LSF_CRIU_CRIU");
	unsetenv("LSF_CRIU_CONF");
	return TAP_PASS;
}

/* $LSF_ENVDIR/lsf-criu.conf counts when nobody but root or LSF's admin can write it. */
static int load_envdir(void)
{
	struct lc_cfg cfg;

	lc_log_stderr_level(LC_LOG_ERROR);
	unsetenv("LSF_CRIU_CRIU");
	unsetenv("LSF_CRIU_CONF");
	CHECK(put("lsf.conf", "LSF_ENVDIR=x\n"));
	CHECK(put("lsf-criu.conf", "criu = /envdir/criu\nmax_restart_limit = 1\n"));
	CHECK(put("sys.conf", "criu = /sys/criu\nmax_restart_limit = 5\n"));
	/* We own lsf.conf here, so we are "LSF's admin" for the test. */
	lc_cfg_load_files(&cfg, put("sys.conf", NULL), tap_dir);
	CHECK_STR(cfg.criu, "/envdir/criu");
	CHECK_INT(cfg.max_restart_limit, ==, 1);
	/* Writable by the group: ignored. */
	CHECK(fchmodat(tap_dirfd, "lsf-criu.conf", 0664, 0) == 0);
	lc_cfg_load_files(&cfg, put("sys.conf", NULL), tap_dir);
	CHECK_STR(cfg.criu, "/sys/criu");
	CHECK_INT(cfg.max_restart_limit, ==, 5);
	CHECK(fchmodat(tap_dirfd, "lsf-criu.conf", 0644, 0) == 0);
	/* A symlink: ignored. */
	CHECK(renameat(tap_dirfd, "lsf-criu.conf", tap_dirfd, "real.conf") == 0);
	CHECK(symlinkat("real.conf", tap_dirfd, "lsf-criu.conf") == 0);
	lc_cfg_load_files(&cfg, put("sys.conf", NULL), tap_dir);
	CHECK_STR(cfg.criu, "/sys/criu");
	/* A relative LSF_ENVDIR: ignored. */
	lc_cfg_load_files(&cfg, put("sys.conf", NULL), "conf");
	CHECK_STR(cfg.criu, "/sys/criu");
	return TAP_PASS;
}

/* LSF's JOB_TERMINATE_INTERVAL: the admin's value, lsb.params, the job's only if allowed. */
static int terminate_interval(void)
{
	struct lc_cfg cfg;

	lc_log_stderr_level(LC_LOG_ERROR);
	unsetenv("LSF_CRIU_CONF");
	CHECK(setenv("JOB_TERMINATE_INTERVAL", "3000", 1) == 0);
	CHECK(setenv("LSF_ENVDIR", tap_dir, 1) == 0);
	lc_cfg_load_files(&cfg, put("none.conf", NULL), NULL);
	CHECK_INT(lc_cfg_terminate_interval(&cfg), ==, 10);
	CHECK(put("lsb.params", "Begin Parameters\n# comment\nMBD_SLEEP_TIME = 5\n"
				"JOB_TERMINATE_INTERVAL = 7   # seconds\nEnd Parameters\n"));
	CHECK_INT(lc_cfg_terminate_interval(&cfg), ==, 7);
	cfg.allow_user_overrides = true;
	CHECK_INT(lc_cfg_terminate_interval(&cfg), ==, 3000);
	cfg.allow_user_overrides = false;
	cfg.terminate_interval = 2;
	CHECK_INT(lc_cfg_terminate_interval(&cfg), ==, 2);
	cfg.terminate_interval = 0;
	CHECK(put("lsb.params", "JOB_TERMINATE_INTERVAL = abc\n"));
	CHECK_INT(lc_cfg_terminate_interval(&cfg), ==, 10);
	/* A standard install: lsbatch/<cluster>/configdir/lsb.params. */
	CHECK(unlinkat(tap_dirfd, "lsb.params", 0) == 0);
	CHECK(mkdirat(tap_dirfd, "lsbatch", 0755) == 0);
	CHECK(mkdirat(tap_dirfd, "lsbatch/cl1", 0755) == 0);
	CHECK(mkdirat(tap_dirfd, "lsbatch/cl1/configdir", 0755) == 0);
	CHECK(put("lsbatch/cl1/configdir/lsb.params",
		  "Begin Parameters\n"
		  "JOB_TERMINATE_INTERVAL=12\nEnd Parameters\n"));
	CHECK_INT(lc_cfg_terminate_interval(&cfg), ==, 12);
	unsetenv("JOB_TERMINATE_INTERVAL");
	unsetenv("LSF_ENVDIR");
	return TAP_PASS;
}

/* The job's ORUN_* values, capped by the admin's limits. */
static int capped_env(void)
{
	lc_log_stderr_level(LC_LOG_ERROR);
	unsetenv("ORUN_TIMEOUT_SECONDS");
	CHECK_INT(lc_cfg_capped_env("ORUN_TIMEOUT_SECONDS", 1, 86400, 180, 3600), ==, 180);
	CHECK_INT(lc_cfg_capped_env("ORUN_TIMEOUT_SECONDS", 1, 86400, 180, 60), ==, 60);
	CHECK(setenv("ORUN_TIMEOUT_SECONDS", "86400", 1) == 0);
	CHECK_INT(lc_cfg_capped_env("ORUN_TIMEOUT_SECONDS", 1, 86400, 180, 3600), ==, 3600);
	CHECK(setenv("ORUN_TIMEOUT_SECONDS", "30", 1) == 0);
	CHECK_INT(lc_cfg_capped_env("ORUN_TIMEOUT_SECONDS", 1, 86400, 180, 3600), ==, 30);
	CHECK(setenv("ORUN_TIMEOUT_SECONDS", "junk", 1) == 0);
	CHECK_INT(lc_cfg_capped_env("ORUN_TIMEOUT_SECONDS", 1, 86400, 180, 3600), ==, 180);
	unsetenv("ORUN_TIMEOUT_SECONDS");
	return TAP_PASS;
}

/* Unreadable or unsuitable config files leave the defaults. */
static int load_bad_files(void)
{
	struct lc_cfg cfg;
	char *big;

	lc_log_stderr_level(LC_LOG_ERROR);
	unsetenv("LSF_CRIU_CRIU");
	unsetenv("LSF_CRIU_CONF");
	/* A directory. */
	CHECK(mkdirat(tap_dirfd, "dir.conf", 0700) == 0);
	lc_cfg_load_files(&cfg, put("dir.conf", NULL), NULL);
	if (is_default(&cfg) != TAP_PASS)
		return TAP_FAIL;
	CHECK_STR(cfg.path, "");
	/* Larger than 64 KiB. */
	big = padded_line("pid_wait_seconds = 1", 70000);
	lc_cfg_load_files(&cfg, put("big.conf", big), NULL);
	free(big);
	if (is_default(&cfg) != TAP_PASS)
		return TAP_FAIL;
	CHECK_STR(cfg.path, "");
	/* Garbage, binary bytes. */
	{
		static const char junk[] = "\x01\x02\xff=\xfe\n\x7f\x80 = \x81\n=====\n";

		lc_cfg_load_files(&cfg, put("junk.conf", junk), NULL);
		if (is_default(&cfg) != TAP_PASS)
			return TAP_FAIL;
	}
	return TAP_PASS;
}

TAP_MAIN(TAP_CASE(parse_valid), TAP_CASE(parse_whitespace), TAP_CASE(parse_comments_and_blanks),
	 TAP_CASE(parse_relative_criu_ignored), TAP_CASE(parse_bad_numbers_ignored),
	 TAP_CASE(parse_bad_policy_ignored), TAP_CASE(parse_unknown_keys_ignored),
	 TAP_CASE(parse_long_line_ignored), TAP_CASE(load_defaults), TAP_CASE(load_system_file),
	 TAP_CASE(load_user_overrides), TAP_CASE(load_envdir), TAP_CASE(terminate_interval),
	 TAP_CASE(capped_env), TAP_CASE(load_bad_files), )
