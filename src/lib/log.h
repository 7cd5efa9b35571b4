/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Logging. Every line goes to stderr ("<tool>[<pid>]: <level>: <message>",
 * which LSF sends to /dev/null or to the keep-output files) and, once a job
 * log is attached, to the per-job log file with a timestamp in front.
 * Warnings and errors also go to syslog (LOG_DAEMON) as an audit trail.
 * Messages are lower-case, without a trailing newline.
 */
#ifndef LC_LOG_H
#define LC_LOG_H

enum lc_log_level { LC_LOG_ERROR, LC_LOG_WARN, LC_LOG_INFO, LC_LOG_DEBUG };

void lc_log_init(const char *tool);
/* Attaches an already opened append-only file; the fd is owned by the log. */
void lc_log_attach_fd(int fd);
int lc_log_fd(void);
/* Only messages at or above this level reach stderr (default: all). */
void lc_log_stderr_level(enum lc_log_level lvl);
void lc_log(enum lc_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Logs "fmt: strerror(err)" at error level and returns -err. */
int lc_log_errno(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Copies every line of a file that contains "Error" into the log, between markers. */
void lc_log_excerpt(int dirfd, const char *name, const char *what);

#define log_error(...) lc_log(LC_LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  lc_log(LC_LOG_WARN, __VA_ARGS__)
#define log_info(...)  lc_log(LC_LOG_INFO, __VA_ARGS__)
#define log_debug(...) lc_log(LC_LOG_DEBUG, __VA_ARGS__)

#endif
