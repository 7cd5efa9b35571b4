/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Command-line conventions; see cli.h. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "exitcodes.h"
#include "version.h"

int lc_cli_operands(int argc, char **argv, const char *name, void (*usage)(FILE *), int min,
		    int max)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c, n;

	while ((c = getopt_long(argc, argv, "+hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'h': usage(stdout); return fflush(stdout) ? LC_EXIT_FAILURE : LC_EXIT_OK;
		case 'V':
			printf("%s (lsf-criu) %s (%s)\n", name, LC_VERSION, LC_GIT_ID);
			return fflush(stdout) ? LC_EXIT_FAILURE : LC_EXIT_OK;
		default:
			fprintf(stderr, "Try '%s --help' for more information.\n", name);
			return LC_EXIT_USAGE;
		}
	}
	n = argc - optind;
	if (n < min || (max >= 0 && n > max)) {
		if (max == 0)
			fprintf(stderr, "%s: unexpected argument '%s'\n", name, argv[optind]);
		else if (n > max && max >= 0)
			fprintf(stderr, "%s: too many arguments (at most %d)\n", name, max);
		else
			fprintf(stderr, "%s: too few arguments (at least %d)\n", name, min);
		fprintf(stderr, "Try '%s --help' for more information.\n", name);
		return LC_EXIT_USAGE;
	}
	return -1;
}

int lc_cli_simple(int argc, char **argv, const char *name, void (*usage)(FILE *))
{
	return lc_cli_operands(argc, argv, name, usage, 0, -1);
}
