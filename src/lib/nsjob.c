/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Jobs in their own namespaces: creating the namespaces, the record of the
 * init for echkpnt.criu, the set of relayed signals; see nsjob.h.
 *
 * Contract:
 * 1. The job MUST keep its real uid and gid and MUST NOT hold any capability:
 *    the user namespace maps only the caller's own ids, and the job execs as
 *    a non-zero uid of that namespace, which clears its capabilities.
 * 2. The record MUST name the init by PID and start time, so that a reused
 *    PID is never taken for it.
 */
#include <errno.h>
#include <linux/capability.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "compat.h"
#include "json.h"
#include "nsjob.h"
#include "util.h"

/* Every standard signal but SIGKILL and SIGSTOP (not catchable) and SIGCHLD. */
static const int relayed[] = { SIGHUP,	  SIGINT,    SIGQUIT, SIGILL,	SIGTRAP, SIGABRT, SIGBUS,
			       SIGFPE,	  SIGUSR1,   SIGSEGV, SIGUSR2,	SIGPIPE, SIGALRM, SIGTERM,
			       SIGSTKFLT, SIGCONT,   SIGTSTP, SIGTTIN,	SIGTTOU, SIGURG,  SIGXCPU,
			       SIGXFSZ,	  SIGVTALRM, SIGPROF, SIGWINCH, SIGPWR,	 SIGSYS };

void lc_ns_signal_set(sigset_t *ret)
{
	sigemptyset(ret);
	for (size_t i = 0; i < sizeof(relayed) / sizeof(relayed[0]); i++)
		sigaddset(ret, relayed[i]);
}

void lc_ns_block_signals(void)
{
	sigset_t set;

	lc_ns_signal_set(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
}

int lc_starter_save(int dirfd, const struct lc_starter_rec *r)
{
	return lc_json_save(dirfd, LC_STARTER_FILE,
			    json_pack("{s:i,s:s,s:i,s:I}", "version", 1, "jobid", r->jobid,
				      "init_pid", (int)r->init_pid, "init_start",
				      (json_int_t)r->init_start));
}

int lc_starter_load(int dirfd, uid_t owner, struct lc_starter_rec *r, struct lc_err *err)
{
	_cleanup_free_ char *txt = NULL;
	long long x;
	json_t *o;
	int ret = -EINVAL;

	memset(r, 0, sizeof(*r));
	ret = lc_read_file_at(dirfd, LC_STARTER_FILE, 65536, owner, &txt, NULL);
	if (ret < 0)
		return lc_err_set(err, -ret, "cannot read '%s'", LC_STARTER_FILE);
	o = lc_json_parse(txt, err);
	if (!o)
		return -err->code;
	ret = -EINVAL;
	if (lc_json_check_version(o, 1, err) < 0 ||
	    lc_json_str(o, "jobid", r->jobid, sizeof(r->jobid), err) < 0 ||
	    lc_json_int(o, "init_pid", 2, 1 << 22, &x, err) < 0)
		goto out;
	r->init_pid = (pid_t)x;
	if (lc_json_int(o, "init_start", 0, 1LL << 62, &x, err) < 0)
		goto out;
	r->init_start = (unsigned long long)x;
	ret = 0;
out:
	json_decref(o);
	if (ret < 0)
		lc_err_wrap(err, "'%s'", LC_STARTER_FILE);
	return ret;
}

int lc_ns_write_file(const char *path, const char *text)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	size_t n = strlen(text);

	if (fd < 0)
		return -errno;
	if (write(fd, text, n) != (ssize_t)n)
		return -errno;
	return 0;
}

int lc_ns_create(struct lc_err *err)
{
	char map[64];
	uid_t uid = getuid();
	gid_t gid = getgid();
	int r;

	/* criu could not be given the capability to dump the job inside them. */
	if (!lc_kernel_has_cap(CAP_CHECKPOINT_RESTORE)) {
		lc_err_msg(err, ENOTSUP,
			   "this kernel has no CAP_CHECKPOINT_RESTORE (Linux 5.9 or "
			   "newer needed for jobs in their own namespaces)");
		return -EAGAIN; /* nothing changed: the caller may go on without them */
	}
	if (unshare(CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS) < 0) {
		lc_err_set(err, errno, "cannot create user, PID and mount namespaces");
		return -EAGAIN; /* nothing changed: the caller may go on without them */
	}
	r = lc_ns_write_file("/proc/self/setgroups", "deny");
	if (r < 0)
		return lc_err_set(err, -r, "cannot write /proc/self/setgroups");
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)uid, (unsigned)uid);
	r = lc_ns_write_file("/proc/self/uid_map", map);
	if (r < 0)
		return lc_err_set(err, -r, "cannot write /proc/self/uid_map");
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)gid, (unsigned)gid);
	r = lc_ns_write_file("/proc/self/gid_map", map);
	if (r < 0)
		return lc_err_set(err, -r, "cannot write /proc/self/gid_map");
	return 0;
}
