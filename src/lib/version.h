/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LC_VERSION_H
#define LC_VERSION_H

#ifndef LC_VERSION
#define LC_VERSION "0.1.0"
#endif
#ifndef LC_GIT_ID
#define LC_GIT_ID "unknown"
#endif

#endif
