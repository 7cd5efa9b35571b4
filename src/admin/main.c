/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lsf-criu - the administrator's tool:
 *     lsf-criu check    is this host ready for lsf-criu (probes, like criu check)
 *     lsf-criu status   what happened to a job's chain of runs (the ledger)
 *     lsf-criu install  put the programs into LSF_SERVERDIR and print the rest
 *
 * Expected identity: anyone. check and status report on the caller's view
 * (run check as a job owner too: criu runs as the job owner); install needs
 * write access to the server directory, usually root. It holds no privilege,
 * changes nothing but the files install writes, and runs criu only for
 * "criu --version" and "criu check".
 *
 * This file holds the command table and the dispatch; each command lives in
 * its own file (check.c, status.c, install.c) and returns an exit code of
 * exitcodes.h. How to add a command or a probe: see admin.h.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "admin.h"
#include "criu.h"
#include "exitcodes.h"
#include "log.h"
#include "version.h"

/* The commands, in the order "lsf-criu --help" lists them. */
static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
} commands[] = {
	{ "check", lc_admin_check, "check that this host can checkpoint and restart jobs" },
	{ "status", lc_admin_status, "show a job's chain of runs and its newest checkpoint" },
	{ "install", lc_admin_install, "install the programs into LSF_SERVERDIR" },
	{ "export", lc_admin_export, "write a streamed image set as plain criu image files" },
};

int lc_admin_usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("lsf-criu: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'lsf-criu --help' for more information.\n", stderr);
	return LC_EXIT_USAGE;
}

void lc_admin_version(const char *sub)
{
	printf("lsf-criu%s%s (lsf-criu) %s (%s)\n", sub ? " " : "", sub ? sub : "", LC_VERSION,
	       LC_GIT_ID);
}

void lc_admin_cmdline(char *buf, size_t size, const char *const argv[])
{
	lc_argv_format((char *const *)argv, buf, size);
}

static void usage(FILE *out)
{
	fprintf(out, "Usage: lsf-criu COMMAND [OPTION]... [ARGUMENT]...\n"
		     "       lsf-criu -h | --help | -V | --version\n"
		     "\n"
		     "Administer lsf-criu, the CRIU checkpoint method for IBM Spectrum LSF.\n"
		     "\n"
		     "Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].help);
	fprintf(out,
		"\n"
		"  -h, --help     show this help\n"
		"  -V, --version  show the version\n"
		"\n"
		"'lsf-criu COMMAND --help' shows the options of a command. See lsf-criu(8).\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const struct command *cmd = NULL;
	int c, r;

	lc_log_init("lsf-criu");
	umask(022);
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			r = LC_EXIT_OK;
			goto out;
		case 'V':
			lc_admin_version(NULL);
			r = LC_EXIT_OK;
			goto out;
		default: return lc_admin_usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return lc_admin_usage_error("no command given");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[optind], commands[i].name))
			cmd = &commands[i];
	if (!cmd)
		return lc_admin_usage_error("unknown command '%s'", argv[optind]);
	/* The command parses its own argv, with its name as argv[0]. */
	r = cmd->run(argc - optind, argv + optind);
out:
	/* Output that did not reach its destination is a failure (close_stdout). */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		log_error("cannot write to standard output: %s", strerror(errno));
		return LC_EXIT_FAILURE;
	}
	return r;
}
