# SPDX-License-Identifier: GPL-2.0-or-later
# lsf-criu: LSF checkpoint/restart with CRIU.
#
#   make            build the programs into build/ (BUILD=dir for another tree)
#   make demo       provision, build, run a job through checkpoint and restart
#   make check      provision, build (gcc, gcc+ASan+UBSan, clang, aarch64), run every test
#   make faults     the fault suite: every fault at every step of the cycle (tests/faults)
#   make bench      measure checkpoint and restore against raw criu and dd (BENCH_DIR=...)
#   make install    install into $(DESTDIR)$(PREFIX) (LSF_SERVERDIR=... to add the LSF names)
#   make uninstall  remove what make install installed
#   make clang      the programs built with clang into build-clang/ (CLANG=...)
#   make compat-build  the programs as on Linux 4.18 (every fallback) into build-compat/
#   make cross      the programs built for aarch64 into build-aarch64/ (mk/cross.mk)
#   make glibc-floor  fail on a call newer than glibc $(GLIBC_FLOOR) (scripts/glibc-floor.sh)
#   make dist, rpm, deb   a release tarball and packages (mk/dist.mk)
#   make lint, analyze, format, format-check   code hygiene (mk/hygiene.mk)
#   make fuzz       run each libFuzzer target for FUZZ_SECONDS (mk/fuzz.mk)
#   make print-flags  the flags this compiler got (CC=..., see mk/cc-flags.sh)
#
# Optional compiler flags are probed, not assumed (mk/cc-flags.sh), so any
# gcc >= 8 or clang >= 10 builds warning-free with -Werror.

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBEXECDIR ?= $(PREFIX)/libexec/lsf-criu
SYSCONFDIR ?= /etc
LOCALSTATEDIR ?= /var
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/lsf-criu
CRIU_PATH  ?= $(LIBEXECDIR)/criu
# Where root's lsf-criu check records criu's version for the other programs.
CACHEDIR   ?= $(LOCALSTATEDIR)/cache/lsf-criu
BUILD      ?= build

# One version source: the file VERSION. The git commit comes from the file GITID
# that make dist writes into a release tarball, else from git.
VERSION    := $(shell cat VERSION)
GIT_ID     := $(or $(shell cat GITID 2>/dev/null),$(shell git rev-parse --short=12 HEAD 2>/dev/null),unknown)

CC         ?= cc
PKG_CONFIG ?= pkg-config
CFLAGS     ?= -O2 -g

# Goals that compile nothing need no probe of the compiler.
NO_CC_GOALS := clean fuzz-clean lint shellcheck format format-check uninstall dist print-version
ifneq ($(MAKECMDGOALS),)
ifeq ($(filter-out $(NO_CC_GOALS),$(MAKECMDGOALS)),)
LC_SKIP_PROBE := 1
endif
endif
ifndef LC_SKIP_PROBE
LC_FLAGS_MK := $(BUILD)/flags.mk
$(shell CC='$(CC)' CFLAGS='$(CFLAGS)' LDFLAGS='$(LDFLAGS)' mk/cc-flags.sh $(LC_FLAGS_MK) >&2)
include $(LC_FLAGS_MK)
endif

WARN    := -Wall -Wextra -Werror $(LC_WARN_OPT)
HARDEN  := $(LC_FORTIFY) $(LC_HARDEN_CC)
VERSION_DEFS := -DLC_VERSION='"$(VERSION)"' -DLC_GIT_ID='"$(GIT_ID)"'
PATH_DEFS := -DLC_SYSCONFDIR='"$(SYSCONFDIR)"' -DLC_CRIU_DEFAULT='"$(CRIU_PATH)"' \
           -DLC_LIBEXECDIR='"$(LIBEXECDIR)"' -DLC_CACHEDIR='"$(CACHEDIR)"' $(LC_DEFS)
DEFS    := -D_GNU_SOURCE $(VERSION_DEFS) $(PATH_DEFS)

