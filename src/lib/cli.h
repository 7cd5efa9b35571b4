/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Command-line conventions shared by the programs (util-linux style). */
#ifndef LC_CLI_H
#define LC_CLI_H

#include <stdio.h>

/*
 * Handles the options of a program that takes only -h/--help and
 * -V/--version before its operands (parsing stops at the first operand),
 * and checks the number of operands: at least min, at most max (max < 0: no
 * limit). Returns -1 to go on (optind is at the first operand), or the exit
 * code: 0 after --help or --version, 2 on misuse (an unknown option or a
 * wrong number of operands; after a line saying which and "Try '<name>
 * --help'...").
 */
int lc_cli_operands(int argc, char **argv, const char *name, void (*usage)(FILE *), int min,
		    int max);

/* lc_cli_operands() with any number of operands: the program checks them itself. */
int lc_cli_simple(int argc, char **argv, const char *name, void (*usage)(FILE *));

#endif
