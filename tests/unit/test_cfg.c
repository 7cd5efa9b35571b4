/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of src/lib/cfg.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "log.h"
#include "tap.h"

/* The defaults of lc_cfg_load() (see cfg.c). */
#define DEF_CRIU     LC_CRIU_DEFAULT
#define DEF_MISSING  LC_MISSING_FAIL
#define DEF_PID_WAIT 60
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
		"criu = criu\n",	 "criu = bin/criu\n", "criu = ./criu\n",
		"criu = ../x/criu\n",	 "criu =\n",	      "criu = \n",
		"criu = ~/criu\n",	 "criu = $HOME/criu\n",
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
		"",   "-1",    "+5", "05",	"5s", "5.0", "1e3", "0x10",
		"86401", "99999999999999999999", "five", "5 5", "- 5",
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

static int set_conf(const char *name, const char *text)
{
	char path[PATH_MAX + 64];

	if (text && tap_write_str(name, text) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/%s", tap_dir, name);
	return setenv("LSF_CRIU_CONF", path, 1);
}

static int load_defaults(void)
{
	struct lc_cfg cfg;
	char path[PATH_MAX + 64];

	lc_log_stderr_level(LC_LOG_ERROR);
	unsetenv("LSF_CRIU_CRIU");
	/* An empty file. */
	CHECK(set_conf("empty.conf", "") == 0);
	memset(&cfg, 0x5a, sizeof(cfg));
	lc_cfg_load(&cfg);
	if (is_default(&cfg) != TAP_PASS)
		return TAP_FAIL;
	snprintf(path, sizeof(path), "%s/empty.conf", tap_dir);
	CHECK_STR(cfg.path, path);
	/* A missing file: defaults, and no path. */
	CHECK(set_conf("missing.conf", NULL) == 0);
	memset(&cfg, 0x5a, sizeof(cfg));
	lc_cfg_load(&cfg);
	if (is_default(&cfg) != TAP_PASS)
		return TAP_FAIL;
	CHECK_STR(cfg.path, "");
	return TAP_PASS;
}

static int load_conf_env(void)
{
	struct lc_cfg cfg;
	char path[PATH_MAX + 64];

	lc_log_stderr_level(LC_LOG_ERROR);
	unsetenv("LSF_CRIU_CRIU");
	CHECK(set_conf("lsf-criu.conf", "# test\ncriu = /conf/criu\n"
					"restore_missing_images = rerun\n"
					"pid_wait_seconds = 30\nkill_wait_seconds = 2\n") == 0);
	lc_cfg_load(&cfg);
	CHECK_STR(cfg.criu, "/conf/criu");
	CHECK_INT(cfg.missing, ==, LC_MISSING_RERUN);
	CHECK_INT(cfg.pid_wait_seconds, ==, 30);
	CHECK_INT(cfg.kill_wait_seconds, ==, 2);
	snprintf(path, sizeof(path), "%s/lsf-criu.conf", tap_dir);
	CHECK_STR(cfg.path, path);
	return TAP_PASS;
}

static int load_criu_env(void)
{
	struct lc_cfg cfg;

	lc_log_stderr_level(LC_LOG_ERROR);
	CHECK(set_conf("c.conf", "criu = /conf/criu\npid_wait_seconds = 30\n") == 0);
	/* LSF_CRIU_CRIU wins over the file. */
	CHECK(setenv("LSF_CRIU_CRIU", "/env/criu", 1) == 0);
	lc_cfg_load(&cfg);
	CHECK_STR(cfg.criu, "/env/criu");
	CHECK_INT(cfg.pid_wait_seconds, ==, 30);
	/* A relative LSF_CRIU_CRIU is ignored: the file's value stays. */
	CHECK(setenv("LSF_CRIU_CRIU", "bin/criu", 1) == 0);
	lc_cfg_load(&cfg);
	CHECK_STR(cfg.criu, "/conf/criu");
	/* An empty LSF_CRIU_CRIU is as if unset. */
	CHECK(setenv("LSF_CRIU_CRIU", "", 1) == 0);
	lc_cfg_load(&cfg);
	CHECK_STR(cfg.criu, "/conf/criu");
	/* Without a config file, over the default. */
	CHECK(set_conf("none.conf", NULL) == 0);
	CHECK(setenv("LSF_CRIU_CRIU", "/env/criu2", 1) == 0);
	lc_cfg_load(&cfg);
	CHECK_STR(cfg.criu, "/env/criu2");
	CHECK_INT(cfg.pid_wait_seconds, ==, DEF_PID_WAIT);
	/* Too long for the buffer: ignored. */
	{
		char *longp = malloc(PATH_MAX + 16);

		CHECK(longp != NULL);
		longp[0] = '/';
		memset(longp + 1, 'x', PATH_MAX + 1);
		longp[PATH_MAX + 2] = '\0';
		CHECK(setenv("LSF_CRIU_CRIU", longp, 1) == 0);
		free(longp);
		lc_cfg_load(&cfg);
		CHECK_STR(cfg.criu, DEF_CRIU);
	}
	return TAP_PASS;
}

/* Unreadable or unsuitable config files leave the defaults. */
static int load_bad_files(void)
{
	struct lc_cfg cfg;
	char *big;

	lc_log_stderr_level(LC_LOG_ERROR);
	unsetenv("LSF_CRIU_CRIU");
	/* A directory. */
	CHECK(mkdirat(tap_dirfd, "dir.conf", 0700) == 0);
	CHECK(set_conf("dir.conf", NULL) == 0);
	lc_cfg_load(&cfg);
	if (is_default(&cfg) != TAP_PASS)
		return TAP_FAIL;
	CHECK_STR(cfg.path, "");
	/* Larger than 64 KiB. */
	big = padded_line("pid_wait_seconds = 1", 70000);
	CHECK(set_conf("big.conf", big) == 0);
	free(big);
	lc_cfg_load(&cfg);
	if (is_default(&cfg) != TAP_PASS)
		return TAP_FAIL;
	CHECK_STR(cfg.path, "");
	/* Garbage, binary bytes. */
	{
		static const char junk[] = "\x01\x02\xff=\xfe\n\x7f\x80 = \x81\n=====\n";

		CHECK(set_conf("junk.conf", junk) == 0);
		lc_cfg_load(&cfg);
		if (is_default(&cfg) != TAP_PASS)
			return TAP_FAIL;
	}
	return TAP_PASS;
}

TAP_MAIN(
	TAP_CASE(parse_valid),
	TAP_CASE(parse_whitespace),
	TAP_CASE(parse_comments_and_blanks),
	TAP_CASE(parse_relative_criu_ignored),
	TAP_CASE(parse_bad_numbers_ignored),
	TAP_CASE(parse_bad_policy_ignored),
	TAP_CASE(parse_unknown_keys_ignored),
	TAP_CASE(parse_long_line_ignored),
	TAP_CASE(load_defaults),
	TAP_CASE(load_conf_env),
	TAP_CASE(load_criu_env),
	TAP_CASE(load_bad_files),
)
