/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The version comes from the file VERSION only, through the Makefile
 * (-DLC_VERSION), and the git commit from git or from the GITID file of a
 * release tarball (-DLC_GIT_ID). A build without them says so.
 */
#ifndef LC_VERSION_H
#define LC_VERSION_H

#ifndef LC_VERSION
#define LC_VERSION "unknown"
#endif
#ifndef LC_GIT_ID
#define LC_GIT_ID "unknown"
#endif

#endif
