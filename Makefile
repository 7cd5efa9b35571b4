# SPDX-License-Identifier: GPL-2.0-or-later
# lsf-criu: LSF checkpoint/restart with CRIU.
#
#   make            build the programs into build/
#   make demo       provision, build, run a job through checkpoint and restart
#   make check      provision, build (plain and ASan+UBSan), run every test, fuzz briefly
#   make fuzz       run each libFuzzer target for FUZZ_SECONDS (mk/fuzz.mk)
#   make faults     the fault suite: every fault at every step of the cycle (tests/faults)
#   make install    install into $(DESTDIR)$(PREFIX) (LSF_SERVERDIR=... to add the LSF names)

PREFIX     ?= /usr/local
LIBEXECDIR ?= $(PREFIX)/libexec/lsf-criu
SYSCONFDIR ?= /etc
MANDIR     ?= $(PREFIX)/share/man
CRIU_PATH  ?= $(PREFIX)/libexec/lsf-criu/criu
VERSION    := 0.1.0
GIT_ID     := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

CC      ?= cc
WARN    := -Wall -Wextra -Werror -Wformat=2 -Wformat-security -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wimplicit-fallthrough -Wvla -Wpointer-arith -Wundef -Wno-format-truncation
HARDEN  := -D_FORTIFY_SOURCE=3 -fstack-protector-strong -fstack-clash-protection \
           -fcf-protection -fPIE
DEFS    := -D_GNU_SOURCE -DLC_VERSION='"$(VERSION)"' -DLC_GIT_ID='"$(GIT_ID)"' \
           -DLC_SYSCONFDIR='"$(SYSCONFDIR)"' -DLC_CRIU_DEFAULT='"$(CRIU_PATH)"'
CFLAGS  ?= -O2 -g
ALL_CFLAGS = -std=gnu11 $(CFLAGS) $(WARN) $(DEFS) -Isrc/lib $(shell pkg-config --cflags jansson mount 2>/dev/null)
LDFLAGS_ALL = -pie -Wl,-z,relro,-z,now,-z,noexecstack $(LDFLAGS)
LIBS    := $(shell pkg-config --libs jansson mount 2>/dev/null || echo -ljansson -lmount)

LIB_SRC := $(wildcard src/lib/*.c)
PROGS   := echkpnt.criu erestart.criu lsf-criu-restore lsf-criu-terminate lsf-criu-postexec \
           lsf-criu-start \
           $(if $(wildcard src/admin/main.c),lsf-criu)
UNIT_SRC := $(wildcard tests/unit/test_*.c)

# $(call build_tree,DIR,EXTRA_CFLAGS)
define build_tree
$(1)/obj/%.o: src/%.c $(wildcard src/*/*.h) | $(1)/obj
	@mkdir -p $$(dir $$@)
	@echo "  CC $$@"; $$(CC) $$(ALL_CFLAGS) $(2) $$(HARDEN) -c $$< -o $$@
$(1)/obj:
	@mkdir -p $$@
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
$(1)/lsf-criu: $(patsubst src/%.c,$(1)/obj/%.o,$(wildcard src/admin/*.c)) $(1)/liblc.a
	$$(CC) $(2) $$(LDFLAGS_ALL) -o $$@ $$^ $$(LIBS) -lcap
$(1)/unit/%: tests/unit/%.c tests/unit/tap.h $(1)/liblc.a
	@mkdir -p $$(dir $$@)
	$$(CC) $$(ALL_CFLAGS) $(2) -Itests/unit $$(LDFLAGS_ALL) -fPIE -o $$@ $$< $(1)/liblc.a $$(LIBS)
endef

SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

.DEFAULT_GOAL := all
include mk/fuzz.mk

$(eval $(call build_tree,build,))
$(eval $(call build_tree,build-asan,$(SAN)))

all: $(addprefix build/,$(PROGS))
asan: $(addprefix build-asan/,$(PROGS))
unit-bins: $(patsubst tests/unit/%.c,build-asan/unit/%,$(UNIT_SRC))

provision:
	@scripts/provision.sh --write build/criu.path >/dev/null

check: provision all asan unit-bins fuzz-bins $(FUZZ_REPLAY_BINS)
	@tests/run-all.sh

demo: provision all
	@scripts/demo.sh

# The fault suite (tests/faults): every case; a bounded subset runs in make check.
faults: provision all
	@/usr/bin/python3 tests/faults/faults.py --subset all --jobs $${LC_FAULT_JOBS:-3}

lint:
	@! grep -nE '\b(system|popen|sprintf|strcpy)[[:space:]]*\(' src -r --include='*.c' \
		| grep -v snprintf || { echo "lint: forbidden call"; exit 1; }
	@! grep -nE 'log_(error|warn|info|debug)\(.*\\n"' src -r || { echo "lint: newline in a log message"; exit 1; }
	@echo "lint: ok"

install: all
	install -d $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5
	install -m 0755 $(addprefix build/,$(PROGS)) $(DESTDIR)$(LIBEXECDIR)/
	install -m 0644 man/*.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 man/*.5 $(DESTDIR)$(MANDIR)/man5/
	@if [ -n "$(LSF_SERVERDIR)" ]; then \
		install -d $(DESTDIR)$(LSF_SERVERDIR); \
		for p in $(PROGS); do install -m 0755 build/$$p $(DESTDIR)$(LSF_SERVERDIR)/$$p; done; \
		echo "installed $(PROGS) into $(DESTDIR)$(LSF_SERVERDIR)"; \
	fi

clean: fuzz-clean
	rm -rf build build-asan

.PHONY: all asan unit-bins provision check demo faults lint install clean
