# SPDX-License-Identifier: GPL-2.0-or-later
# Release tarball and packages, included from the Makefile (filled in below).
dist-clean:
.PHONY: dist-clean
