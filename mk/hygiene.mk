# SPDX-License-Identifier: GPL-2.0-or-later
# Code hygiene, included from the Makefile:
#
#   make lint          forbidden calls and log format (grep), and shellcheck on every
#                      shell script (found by its #! line)
#   make analyze       cppcheck on src/ (warning, portability, performance): zero findings,
#                      or one justified by an inline "cppcheck-suppress" comment
#   make scan-build    clang's static analyzer over a build in build-analyze/ (not in make
#                      check: it does not model the cleanup attribute, see below)
#   make format        clang-format every C file in place (.clang-format)
#   make format-check  list what make format would change; fails if anything
#
# make check runs lint, analyze and format-check (tests/system/test_hygiene.py).

SHELL_SCRIPTS = $(shell for f in .ci/run scripts/* mk/*.sh tests/*.sh tests/*/*.sh tests/*/*/*.sh \
		tests/system/faults/* tests/faults/* debian/*.postinst debian/*.postrm; do \
		[ -f "$$f" ] && head -n1 "$$f" | grep -qE '^\#!.*/(env )?(ba|da)?sh( |$$)' && \
		echo "$$f"; done)
C_SOURCES = $(wildcard src/*/*.c src/*/*.h tests/unit/*.c tests/unit/*.h tests/fuzz/*.c \
		tests/fuzz/*.h)

lint:
	@! grep -nE '\b(system|popen|sprintf|strcpy)[[:space:]]*\(' src -r --include='*.c' \
		| grep -v snprintf || { echo "lint: forbidden call"; exit 1; }
	@! grep -nE 'log_(error|warn|info|debug)\(.*\\n"' src -r || { echo "lint: newline in a log message"; exit 1; }
	@! grep -nE '\b(close_range|sigabbrev_np|sigdescr_np|pidfd_open|pidfd_send_signal|openat2|faccessat2|getdents64)[[:space:]]*\(' \
		src -r --include='*.c' | grep -v '^src/lib/compat\.c:' || \
		{ echo "lint: a call newer than the glibc 2.28 / Linux 4.18 floor: use src/lib/compat.h"; exit 1; }
	@command -v shellcheck >/dev/null || { echo "lint: no shellcheck (scripts/provision.sh)"; exit 1; }
	@shellcheck $(SHELL_SCRIPTS) || { echo "lint: shellcheck found the above"; exit 1; }
	@echo "lint: ok ($(words $(SHELL_SCRIPTS)) shell scripts checked)"

# cppcheck does not model __attribute__((cleanup)): every pointer declared
# _cleanup_free_ looks leaked at each return (all such findings were false
# positives). memleak is therefore not reported; leaks are caught at run time by
# LeakSanitizer in the unit tests and the fuzz replays (ASan builds).
CPPCHECK_FLAGS := --quiet --std=c11 --enable=warning,portability,performance \
	-D__linux__ -D__GNUC__ -D_GNU_SOURCE -Isrc/lib --inline-suppr --error-exitcode=1 \
	--suppress=memleak --suppress=missingIncludeSystem

ANALYZE_SRC ?= src/

analyze:
	@command -v cppcheck >/dev/null || { echo "analyze: no cppcheck (scripts/provision.sh)"; exit 1; }
	@cppcheck $(CPPCHECK_FLAGS) -j2 $(ANALYZE_SRC) || { echo "analyze: cppcheck found the above"; exit 1; }
	@echo "analyze: ok (cppcheck $$(cppcheck --version | cut -d' ' -f2), no finding)"

scan-build:
	rm -rf build-analyze
	scan-build -o build-analyze/report $(MAKE) --no-print-directory BUILD=build-analyze \
		$(addprefix build-analyze/,$(PROGS))

format:
	clang-format -i $(C_SOURCES)

format-check:
	@n=0; for f in $(C_SOURCES); do \
		d=$$(clang-format "$$f" | diff -u "$$f" - | tail -n +3 | grep -c '^+'); \
		if [ "$$d" -gt 0 ]; then echo "$$f: $$d line(s) would change"; n=$$((n + d)); fi; \
	done; echo "format-check: $$n line(s) would change"; [ "$$n" -eq 0 ]

.PHONY: lint analyze scan-build format format-check
