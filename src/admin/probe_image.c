/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The probe of a checkpoint (check --dir DIR): would the newest image set
 * in DIR restore on this host? The same checks erestart.criu makes before
 * LSF commits a restart (lc_preflight: criu, the paths, sizes, build-ids and
 * CPU features recorded in host-needs.json, free PIDs or user namespaces),
 * without waiting for anything.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin.h"
#include "cleanup.h"
#include "log.h"
#include "meta.h"
#include "portable.h"

void lc_probe_ckpt_restore(const struct lc_chk_ctx *c, struct lc_chk_result *r)
{
	_cleanup_free_ struct lc_meta *m = calloc(1, sizeof(*m));
	_cleanup_close_ int dirfd = -1, imgfd = -1;
	struct lc_err err = { 0 };
	char imgset[64];
	struct stat st;
	int ret;

	dirfd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!m || dirfd < 0 || fstat(dirfd, &st) < 0) {
		lc_chk_finding(r, LC_CHK_FAIL, "cannot open '%s': %s", c->dir,
			       strerror(m ? errno : ENOMEM));
		return;
	}
	ret = lc_current_load(dirfd, st.st_uid, imgset, sizeof(imgset), &err);
	if (ret == -ENOENT) {
		lc_chk_finding(r, LC_CHK_OK,
			       "'%s' holds no checkpoint of lsf-criu (a base "
			       "directory?): nothing to restore",
			       c->dir);
		return;
	}
	if (ret == 0)
		imgfd = openat(dirfd, imgset, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (ret < 0 || imgfd < 0 || lc_meta_load(imgfd, st.st_uid, m, &err) < 0) {
		lc_chk_finding(r, LC_CHK_FAIL, "the checkpoint in '%s' is unusable: %s", c->dir,
			       err.msg[0] ? err.msg : strerror(errno));
		return;
	}
	/* The checks log what they find; here only the verdict is printed. */
	lc_log_stderr_level(LC_LOG_ERROR);
	ret = lc_preflight(dirfd, imgset, m, c->criu, 0, st.st_uid, &err);
	lc_log_stderr_level(LC_LOG_DEBUG);
	if (ret == -EEXIST) {
		lc_chk_finding(r, LC_CHK_WARN, "'%s' of job %s would not restore now: %s", imgset,
			       m->jobid, err.msg);
		lc_chk_fix(r, "wait until the process holding the PID is gone, or restart the job "
			      "under lsf-criu-start (PIDs of its own)");
	} else if (ret < 0) {
		lc_chk_finding(r, LC_CHK_FAIL, "'%s' of job %s would not restore on this host: %s",
			       imgset, m->jobid, err.msg);
		lc_chk_fix(r, "brestart -m <a host that has it> <base> %s", m->jobid);
	} else {
		lc_chk_finding(r, LC_CHK_OK,
			       "'%s' of job %s (%s, criu %s) would restore on this "
			       "host",
			       imgset, m->jobid, m->ns ? "its own namespaces" : "host PIDs",
			       m->criu_version);
	}
}
