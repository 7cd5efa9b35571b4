/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lsf-criu check: a table of named probes, in the manner of "criu check".
 * Each probe gives OK, WARN or FAIL, a one-line finding and, when not OK, the
 * command that fixes it. Required probes may fail the command; optional
 * probes only warn (a FAIL of an optional probe is reported as WARN). The
 * exit status is 1 when any probe failed, else 0, also with warnings.
 *
 * This file parses the options, fills the context the probes read, runs the
 * probes of the table below and presents their results; the probes themselves
 * are in probe_*.c and never print. How to add one: see admin.h.
 *
 * Everything is read as the caller: run it as root and as a job owner, since
 * criu runs as the job owner. Nothing is changed; the only programs run are
 * "criu --version" and "criu check".
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin.h"
#include "cfg.h"
#include "compat.h"
#include "exitcodes.h"
#include "log.h"

#ifndef LC_SYSCONFDIR
#define LC_SYSCONFDIR "/etc"
#endif
#ifndef LC_CRIU_DEFAULT
#define LC_CRIU_DEFAULT "/usr/local/libexec/lsf-criu/criu"
#endif

static const char *const verdict_names[] = { "OK", "WARN", "FAIL" };

struct probe {
	const char *name;
	bool required;
	int needs; /* NEEDS_DIR, NEEDS_ENVDIR */
	void (*run)(const struct lc_chk_ctx *c, struct lc_chk_result *r);
	const char *help;
};

enum { NEEDS_DIR = 1 << 0, NEEDS_ENVDIR = 1 << 1 };

/* ---- the table ---------------------------------------------------------- */

static const struct probe probes[] = {
	{ "criu-path", true, 0, lc_probe_criu_path, "criu exists and is an executable file" },
	{ "criu-version", true, 0, lc_probe_criu_version,
	  "criu is new enough for this kernel (3.18, or 4.2)" },
	{ "criu-check", true, 0, lc_probe_criu_check,
	  "'criu check' passes as the caller (--unprivileged unless root)" },
	{ "criu-caps", true, 0, lc_probe_criu_caps,
	  "the least file capabilities for the install-mode" },
	{ "criu-mount", true, 0, lc_probe_criu_mount,
	  "criu's filesystem is mounted without nosuid and noexec" },
	{ "install-mode", false, 0, lc_probe_install_mode,
	  "capabilities (criu for group " LC_CHK_GROUP " only) or starter-only" },
	{ "userns", false, 0, lc_probe_userns, "unprivileged user namespaces are enabled" },
	{ "ptrace-scope", false, 0, lc_probe_ptrace,
	  "Yama lets criu attach to the job (else cap_sys_ptrace)" },
	{ "cgroup", false, 0, lc_probe_cgroup, "cgroup version (v2, v1 or hybrid), informative" },
	{ "pid-max", false, 0, lc_probe_pid_max, "kernel.pid_max, informative" },
	{ "ckpt-dir", true, NEEDS_DIR, lc_probe_ckpt_dir,
	  "is the caller's, not writable by group or others" },
	{ "ckpt-space", false, NEEDS_DIR, lc_probe_ckpt_space,
	  "has 1 GiB free; its filesystem type" },
	{ "ckpt-restore", true, NEEDS_DIR, lc_probe_ckpt_restore,
	  "its checkpoint would restore on this host" },
	{ "lsb-queues", false, NEEDS_ENVDIR, lc_probe_lsb_queues,
	  "queues have our actions (and starter)" },
};

#define N_PROBES (sizeof(probes) / sizeof(probes[0]))

