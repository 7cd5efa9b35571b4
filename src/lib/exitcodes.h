/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Exit codes of the lsf-criu programs.
 *
 * BE CAREFUL: this is an interface. LSF reads the status of echkpnt.criu and
 * erestart.criu (0 = success, anything else = failure), admins and tests read
 * the rest. Never renumber; only add.
 */
#ifndef LC_EXITCODES_H
#define LC_EXITCODES_H

#define LC_EXIT_OK	0 /* success */
#define LC_EXIT_FAILURE 1 /* the action failed; the log says why */
#define LC_EXIT_USAGE	2 /* bad command line or environment */
#define LC_EXIT_NOTSUP	3 /* criu missing or unusable */
#define LC_EXIT_GONE	4 /* echkpnt: the job has no process left */
#define LC_EXIT_REFUSED 5 /* ownership or permission check refused the action */
#define LC_EXIT_HOST	6 /* erestart: this host cannot restore the image (log says why) */
/* lsf-criu-restore: once the job runs, the job's own status or signal. */
#define LC_EXIT_RESTORE_FAILED 70 /* lsf-criu-restore: criu could not restore the job */

#endif
