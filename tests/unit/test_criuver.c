/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of src/lib/criuver.c: version parsing and the rules a criu is
 * qualified by, with criu stand-ins (shell scripts that only answer
 * --version) in the case's directory. The record of versions is root's and
 * is tested by tests/system/test_platform.py.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "criu.h"
#include "tap.h"

static int parse(void)
{
	int a = -1, b = -1;

	CHECK(lc_criu_parse_version("4.2.1", &a, &b) == 0 && a == 4 && b == 2);
	CHECK(lc_criu_parse_version("3.19", &a, &b) == 0 && a == 3 && b == 19);
	CHECK(lc_criu_parse_version("4.2-rc1", &a, &b) == 0 && a == 4 && b == 2);
	CHECK_INT(lc_criu_parse_version("", &a, &b), ==, -EINVAL);
	CHECK_INT(lc_criu_parse_version("4", &a, &b), ==, -EINVAL);
	CHECK_INT(lc_criu_parse_version("v4.2", &a, &b), ==, -EINVAL);
	CHECK_INT(lc_criu_parse_version("4.2x", &a, &b), ==, -EINVAL);
	CHECK_INT(lc_criu_parse_version("-1.2", &a, &b), ==, -EINVAL);
	CHECK_INT(lc_criu_parse_version(NULL, &a, &b), ==, -EINVAL);
	return TAP_PASS;
}

/* The rule follows the kernel's answer to SO_PASSCRED on an inet socket. */
static int rule_of_this_kernel(void)
{
	struct lc_criu_rule r;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), v, refused;
	socklen_t len = sizeof(v);

	if (fd < 0)
		return TAP_SKIP;
	refused = getsockopt(fd, SOL_SOCKET, SO_PASSCRED, &v, &len) < 0 && errno == EOPNOTSUPP;
	close(fd);
	lc_criu_needs(&r);
	tap_diag("this kernel %s SO_PASSCRED on inet sockets: criu >= %d.%d",
		 refused ? "refuses" : "allows", r.major, r.minor);
	if (refused) {
		CHECK(r.major == 4 && r.minor == 2);
		CHECK(strstr(r.why, "SO_PASSCRED"));
	} else {
		CHECK(r.major == 3 && r.minor == 18);
		CHECK(strstr(r.why, "--unprivileged"));
	}
	return TAP_PASS;
}

/* A criu stand-in answering "criu --version" with text, exit status rc. */
static void stand_in(char *path, size_t size, const char *text, int rc)
{
	char body[512];

	snprintf(path, size, "%s/criu", tap_dir);
	snprintf(body, sizeof(body), "#!/bin/sh\nprintf '%s'\nexit %d\n", text, rc);
	tap_write_file("criu", body, strlen(body), 0755);
}

static int qualify(const char *text, int rc, struct lc_criu_info *info, struct lc_err *err)
{
	char path[4200];

	stand_in(path, sizeof(path), text, rc);
	return lc_criu_qualify(path, 0, info, err);
}

static int versions_against_the_rule(void)
{
	struct lc_criu_info info;
	struct lc_err err = { 0 };
	struct lc_criu_rule r;

	lc_criu_needs(&r);
	CHECK_INT(qualify("Version: 4.2.1\\nGitID: v4.2.1\\n", 0, &info, &err), ==, 0);
	CHECK_STR(info.version, "4.2.1");
	CHECK(!info.cached && !info.recorded);
	CHECK_INT(qualify("Version: 3.17.1\\n", 0, &info, &err), ==, -ENOTSUP);
	CHECK_STR(info.version, "3.17.1");
	CHECK(strstr(err.msg, "3.17.1") && strstr(err.msg, r.why));
	/* 3.19 (RHEL 9's) serves where the kernel needs no more than 3.18. */
	CHECK_INT(qualify("Version: 3.19\\n", 0, &info, &err), ==, r.major == 3 ? 0 : -ENOTSUP);
	CHECK_INT(qualify("Version: 4.1.1\\n", 0, &info, &err), ==, r.major == 3 ? 0 : -ENOTSUP);
	return TAP_PASS;
}

static int broken_criu(void)
{
	struct lc_criu_info info;
	struct lc_err err = { 0 };

	CHECK_INT(qualify("Version: 4.2\\n", 1, &info, &err), ==, -ENOEXEC);
	CHECK(strstr(err.msg, "--version' failed"));
	CHECK_INT(qualify("criu, no version\\n", 0, &info, &err), ==, -ENOEXEC);
	CHECK(strstr(err.msg, "reports no version"));
	CHECK_INT(qualify("Version: banana\\n", 0, &info, &err), ==, -ENOEXEC);
	CHECK_INT(lc_criu_qualify("/nonexistent/criu", 0, &info, &err), ==, -ENOENT);
	CHECK(strstr(err.msg, "not found"));
	CHECK_INT(lc_criu_qualify(tap_dir, 0, &info, &err), ==, -EACCES);
	return TAP_PASS;
}

TAP_MAIN(TAP_CASE(parse), TAP_CASE(rule_of_this_kernel), TAP_CASE(versions_against_the_rule),
	 TAP_CASE(broken_criu), )
