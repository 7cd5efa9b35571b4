# SPDX-License-Identifier: GPL-2.0-or-later
# Release tarball and packages, included from the Makefile:
#
#   make dist   build-dist/lsf-criu-$(VERSION).tar.gz: the committed tree (git archive
#               of HEAD; outside git, the tree as it is), with GITID (the commit, so that
#               a build from the tarball reports it) and lsf-criu.spec (from
#               packaging/rpm/lsf-criu.spec.in), so that "rpmbuild -ta" works on it
#   make rpm    the source and binary RPMs from that tarball, in build-rpm/
#               (rpmbuild -ba; here on Debian with --nodeps, which has no RPM database)
#   make deb    the Debian package from that tarball, in build-deb/ (dpkg-buildpackage -b;
#               debian/changelog is written from VERSION)
#
# The version comes only from the file VERSION.

DIST_NAME := lsf-criu-$(VERSION)
DIST_DIR  := build-dist
DIST_TAR  := $(DIST_DIR)/$(DIST_NAME).tar.gz
RPM_DIR   := build-rpm
DEB_DIR   := build-deb
# A fixed time for the tarball's entries (reproducible): the commit's, else now.
DIST_MTIME := $(or $(shell git log -1 --format=%ct 2>/dev/null),$(shell date +%s))

dist:
	@rm -rf $(DIST_DIR)/$(DIST_NAME) $(DIST_TAR)
	@mkdir -p $(DIST_DIR)/$(DIST_NAME)
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		git archive --format=tar HEAD | tar -x -C $(DIST_DIR)/$(DIST_NAME); \
		git diff --quiet HEAD -- || echo "dist: note: uncommitted changes are not in the tarball" >&2; \
	else \
		tar -c --exclude='./build*' --exclude=./.git . | tar -x -C $(DIST_DIR)/$(DIST_NAME); \
	fi
	@echo "$(GIT_ID)" >$(DIST_DIR)/$(DIST_NAME)/GITID
	@sed -e 's/@VERSION@/$(VERSION)/g' -e 's/@GITID@/$(GIT_ID)/g' \
		-e "s/@RPMDATE@/$$(LC_ALL=C date -u -d @$(DIST_MTIME) '+%a %b %d %Y')/g" \
		packaging/rpm/lsf-criu.spec.in >$(DIST_DIR)/$(DIST_NAME)/lsf-criu.spec
	@tar -C $(DIST_DIR) --sort=name --owner=0 --group=0 --numeric-owner \
		--mtime=@$(DIST_MTIME) -czf $(DIST_TAR) $(DIST_NAME)
	@rm -rf $(DIST_DIR)/$(DIST_NAME)
	@echo "dist: $(DIST_TAR) (lsf-criu $(VERSION), $(GIT_ID))"

rpm: dist
	@command -v rpmbuild >/dev/null || { echo "rpm: no rpmbuild (apt-get install rpm)" >&2; exit 1; }
	@rm -rf $(RPM_DIR) && mkdir -p $(RPM_DIR)/SOURCES
	@cp $(DIST_TAR) $(RPM_DIR)/SOURCES/
	@tar -xzOf $(DIST_TAR) $(DIST_NAME)/lsf-criu.spec >$(RPM_DIR)/lsf-criu.spec
	@# --nodeps: Debian's rpm has no database of the build dependencies it installed;
	@# no debuginfo package here (Debian has no find-debuginfo). RHEL builds both.
	rpmbuild --nodeps --define "_topdir $(CURDIR)/$(RPM_DIR)" \
		--define "debug_package %{nil}" -ba $(RPM_DIR)/lsf-criu.spec \
		>$(RPM_DIR)/rpmbuild.log 2>&1 || { tail -40 $(RPM_DIR)/rpmbuild.log; exit 1; }
	@ls $(RPM_DIR)/RPMS/*/*.rpm $(RPM_DIR)/SRPMS/*.rpm

deb: dist
	@command -v dpkg-buildpackage >/dev/null || { echo "deb: no dpkg-buildpackage" >&2; exit 1; }
	@rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)
	@tar -C $(DEB_DIR) -xzf $(DIST_TAR)
	@printf '%s\n' "lsf-criu ($(VERSION)) unstable; urgency=medium" "" \
		"  * Release $(VERSION) ($(GIT_ID))." "" \
		" -- lsf-criu maintainers <root@localhost>  $$(date -R -d @$(DIST_MTIME))" \
		>$(DEB_DIR)/$(DIST_NAME)/debian/changelog
	cd $(DEB_DIR)/$(DIST_NAME) && dpkg-buildpackage -us -uc -b >../dpkg-buildpackage.log 2>&1 || \
		{ tail -40 ../dpkg-buildpackage.log; exit 1; }
	@ls $(DEB_DIR)/*.deb

dist-clean:
	rm -rf $(DIST_DIR) $(RPM_DIR) $(DEB_DIR)

.PHONY: dist rpm deb dist-clean
