# SPDX-License-Identifier: GPL-2.0-or-later
# Fuzzing of the parsers of untrusted input (tests/fuzz/), included from the Makefile:
#
#   make fuzz-bins      the libFuzzer targets (clang, ASan, UBSan) in build-fuzz/
#   make fuzz           runs each target for FUZZ_SECONDS (default 20) on a copy of its
#                       corpus in build-fuzz/corpus/; fails on any crash
#   make fuzz-replay    runs every seed and regression once, built with gcc, ASan and UBSan
#                       (no libFuzzer needed), in build-fuzz/replay/
#   make fuzz-clean
#
# A target is tests/fuzz/fuzz_<name>.c with its seeds in tests/fuzz/corpus/<name>/ and
# its crashes in tests/fuzz/regressions/<name>/. Crashes in the library that are not
# fixed yet are listed in tests/fuzz/known-bugs.txt.

# Whatever this file is included after, it must not become the default goal.
fuzz_saved_goal := $(.DEFAULT_GOAL)

FUZZ_CC        ?= clang
FUZZ_REPLAY_CC ?= gcc
FUZZ_SECONDS   ?= 20
FUZZ_MAX_LEN   ?= 65536
FUZZ_OUT       := build-fuzz

FUZZ_NAMES   := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_LIB_SRC := $(wildcard src/lib/*.c)
FUZZ_HDRS    := $(wildcard src/lib/*.h) tests/fuzz/fuzz.h
FUZZ_JSON_CFLAGS := $(shell pkg-config --cflags jansson mount libzstd libxxhash 2>/dev/null) -pthread
FUZZ_JSON_LIBS   := $(shell pkg-config --libs jansson mount 2>/dev/null || echo -ljansson -lmount) \
		    $(shell pkg-config --libs libzstd libxxhash 2>/dev/null || echo -lzstd -lxxhash) \
		    -pthread

# No -Werror: a new compiler's new warning must not stop a fuzzing run.
FUZZ_COMMON := -g -O1 -std=gnu11 -D_GNU_SOURCE -Isrc/lib -Itests/fuzz $(FUZZ_JSON_CFLAGS) \
               -Wall -Wextra -fno-omit-frame-pointer -fno-sanitize-recover=all
FUZZ_CFLAGS        := $(FUZZ_COMMON) -fsanitize=fuzzer,address,undefined
# -Wno-format-truncation as in the main build: gcc guesses at snprintf() truncations on purpose.
FUZZ_REPLAY_CFLAGS := $(FUZZ_COMMON) -fsanitize=address,undefined -Wno-format-truncation
FUZZ_ENV := UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ASAN_OPTIONS=detect_leaks=1

FUZZ_LIB_OBJS    := $(patsubst src/lib/%.c,$(FUZZ_OUT)/obj/lib/%.o,$(FUZZ_LIB_SRC))
FUZZ_BINS        := $(addprefix $(FUZZ_OUT)/fuzz_,$(FUZZ_NAMES))
FUZZ_REPLAY_LIB_OBJS := $(patsubst src/lib/%.c,$(FUZZ_OUT)/replay/obj/lib/%.o,$(FUZZ_LIB_SRC))
FUZZ_REPLAY_BINS := $(addprefix $(FUZZ_OUT)/replay/fuzz_,$(FUZZ_NAMES))

$(FUZZ_LIB_OBJS): $(FUZZ_OUT)/obj/lib/%.o: src/lib/%.c $(FUZZ_HDRS)
	@mkdir -p $(@D)
	@echo "  FUZZCC $@"; $(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_BINS): $(FUZZ_OUT)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_HDRS) $(FUZZ_LIB_OBJS)
	@echo "  FUZZLD $@"; $(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_LIB_OBJS) $(FUZZ_JSON_LIBS)

$(FUZZ_REPLAY_LIB_OBJS): $(FUZZ_OUT)/replay/obj/lib/%.o: src/lib/%.c $(FUZZ_HDRS)
	@mkdir -p $(@D)
	@echo "  REPLAYCC $@"; $(FUZZ_REPLAY_CC) $(FUZZ_REPLAY_CFLAGS) -c $< -o $@

$(FUZZ_REPLAY_BINS): $(FUZZ_OUT)/replay/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c \
		     $(FUZZ_HDRS) $(FUZZ_REPLAY_LIB_OBJS)
	@echo "  REPLAYLD $@"; $(FUZZ_REPLAY_CC) $(FUZZ_REPLAY_CFLAGS) -o $@ $< \
		tests/fuzz/replay.c $(FUZZ_REPLAY_LIB_OBJS) $(FUZZ_JSON_LIBS)

fuzz-bins: $(FUZZ_BINS)

fuzz: fuzz-bins
	@$(FUZZ_ENV) tests/fuzz/run-fuzz.sh $(FUZZ_SECONDS) $(FUZZ_MAX_LEN) $(FUZZ_OUT) $(FUZZ_NAMES)

fuzz-replay: $(FUZZ_REPLAY_BINS)
	@fail=0; for n in $(FUZZ_NAMES); do \
		$(FUZZ_ENV) $(FUZZ_OUT)/replay/fuzz_$$n -k tests/fuzz/known-bugs.txt \
			tests/fuzz/corpus/$$n tests/fuzz/regressions/$$n || fail=1; \
	done; \
	if [ $$fail = 0 ]; then echo "fuzz-replay: ok"; else echo "fuzz-replay: FAILED"; fi; \
	exit $$fail

fuzz-clean:
	rm -rf $(FUZZ_OUT)

.PHONY: fuzz fuzz-bins fuzz-replay fuzz-clean

.DEFAULT_GOAL := $(fuzz_saved_goal)
