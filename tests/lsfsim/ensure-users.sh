#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Create the unprivileged test users of the LSF test double (idempotent;
# silent when they already exist): system users lcuser1 and lcuser2 with a
# home under /home, no password and /bin/sh as shell.
set -eu
for u in lcuser1 lcuser2; do
	if ! getent passwd "$u" >/dev/null 2>&1; then
		useradd --system --create-home --home-dir "/home/$u" \
			--shell /bin/sh --user-group "$u"
	fi
	if [ ! -d "/home/$u" ]; then
		mkdir -p "/home/$u"
		chown "$u:$u" "/home/$u"
		chmod 0755 "/home/$u"
	fi
done
