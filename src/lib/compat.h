/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What lsf-criu needs from the C library and the kernel beyond the floor it
 * supports (glibc 2.28, Linux 4.18: RHEL 8), with a fallback for older ones.
 * Use these instead of the newer calls; "make check" fails on a call newer
 * than glibc 2.28 (scripts/glibc-floor.sh), and the fallbacks are tested on
 * this kernel by refusing the newer system calls with seccomp
 * (tests/platform/).
 *
 *   instead of                          use
 *   close_range(first, ~0U, CLOEXEC)    lc_cloexec_from(first)   glibc 2.34, Linux 5.11
 *   close_range(first, ~0U, 0)          lc_close_from(first)     glibc 2.34, Linux 5.9
 *   close_range(lo, hi, 0)              lc_close_range(lo, hi)   glibc 2.34, Linux 5.9
 *   sigabbrev_np(sig)                   lc_signame(sig)          glibc 2.32
 *
 * Kernel features without a fallback are detected and named in the error:
 * lc_kernel_has_cap(CAP_CHECKPOINT_RESTORE) (Linux 5.9).
 *
 * Built with -DLC_COMPAT_FORCE_FALLBACK ("make compat-build", for tests only)
 * the functions always take their fallbacks and lc_kernel_has_cap() answers
 * as Linux 4.18 would, so the programs can be run as on an old kernel.
 */
#ifndef LC_COMPAT_H
#define LC_COMPAT_H

#include <stdbool.h>

/*
 * Marks every file descriptor >= first close-on-exec. close_range() with
 * CLOSE_RANGE_CLOEXEC where the kernel has it (5.11), else each descriptor
 * listed in /proc/self/fd, else every one up to RLIMIT_NOFILE. Allocates
 * nothing and is async-signal-safe: meant for a child between fork() and
 * exec(). Returns 0 or a negative errno.
 */
int lc_cloexec_from(int first);

/* Closes every file descriptor >= first now; same fallbacks and guarantees. */
int lc_close_from(int first);

/*
 * Closes the file descriptors lo..hi: close_range() (Linux 5.9), else one by
 * one up to RLIMIT_NOFILE. Allocates nothing; async-signal-safe.
 */
int lc_close_range(unsigned int lo, unsigned int hi);

/* "SIGINT" for SIGINT; "SIG<n>" (in a static buffer) for a number it does not know. */
const char *lc_signame(int sig);

/*
 * True when the running kernel knows capability cap
 * (/proc/sys/kernel/cap_last_cap); true as well when that cannot be read.
 */
bool lc_kernel_has_cap(int cap);

#ifndef CAP_CHECKPOINT_RESTORE
#define CAP_CHECKPOINT_RESTORE 40 /* Linux 5.9; missing from older headers */
#endif

#endif
