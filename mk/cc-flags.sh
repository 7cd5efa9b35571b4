#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# mk/cc-flags.sh OUT
#
# Probes the compiler $CC (with $CFLAGS and $LDFLAGS) for every optional
# flag of the build and writes the result to OUT as a makefile fragment:
#
#   LC_WARN_OPT   warnings beyond -Wall -Wextra this compiler knows; and
#                 -Wno-format-truncation only where -Wformat-truncation exists
#                 (gcc: snprintf() truncates on purpose here; clang has no such
#                 warning and refuses the unknown option under -Werror)
#   LC_FORTIFY    -D_FORTIFY_SOURCE=N with the highest N (3, 2, 1) that this
#                 compiler, these CFLAGS (it needs optimisation) and this C
#                 library accept without a #warning; empty if none
#   LC_HARDEN_CC  -fstack-protector-strong, -fstack-clash-protection,
#                 -fcf-protection (x86) or -mbranch-protection=standard
#                 (aarch64), -fPIE: each only if accepted under -Werror
#   LC_HARDEN_LD  -pie and -Wl,-z,relro,-z,now,-z,noexecstack, each only if
#                 a program links with it
#
# A flag counts as accepted when a small C file compiles (and, for the
# linker's, links) with it and -Werror, without any diagnostic turned error.
# The probes take a few seconds, so OUT is kept: it is written again only
# when the compiler binary, CC, CFLAGS, LDFLAGS or this script change (its
# first line holds that key). "make clean" removes it.
set -eu

out=$1
cc=${CC:-cc}
cflags=${CFLAGS:-}
ldflags=${LDFLAGS:-}
# CC may be a command with arguments ("ccache gcc"): identify its first word.
set -f
# shellcheck disable=SC2086
set -- $cc
set +f
ccbin=$(command -v "$1" 2>/dev/null || echo "$1")
key="2|$cc|$cflags|$ldflags|$(ls -lL "$ccbin" 2>/dev/null || echo "?")|$(cksum <"$0")"
if [ -f "$out" ] && [ "$(sed -n '1s/^# key: //p' "$out")" = "$key" ]; then
	exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/t.c" <<'EOF'
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	char buf[16];

	(void)argv;
	snprintf(buf, sizeof(buf), "%d", argc);
	return (int)strlen(buf) + (int)write(1, "", 0);
}
EOF

# try FLAG...: compiles with them under -Werror, no diagnostic at all.
try() {
	# shellcheck disable=SC2086
	$cc $cflags -Wall -Wextra -Werror "$@" -c "$tmp/t.c" -o "$tmp/t.o" >"$tmp/err" 2>&1 &&
		[ ! -s "$tmp/err" ]
}
# trylink FLAG...: compiles and links with them.
trylink() {
	# shellcheck disable=SC2086
	$cc $cflags -Wall -Wextra -Werror $pie_cc "$tmp/t.c" $ldflags "$@" -o "$tmp/t" >"$tmp/err" 2>&1 &&
		[ ! -s "$tmp/err" ]
}

try || { echo "cc-flags: '$cc $cflags' cannot compile a C file:" >&2; cat "$tmp/err" >&2; exit 1; }

warn=
for w in -Wformat=2 -Wformat-security -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wimplicit-fallthrough -Wvla -Wpointer-arith -Wundef; do
	try "$w" && warn="$warn $w"
done
try -Wformat-truncation && warn="$warn -Wno-format-truncation"

fortify=
for n in 3 2 1; do
	if try -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=$n; then
		fortify="-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=$n"
		break
	fi
done

harden=
for f in -fstack-protector-strong -fstack-clash-protection -fcf-protection \
	-mbranch-protection=standard -fPIE; do
	try "$f" && harden="$harden $f"
done
pie_cc=
case " $harden " in *" -fPIE "*) pie_cc=-fPIE ;; esac

harden_ld=
for f in -pie -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack; do
	trylink "$f" && harden_ld="$harden_ld $f"
done

mkdir -p "$(dirname "$out")"
{
	printf '# key: %s\n' "$key"
	printf '# written by mk/cc-flags.sh: the optional flags %s accepts\n' "$cc"
	printf 'LC_WARN_OPT  :=%s\n' "$warn"
	printf 'LC_FORTIFY   := %s\n' "$fortify"
	printf 'LC_HARDEN_CC :=%s\n' "$harden"
	printf 'LC_HARDEN_LD :=%s\n' "$harden_ld"
} >"$out.tmp"
mv "$out.tmp" "$out"
echo "  FLAGS $out: ${fortify:-no _FORTIFY_SOURCE};$harden;$harden_ld" >&2
