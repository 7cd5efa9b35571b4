/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Publishing the chain's restart count; see restarts.h.
 *
 * Contract:
 * 1. The base directory is reached as the parent of the verified job
 *    checkpoint directory fd, never by a path the environment names.
 * 2. Files are written atomically (temporary file with O_EXCL|O_NOFOLLOW,
 *    rename), so a planted symlink is replaced, never followed.
 * 3. The name is derived from a job ID that passed lc_jobid_ok, so it stays
 *    inside the base directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "lsfenv.h"
#include "restarts.h"
#include "util.h"

static int name_of(const char *chain_id, char *buf, size_t size)
{
	if (!lc_jobid_ok(chain_id))
		return -EINVAL;
	if ((size_t)snprintf(buf, size, "%s%s", chain_id, LC_RESTARTS_SUFFIX) >= size)
		return -ENAMETOOLONG;
	return 0;
}

static int open_base(int dirfd)
{
	return openat(dirfd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

int lc_restarts_publish(int dirfd, const char *chain_id, long restarts)
{
	_cleanup_close_ int base = -1;
	char name[64], num[32];
	int r, r2;

	snprintf(num, sizeof(num), "%ld\n", restarts);
	/* For the job to read; the ledger is the record that must survive a crash. */
	r = lc_write_file_at(dirfd, LC_RESTARTS_FILE, num, strlen(num), 0600, LC_WRITE_NOSYNC);
	r2 = name_of(chain_id, name, sizeof(name));
	if (r2 < 0)
		return r2;
	base = open_base(dirfd);
	if (base < 0)
		return -errno;
	r2 = lc_write_file_at(base, name, num, strlen(num), 0600, LC_WRITE_NOSYNC);
	return r2 < 0 ? r2 : r;
}

int lc_restarts_start(int dirfd, const char *jobid)
{
	_cleanup_close_ int base = -1;
	char name[64];
	int r;

	r = name_of(jobid, name, sizeof(name));
	if (r < 0)
		return r;
	base = open_base(dirfd);
	if (base < 0)
		return -errno;
	if (faccessat(base, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	return lc_restarts_publish(dirfd, jobid, 0);
}

int lc_restarts_read(int dirfd, const char *chain_id, uid_t owner, long *ret)
{
	_cleanup_close_ int base = -1;
	_cleanup_free_ char *txt = NULL;
	char name[64];
	int r;

	r = name_of(chain_id, name, sizeof(name));
	if (r < 0)
		return r;
	base = open_base(dirfd);
	if (base < 0)
		return -errno;
	r = lc_read_file_at(base, name, 64, owner, &txt, NULL);
	if (r < 0)
		return r;
	txt[strcspn(txt, "\n")] = '\0';
	return lc_parse_long(txt, 0, 1000000, ret);
}
