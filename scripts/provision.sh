#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Provision a Debian 12 machine for building, testing and running lsf-criu.
#
# 1. Installs the Debian packages the build and the tests need (only those
#    missing, so a second run installs nothing).
# 2. Provides a criu >= 4.2 that passes `criu check`: the configured path or
#    the system criu when it qualifies, otherwise a private build from
#    Debian's source package (sid), cached under $LC_CACHE_DIR and installed
#    to $LC_CRIU_DEST with the least file capabilities non-root dumps and
#    restores need (cap_checkpoint_restore,cap_setpcap).
# 3. Prints the absolute path of the qualified criu on the last line of
#    stdout and, with --write FILE, records it in FILE.
#
# Environment:
#   LC_CRIU         a criu to try first (absolute path)
#   LC_CACHE_DIR    build cache            (default /var/cache/lsf-criu)
#   LC_CRIU_DEST    private criu install   (default /usr/local/libexec/lsf-criu/criu)
#   LC_NO_APT=1     never call apt-get (fail if something is missing)
set -eu

CACHE=${LC_CACHE_DIR:-/var/cache/lsf-criu}
DEST=${LC_CRIU_DEST:-/usr/local/libexec/lsf-criu/criu}
MIN=4.2
CAPS=cap_checkpoint_restore,cap_setpcap=ep
write=

while [ $# -gt 0 ]; do
	case $1 in
	--write) write=$2; shift 2 ;;
	-h|--help) sed -n '3,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "provision: unknown argument '$1'" >&2; exit 2 ;;
	esac
done

say() { echo "provision: $*" >&2; }
die() { say "error: $*"; exit 1; }

# Packages: build, tests, and what building criu needs.
PKGS="build-essential pkg-config libjansson-dev libmount-dev libzstd-dev libxxhash-dev python3-matplotlib libcap-dev btrfs-progs libcap2-bin python3 procps clang libclang-rt-14-dev
util-linux passwd xz-utils dpkg-dev
libprotobuf-c-dev libprotobuf-dev protobuf-c-compiler protobuf-compiler libnl-3-dev
libnet1-dev libbsd-dev libgnutls28-dev uuid-dev libnftables-dev python3-protobuf"
# Portability and packaging (make cross, rpm, deb) and hygiene (make lint, analyze, format).
PKGS="$PKGS gcc-aarch64-linux-gnu libjansson-dev:arm64 libmount-dev:arm64 libcap-dev:arm64 libzstd-dev:arm64 libxxhash-dev:arm64
rpm cpio debhelper fakeroot shellcheck cppcheck clang-tools clang-format"

# The cross build links against the arm64 libraries: Debian multiarch.
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
	[ "${LC_NO_APT:-}" = 1 ] && die "the arm64 architecture is missing and LC_NO_APT=1"
	[ "$(id -u)" = 0 ] || die "run as root to add the arm64 architecture (make cross)"
	say "dpkg --add-architecture arm64"
	dpkg --add-architecture arm64
fi

missing=
for p in $PKGS; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
		missing="$missing $p"
done
apt_updated=
apt_update() {
	[ -n "$apt_updated" ] && return 0
	[ "${LC_NO_APT:-}" = 1 ] && die "packages missing and LC_NO_APT=1:$missing"
	[ "$(id -u)" = 0 ] || die "run as root to install:$missing"
	say "apt-get update"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null >&2
	apt_updated=1
}
if [ -n "$missing" ]; then
	apt_update
	say "installing:$missing"
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing \
		</dev/null >&2
fi

# version_ok CRIU: criu --version >= MIN and `criu check` says it looks good.
qualifies() {
	[ -x "$1" ] || return 1
	v=$("$1" --version 2>/dev/null | sed -n 's/^Version: //p')
	[ -n "$v" ] || { say "'$1': no version reported"; return 1; }
	if ! dpkg --compare-versions "$v" ge "$MIN"; then
		say "'$1': version $v is older than $MIN"
		return 1
	fi
	if ! "$1" check >/dev/null 2>&1; then
		say "'$1': 'criu check' failed"
		return 1
	fi
	say "'$1': version $v, criu check passed"
	return 0
}

ensure_caps() {
	if ! getcap "$1" | grep -q 'cap_checkpoint_restore' ||
	   ! getcap "$1" | grep -q 'cap_setpcap'; then
		[ "$(id -u)" = 0 ] || die "'$1' lacks file capabilities; run as root"
		setcap "$CAPS" "$1"
		say "setcap $CAPS '$1'"
	fi
}

found=
for c in ${LC_CRIU:-} "$DEST" "$(command -v criu 2>/dev/null || true)" /usr/sbin/criu; do
	[ -n "$c" ] || continue
	if qualifies "$c"; then found=$c; break; fi
done

if [ -z "$found" ]; then
	build="$CACHE/build"
	bin=$(for f in "$build"/criu-*/criu/criu; do [ -e "$f" ] && echo "$f"; done |
		sort -V | tail -n1)
	if [ -z "$bin" ] || ! qualifies "$bin"; then
		src=/etc/apt/sources.list.d/lsf-criu-sid-src.sources
		if [ ! -f "$src" ]; then
			[ "$(id -u)" = 0 ] || die "need root to add the sid source index"
			cat >"$src" <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
			apt_updated=
		fi
		apt_update
		mkdir -p "$build"
		(cd "$build" && apt-get source --download-only criu </dev/null >&2 2>&1) || true
		orig=$(for f in "$build"/criu_*.orig.tar.*; do [ -e "$f" ] && echo "$f"; done |
			sort -V | tail -n1)
		[ -n "$orig" ] || die "the criu source tarball could not be downloaded"
		v=${orig##*/criu_}; v=${v%.orig.tar.*}
		say "building criu $v from '$orig'"
		rm -rf "$build/criu-$v"
		(cd "$build" && tar xf "$orig")
		make -C "$build/criu-$v" -j"$(nproc)" criu >"$build/criu-$v.build.log" 2>&1 ||
			die "criu build failed, see '$build/criu-$v.build.log'"
		bin="$build/criu-$v/criu/criu"
		qualifies "$bin" || die "the criu built from source does not qualify"
	fi
	install -D -m 0755 "$bin" "$DEST"
	found=$DEST
fi

ensure_caps "$found"
if [ -n "$write" ]; then
	mkdir -p "$(dirname "$write")"
	printf '%s\n' "$found" >"$write"
fi
echo "$found"