static void ctx_init(struct lc_chk_ctx *c, const char *criu_opt)
{
	static char from[PATH_MAX + 32], conf[PATH_MAX];
	const char *env = getenv("LSF_CRIU_CRIU");
	struct lc_cfg cfg;
	struct stat st;
	long v;

	lc_cfg_load(&cfg);
	c->uid = geteuid();
	if (criu_opt) {
		snprintf(c->criu, sizeof(c->criu), "%s", criu_opt);
		c->criu_from = "from --criu";
	} else {
		snprintf(c->criu, sizeof(c->criu), "%s", cfg.criu);
		if (env && *env && !strcmp(env, cfg.criu))
			c->criu_from = "from $LSF_CRIU_CRIU";
		else if (strcmp(cfg.criu, LC_CRIU_DEFAULT) && cfg.path[0]) {
			snprintf(from, sizeof(from), "from '%s'", cfg.path);
			c->criu_from = from;
		} else {
			c->criu_from = "the built-in default";
		}
	}
	c->criu_file = false;
	if (stat(c->criu, &st) < 0)
		snprintf(c->criu_why, sizeof(c->criu_why), "criu '%s' (%s) not found: %s", c->criu,
			 c->criu_from, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		snprintf(c->criu_why, sizeof(c->criu_why), "criu '%s' (%s) is not a regular file",
			 c->criu, c->criu_from);
	else if (faccessat(AT_FDCWD, c->criu, X_OK, AT_EACCESS) < 0)
		snprintf(c->criu_why, sizeof(c->criu_why),
			 "criu '%s' (%s) is not executable for "
			 "uid %u",
			 c->criu, c->criu_from, (unsigned)c->uid);
	else
		c->criu_file = true;
	c->ptrace_scope = lc_chk_read_long("/proc/sys/kernel/yama/ptrace_scope", &v) == 0 ? (int)v
											  : -1;
	c->starter_only = cfg.mode == LC_MODE_STARTER_ONLY;
	snprintf(conf, sizeof(conf), "%s", cfg.path[0] ? cfg.path : LC_SYSCONFDIR "/lsf-criu.conf");
	c->conf = conf;
	c->kernel_cr = lc_kernel_has_cap(CAP_CHECKPOINT_RESTORE);
}

static void print_table(const struct probe *const *list, const struct lc_chk_result *res, size_t n)
{
	int count[3] = { 0 };

	printf("%-13s %-5s %s\n", "PROBE", "RESULT", "FINDING");
	for (size_t i = 0; i < n; i++) {
		const char *f = res[i].fix;

		count[res[i].verdict]++;
		printf("%-13s %-6s %s\n", list[i]->name, verdict_names[res[i].verdict],
		       res[i].finding);
		if (res[i].verdict == LC_CHK_OK || !*f)
			continue;
		for (bool first = true; *f; first = false) {
			int len = (int)strcspn(f, "\n");

			printf("%-20s %s%.*s\n", "", first ? "fix: " : "     ", len, f);
			f += len + (f[len] == '\n');
		}
	}
	if (count[LC_CHK_FAIL])
		printf("result: FAIL: %d failed, %d warning%s (exit status 1)\n",
		       count[LC_CHK_FAIL], count[LC_CHK_WARN], count[LC_CHK_WARN] == 1 ? "" : "s");
	else if (count[LC_CHK_WARN])
		printf("result: WARN: %d warning%s, nothing failed (exit status 0: warnings do not "
		       "fail the check)\n",
		       count[LC_CHK_WARN], count[LC_CHK_WARN] == 1 ? "" : "s");
	else
		printf("result: OK: all %zu probes passed\n", n);
}

static int print_json(const struct lc_chk_ctx *c, const struct probe *const *list,
		      const struct lc_chk_result *res, size_t n, enum lc_chk_verdict worst)
{
	json_t *o = json_object(), *a = json_array();
	int r = 0;

	if (!o || !a) {
		json_decref(o);
		json_decref(a);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *p =
			json_pack("{s:s,s:s,s:b,s:s?,s:s?}", "name", list[i]->name, "status",
				  verdict_names[res[i].verdict], "required", list[i]->required,
				  "finding", res[i].finding, "fix",
				  res[i].verdict != LC_CHK_OK && res[i].fix[0] ? res[i].fix : NULL);

		/* A finding may quote bytes that are not UTF-8: never drop the probe for it. */
		if (!p)
			p = json_pack("{s:s,s:s,s:b,s:s,s:n}", "name", list[i]->name, "status",
				      verdict_names[res[i].verdict], "required", list[i]->required,
				      "finding", "(not valid UTF-8)", "fix");
		if (json_array_append_new(a, p) < 0)
			r = -ENOMEM;
	}
	json_object_set_new(o, "probes", a);
	json_object_set_new(o, "worst", json_string(verdict_names[worst]));
	json_object_set_new(o, "uid", json_integer(c->uid));
	json_object_set_new(o, "criu", json_string(c->criu));
	if (r == 0 && (json_dumpf(o, stdout, JSON_INDENT(2)) < 0 || putchar('\n') == EOF))
		r = -EIO;
	json_decref(o);
	return r;
}

static void check_usage(FILE *out)
{
	fprintf(out,
		"Usage: lsf-criu check [--json] [--criu PATH] [--dir DIR] [--lsf-envdir DIR]\n"
		"                      [--probe NAME]...\n"
		"\n"
		"Check that this host can checkpoint and restart LSF jobs with criu. Run it as\n"
		"root and as a job owner. Each probe prints OK, WARN or FAIL, a finding and,\n"
		"when not OK, the command that fixes it. Exit status 1 if a required probe\n"
		"failed, else 0 (also with warnings).\n"
		"\n"
		"  -j, --json            print one JSON object for scripts\n"
		"  -c, --criu PATH       check this criu instead of the configured one\n"
		"  -d, --dir DIR         also check DIR as a checkpoint directory\n"
		"  -e, --lsf-envdir DIR  also check lsb.queues of the LSF configuration in DIR\n"
		"  -p, --probe NAME      run only this probe (may be repeated)\n"
		"  -h, --help            show this help\n"
		"  -V, --version         show the version\n"
		"\n"
		"Probes (* required: only these can fail the check):\n");
	for (size_t i = 0; i < N_PROBES; i++)
		fprintf(out, "  %-13s %s %s%s\n", probes[i].name, probes[i].required ? "*" : " ",
			probes[i].help,
			probes[i].needs & NEEDS_DIR	 ? " (with --dir)"
			: probes[i].needs & NEEDS_ENVDIR ? " (with --lsf-envdir)"
							 : "");
}

int lc_admin_check(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "criu", required_argument, NULL, 'c' },
		{ "dir", required_argument, NULL, 'd' },
		{ "lsf-envdir", required_argument, NULL, 'e' },
		{ "probe", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const struct probe *list[N_PROBES];
	struct lc_chk_result res[N_PROBES];
	bool selected[N_PROBES] = { false }, any = false, json = false;
	const char *criu = NULL;
	enum lc_chk_verdict worst = LC_CHK_OK;
	struct lc_chk_ctx c = { 0 };
	size_t n = 0;
	int opt;

	opterr = 0;
	optind = 0;
	while ((opt = getopt_long(argc, argv, "+:jc:d:e:p:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'j': json = true; break;
		case 'c': criu = optarg; break;
		case 'd': c.dir = optarg; break;
		case 'e': c.envdir = optarg; break;
		case 'p': {
			size_t i;

			for (i = 0; i < N_PROBES && strcmp(probes[i].name, optarg); i++)
				;
			if (i == N_PROBES)
				return lc_admin_usage_error("check: no probe '%s' (lsf-criu check "
							    "--help lists them)",
							    optarg);
			selected[i] = any = true;
			break;
		}
		case 'h': check_usage(stdout); return LC_EXIT_OK;
		case 'V': lc_admin_version("check"); return LC_EXIT_OK;
		case ':':
			return lc_admin_usage_error("check: option '%s' needs an argument",
						    argv[optind - 1]);
		default:
			return lc_admin_usage_error("check: unknown option '%s'", argv[optind - 1]);
		}
	}
	/* Validation, separate from parsing. */
	if (optind < argc)
		return lc_admin_usage_error("check: unexpected argument '%s'", argv[optind]);
	if (criu && criu[0] != '/')
		return lc_admin_usage_error("check: --criu needs an absolute path, not '%s'", criu);
	if ((c.dir && !*c.dir) || (c.envdir && !*c.envdir))
		return lc_admin_usage_error("check: --dir and --lsf-envdir need a directory");
	for (size_t i = 0; i < N_PROBES; i++) {
		bool usable = !((probes[i].needs & NEEDS_DIR) && !c.dir) &&
			      !((probes[i].needs & NEEDS_ENVDIR) && !c.envdir);

		if (any && selected[i] && !usable)
			return lc_admin_usage_error("check: probe '%s' needs %s", probes[i].name,
						    probes[i].needs & NEEDS_DIR
							    ? "--dir DIR"
							    : "--lsf-envdir DIR");
		if (any ? selected[i] : usable)
			list[n++] = &probes[i];
	}
	ctx_init(&c, criu);
	for (size_t i = 0; i < n; i++) {
		memset(&res[i], 0, sizeof(res[i]));
		list[i]->run(&c, &res[i]);
		/* Optional probes only warn. */
		if (!list[i]->required && res[i].verdict == LC_CHK_FAIL)
			res[i].verdict = LC_CHK_WARN;
		if (res[i].verdict > worst)
			worst = res[i].verdict;
	}
	if (json) {
		if (print_json(&c, list, res, n, worst) < 0) {
			log_error("cannot print the JSON result");
			return LC_EXIT_FAILURE;
		}
	} else {
		print_table(list, res, n);
	}
	return worst == LC_CHK_FAIL ? LC_EXIT_FAILURE : LC_EXIT_OK;
}
