# SPDX-License-Identifier: GPL-2.0-or-later
# A cross build, included from the Makefile: the same sources, -Werror, flags
# probed for the target's compiler, linked against the target's libraries.
#
#   make cross          build-aarch64/ with Debian's gcc-aarch64-linux-gnu and the
#                       arm64 libraries (libjansson-dev:arm64, libmount-dev:arm64,
#                       libcap-dev:arm64, libzstd-dev:arm64, libxxhash-dev:arm64;
#                       scripts/provision.sh installs them)
#   make cross CROSS_ARCH=ppc64le CROSS_TRIPLET=powerpc64le-linux-gnu   another target
#   make cross-clean
#
# It proves that the build assumes nothing of x86-64 (-fcf-protection is x86-only,
# the aarch64 build gets -mbranch-protection instead) and that the code builds for
# the other architectures LSF execution hosts run.

CROSS_ARCH    ?= aarch64
CROSS_TRIPLET ?= aarch64-linux-gnu
CROSS_CC      ?= $(CROSS_TRIPLET)-gcc
CROSS_BUILD   ?= build-$(CROSS_ARCH)
# The target's pkg-config files (Debian multiarch), never the build machine's.
CROSS_PKG_CONFIG_LIBDIR ?= /usr/lib/$(CROSS_TRIPLET)/pkgconfig:/usr/share/pkgconfig

cross:
	@command -v $(CROSS_CC) >/dev/null 2>&1 || { \
		echo "cross: no $(CROSS_CC); scripts/provision.sh installs it" >&2; exit 1; }
	@PKG_CONFIG_LIBDIR=$(CROSS_PKG_CONFIG_LIBDIR) $(MAKE) --no-print-directory \
		CC=$(CROSS_CC) AR=$(CROSS_TRIPLET)-ar BUILD=$(CROSS_BUILD) all

cross-clean:
	rm -rf build-aarch64 $(CROSS_BUILD)

.PHONY: cross cross-clean
