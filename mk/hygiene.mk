# SPDX-License-Identifier: GPL-2.0-or-later
# Code hygiene, included from the Makefile (filled in below).

lint:
	@! grep -nE '\b(system|popen|sprintf|strcpy)[[:space:]]*\(' src -r --include='*.c' \
		| grep -v snprintf || { echo "lint: forbidden call"; exit 1; }
	@! grep -nE 'log_(error|warn|info|debug)\(.*\\n"' src -r || { echo "lint: newline in a log message"; exit 1; }
	@echo "lint: ok"

.PHONY: lint
