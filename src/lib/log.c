/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Logging to stderr, the per-job log file and syslog; see log.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"

static const char *tool_name = "lsf-criu";
static int job_fd = -1;
static enum lc_log_level stderr_level = LC_LOG_DEBUG;

static const char *const level_names[] = { "error", "warning", "info", "debug" };

void lc_log_init(const char *tool)
{
	tool_name = tool;
	openlog(tool, LOG_PID, LOG_DAEMON);
}

void lc_log_attach_fd(int fd)
{
	if (job_fd >= 0)
		close(job_fd);
	job_fd = fd;
}

void lc_log_stderr_level(enum lc_log_level lvl)
{
	stderr_level = lvl;
}

int lc_log_fd(void)
{
	return job_fd;
}

static void vlog(enum lc_log_level lvl, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void vlog(enum lc_log_level lvl, const char *fmt, va_list ap)
{
	char msg[2048], line[2200], stamp[64];
	struct timespec ts;
	struct tm tm;
	int n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* One event, one line: never let a message break the log format. */
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	n = snprintf(line, sizeof(line), "%s[%d]: %s: %s\n", tool_name, (int)getpid(),
		     level_names[lvl], msg);
	if (n > 0 && lvl <= stderr_level)
		(void)!write(STDERR_FILENO, line, strnlen(line, sizeof(line)));
	if (job_fd >= 0) {
		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		n = (int)strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(stamp + n, sizeof(stamp) - (size_t)n, ".%03ld", ts.tv_nsec / 1000000);
		dprintf(job_fd, "%s %s", stamp, line);
	}
	if (lvl <= LC_LOG_WARN)
		syslog(lvl == LC_LOG_ERROR ? LOG_ERR : LOG_WARNING, "%s", msg);
}

void lc_log(enum lc_log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(lvl, fmt, ap);
	va_end(ap);
}

int lc_log_errno(int err, const char *fmt, ...)
{
	char msg[1536];
	va_list ap;

	if (err < 0)
		err = -err;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	lc_log(LC_LOG_ERROR, "%s: %s", msg, strerror(err));
	return -err;
}

void lc_log_excerpt(int dirfd, const char *name, const char *what)
{
	_cleanup_fclose_ FILE *f = NULL;
	char buf[1024];
	int fd, lines = 0;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return;
	}
	log_error("----- begin of the error lines of %s '%s' -----", what, name);
	while (fgets(buf, sizeof(buf), f) && lines < 40) {
		if (!strstr(buf, "Error") && !strstr(buf, "BUG"))
			continue;
		buf[strcspn(buf, "\n")] = '\0';
		log_error("%s", buf);
		lines++;
	}
	log_error("----- end of the error lines of %s '%s' -----", what, name);
}
