/* SPDX-License-Identifier: GPL-2.0-or-later */
/* LSF's commands; see lsfcmd.h. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "log.h"
#include "lsfcmd.h"
#include "spawn.h"

int lc_lsf_bchkpnt_kill(const char *jobid, struct lc_err *err)
{
	const char *bindir = getenv("LSF_BINDIR");
	char path[PATH_MAX], out[1024];
	char *argv[] = { path, "-k", (char *)jobid, NULL };
	int r, st = 0;

	if (!bindir || bindir[0] != '/' || strlen(bindir) > PATH_MAX - 16)
		return lc_err_set(err, ENOENT,
				  "LSF_BINDIR is unset or not absolute; cannot find "
				  "bchkpnt");
	snprintf(path, sizeof(path), "%s/bchkpnt", bindir);
	log_info("running: %s -k %s", path, jobid);
	r = lc_run_capture(argv, 60, out, sizeof(out), &st);
	if (r < 0)
		return lc_err_set(err, -r, "'%s' did not finish", path);
	out[strcspn(out, "\n")] = '\0';
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return lc_err_set(err, EPROTO, "'%s -k %s' failed: %s", path, jobid, out);
	log_info("bchkpnt: %s", out);
	return 0;
}