# Objects are rebuilt when the paths compiled into them change (make install
# PREFIX=/usr after a plain make), and those that print the version when it or
# the commit changes: each set of definitions is kept in a stamp file that is
# rewritten only when it differs.
ifndef LC_SKIP_PROBE
define defs_stamp
$(shell mkdir -p $(BUILD) && { printf '%s\n' "$(subst ",\",$(2))" | cmp -s - $(BUILD)/$(1) || \
	printf '%s\n' "$(subst ",\",$(2))" >$(BUILD)/$(1); })
endef
$(call defs_stamp,paths.stamp,$(PATH_DEFS) $(CFLAGS))
$(call defs_stamp,version.stamp,$(VERSION_DEFS))
endif
VERSION_OBJS = $(patsubst src/%.c,$(1)/obj/%.o,$(shell grep -l '"version.h"' src/*/*.c))
ALL_CFLAGS = -std=gnu11 -pthread $(CFLAGS) $(WARN) $(DEFS) -Isrc/lib \
             $(shell $(PKG_CONFIG) --cflags jansson mount libzstd libxxhash 2>/dev/null)
LDFLAGS_ALL = $(LC_HARDEN_LD) $(LDFLAGS)
LIBS    := $(or $(shell $(PKG_CONFIG) --libs jansson mount 2>/dev/null),-ljansson -lmount) \
           $(or $(shell $(PKG_CONFIG) --libs libzstd 2>/dev/null),-lzstd) \
           $(or $(shell $(PKG_CONFIG) --libs libxxhash 2>/dev/null),-lxxhash) -pthread
ADMIN_LIBS := -lcap

LIB_SRC := $(wildcard src/lib/*.c)
# The method programs LSF runs, installed into LIBEXECDIR; the admin tool goes to BINDIR.
METHOD_PROGS := echkpnt.criu erestart.criu lsf-criu-restore lsf-criu-terminate \
                lsf-criu-postexec lsf-criu-start lsf-criu-streamer
PROGS   := $(METHOD_PROGS) lsf-criu
UNIT_SRC := $(wildcard tests/unit/test_*.c)

# $(call build_tree,DIR,EXTRA_CFLAGS)
define build_tree
$(1)/obj/%.o: src/%.c $(wildcard src/*/*.h) $(LC_FLAGS_MK) $(BUILD)/paths.stamp | $(1)/obj
	@mkdir -p $$(dir $$@)
	@echo "  CC $$@"; $$(CC) $$(ALL_CFLAGS) $(2) $$(HARDEN) -c $$< -o $$@
$(1)/obj:
	@mkdir -p $$@
$(call VERSION_OBJS,$(1)): $(BUILD)/version.stamp
$(1)/liblc.a: $(patsubst src/%.c,$(1)/obj/%.o,$(LIB_SRC))
	$$(AR) rcs $$@ $$^
$(1)/echkpnt.criu: $(1)/obj/echkpnt/main.o $(1)/liblc.a
	$$(CC) $(2) $$(LDFLAGS_ALL) -o $$@ $$^ $$(LIBS)
$(1)/erestart.criu: $(1)/obj/erestart/main.o $(1)/liblc.a
	$$(CC) $(2) $$(LDFLAGS_ALL) -o $$@ $$^ $$(LIBS)
$(1)/lsf-criu-restore: $(1)/obj/restore/main.o $(1)/liblc.a
	$$(CC) $(2) $$(LDFLAGS_ALL) -o $$@ $$^ $$(LIBS)
$(1)/lsf-criu-terminate: $(1)/obj/terminate/main.o $(1)/liblc.a
	$$(CC) $(2) $$(LDFLAGS_ALL) -o $$@ $$^ $$(LIBS)
$(1)/lsf-criu-postexec: $(1)/obj/postexec/main.o $(1)/liblc.a
	$$(CC) $(2) $$(LDFLAGS_ALL) -o $$@ $$^ $$(LIBS)
$(1)/lsf-criu-start: $(1)/obj/starter/main.o $(1)/liblc.a
	$$(CC) $(2) $$(LDFLAGS_ALL) -o $$@ $$^ $$(LIBS)
$(1)/lsf-criu-streamer: $(1)/obj/streamer/main.o $(1)/liblc.a
	$$(CC) $(2) $$(LDFLAGS_ALL) -o $$@ $$^ $$(LIBS)
$(1)/lsf-criu: $(patsubst src/%.c,$(1)/obj/%.o,$(wildcard src/admin/*.c)) $(1)/liblc.a
	$$(CC) $(2) $$(LDFLAGS_ALL) -o $$@ $$^ $$(LIBS) $$(ADMIN_LIBS)
$(1)/unit/%: tests/unit/%.c tests/unit/tap.h $(1)/liblc.a
	@mkdir -p $$(dir $$@)
	@echo "  CCLD $$@"; $$(CC) $$(ALL_CFLAGS) $(2) -Itests/unit $$(LDFLAGS_ALL) -fPIE -o $$@ $$< \
		$(1)/liblc.a $$(LIBS)
endef

SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

.DEFAULT_GOAL := all
include mk/fuzz.mk

$(eval $(call build_tree,$(BUILD),))
$(eval $(call build_tree,build-asan,$(SAN)))

all: $(addprefix $(BUILD)/,$(PROGS))
asan: $(addprefix build-asan/,$(PROGS))
unit-bins: $(patsubst tests/unit/%.c,build-asan/unit/%,$(UNIT_SRC))

# ---- other compilers ---------------------------------------------------------

CLANG ?= clang
# The same sources with clang, -Werror, its own probed flags, in build-clang/.
clang:
	@$(MAKE) --no-print-directory CC=$(CLANG) BUILD=build-clang all

# The programs as on Linux 4.18 (src/lib/compat.h): every fallback taken, in build-compat/.
compat-build:
	@$(MAKE) --no-print-directory BUILD=build-compat LC_DEFS=-DLC_COMPAT_FORCE_FALLBACK all

print-flags:
	@echo "CC:          $(CC)"
	@echo "warnings:    $(WARN)"
	@echo "hardening:   $(HARDEN)"
	@echo "link:        $(LDFLAGS_ALL)"

print-version:
	@echo "$(VERSION) $(GIT_ID)"

include mk/cross.mk

# ---- the glibc floor -----------------------------------------------------------

GLIBC_FLOOR ?= 2.28
# Every object of the programs in $(BUILD) (BUILD=build-clang CC=clang for clang's).
glibc-floor: all
	@CC='$(CC)' scripts/glibc-floor.sh -f $(GLIBC_FLOOR) $(BUILD)/obj/*/*.o

# ---- provisioning, tests, demo -------------------------------------------------

provision:
	@scripts/provision.sh --write build/criu.path >/dev/null

check: provision all asan unit-bins clang compat-build fuzz-bins $(FUZZ_REPLAY_BINS)
	@/usr/bin/python3 tests/run-all.py

demo: provision all
	@scripts/demo.sh

build/bench/memjob: tests/bench/memjob.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 $(WARN) -o $@ $<

# The benchmark (not a test): BENCH_DIR=/path/on/the/checkpoint/filesystem make bench
bench: provision all build/bench/memjob
	@/usr/bin/python3 tests/bench/bench.py

# The fault suite (tests/faults): every case; a bounded subset runs in make check.
faults: provision all
	@/usr/bin/python3 tests/faults/faults.py --subset all --jobs $${LC_FAULT_JOBS:-3}

include mk/hygiene.mk
include mk/dist.mk

# ---- install -----------------------------------------------------------------

DOCS := README.md docs/support-matrix.md

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(DOCDIR)/examples
	install -m 0755 $(BUILD)/lsf-criu $(DESTDIR)$(BINDIR)/
	install -m 0755 $(addprefix $(BUILD)/,$(METHOD_PROGS)) $(DESTDIR)$(LIBEXECDIR)/
	@for m in man/*.[58]; do \
		d=$(DESTDIR)$(MANDIR)/man$${m##*.}/$${m##*/}; \
		echo "sed (version $(VERSION)) $$m > $$d"; \
		sed '/^\.TH /s/"lsf-criu [^"]*"/"lsf-criu $(VERSION)"/' $$m >$$d.tmp && chmod 0644 $$d.tmp && \
		mv $$d.tmp $$d || exit 1; \
	done
	install -m 0644 $(DOCS) $(DESTDIR)$(DOCDIR)/
	install -m 0644 packaging/examples/* $(DESTDIR)$(DOCDIR)/examples/
	install -m 0644 COPYING $(DESTDIR)$(DOCDIR)/
	@# The configuration file: always into a package (DESTDIR), never over an admin's file.
	@if [ -n "$(DESTDIR)" ] || [ ! -e $(SYSCONFDIR)/lsf-criu.conf ]; then \
		install -d $(DESTDIR)$(SYSCONFDIR); \
		echo "install -m 0644 packaging/examples/lsf-criu.conf $(DESTDIR)$(SYSCONFDIR)/"; \
		install -m 0644 packaging/examples/lsf-criu.conf $(DESTDIR)$(SYSCONFDIR)/; \
	fi
	@# Where root's lsf-criu check records criu's version (src/lib/criuver.c).
	install -d -m 0755 $(DESTDIR)$(CACHEDIR)
	@if [ -n "$(LSF_SERVERDIR)" ]; then \
		install -d $(DESTDIR)$(LSF_SERVERDIR); \
		for p in $(PROGS); do install -m 0755 $(BUILD)/$$p $(DESTDIR)$(LSF_SERVERDIR)/$$p; done; \
		echo "installed $(PROGS) into $(DESTDIR)$(LSF_SERVERDIR)"; \
	fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/lsf-criu $(addprefix $(DESTDIR)$(LIBEXECDIR)/,$(METHOD_PROGS))
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man8/,$(notdir $(wildcard man/*.8))) \
	      $(addprefix $(DESTDIR)$(MANDIR)/man5/,$(notdir $(wildcard man/*.5)))
	@# The configuration file only if it is still the example, unchanged.
	@if cmp -s packaging/examples/lsf-criu.conf $(DESTDIR)$(SYSCONFDIR)/lsf-criu.conf; then \
		echo "rm -f $(DESTDIR)$(SYSCONFDIR)/lsf-criu.conf"; rm -f $(DESTDIR)$(SYSCONFDIR)/lsf-criu.conf; fi
	rm -f $(DESTDIR)$(CACHEDIR)/criu-versions.json
	-rmdir $(DESTDIR)$(CACHEDIR) 2>/dev/null
	rm -f $(addprefix $(DESTDIR)$(DOCDIR)/,$(notdir $(DOCS)) COPYING) \
	      $(addprefix $(DESTDIR)$(DOCDIR)/examples/,$(notdir $(wildcard packaging/examples/*)))
	-rmdir $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) 2>/dev/null
	-rmdir $(DESTDIR)$(LIBEXECDIR) 2>/dev/null
	@if [ -n "$(LSF_SERVERDIR)" ]; then \
		for p in $(PROGS); do rm -f $(DESTDIR)$(LSF_SERVERDIR)/$$p; done; \
		echo "removed $(PROGS) from $(DESTDIR)$(LSF_SERVERDIR)"; \
	fi
	@echo "kept: $(CRIU_PATH) (criu is not installed by make install) and a changed $(SYSCONFDIR)/lsf-criu.conf"

clean: fuzz-clean cross-clean dist-clean
	rm -rf build build-asan build-clang build-compat build-analyze

.PHONY: all asan unit-bins clang compat-build print-flags print-version glibc-floor provision check demo \
	faults bench install uninstall clean
