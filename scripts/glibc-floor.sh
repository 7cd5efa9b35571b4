#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# glibc-floor.sh [-f FLOOR] [-l LIBC] OBJECT...
#
# Fails if an object calls a C library function that is newer than FLOOR
# (default 2.28, the glibc of RHEL 8): each undefined symbol of the objects
# that the C library LIBC (default: the one $CC links against) defines is
# looked up in its dynamic symbol table, and the lowest GLIBC_x.y version it
# has there is compared with FLOOR. Symbols the C library does not define
# (jansson, libmount, libcap, our own) are not its business.
#
# Documented exceptions, which the headers of a newer glibc redirect and
# which an older glibc provides under another name (so a build there works):
#   stat, fstat, lstat, fstatat, mknod, mknodat (and their 64 variants):
#     glibc >= 2.33 exports them; older headers redirect them to __xstat &c.;
#   __libc_start_main: referenced by the C runtime's start files, not by us.
#
# Prints one line per offending call ("object: symbol (GLIBC_x.y)") and a
# closing line; exits 1 if there was any, 2 on a usage or tool error.
set -eu

floor=2.28
libc=
while getopts f:l: o; do
	case $o in
	f) floor=$OPTARG ;;
	l) libc=$OPTARG ;;
	*) echo "usage: $0 [-f FLOOR] [-l LIBC] OBJECT..." >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { echo "glibc-floor: no object given" >&2; exit 2; }
[ -n "$libc" ] || libc=$(${CC:-cc} -print-file-name=libc.so.6)
[ -f "$libc" ] || { echo "glibc-floor: no C library '$libc'" >&2; exit 2; }
NM=${NM:-nm}
OBJDUMP=${OBJDUMP:-objdump}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# symbol -> lowest GLIBC_ version ("(GLIBC_2.2.5)" marks a compat version, still callable).
"$OBJDUMP" -T "$libc" | awk '
	NF >= 2 && $(NF - 1) ~ /^\(?GLIBC_[0-9.]+\)?$/ {
		v = $(NF - 1); gsub(/[()]|GLIBC_/, "", v); print $NF, v
	}' | sort -k1,1 -k2,2V | awk '!seen[$1]++' >"$tmp/libc"
[ -s "$tmp/libc" ] || { echo "glibc-floor: no versioned symbols in '$libc'" >&2; exit 2; }

for o in "$@"; do
	"$NM" -u --format=posix "$o" | awk -v o="$o" '{ print $1, o }'
done | sed 's/@.*//' | sort -k1,1 >"$tmp/undef"

join "$tmp/undef" "$tmp/libc" | awk -v floor="$floor" '
	BEGIN {
		n = split("stat fstat lstat fstatat mknod mknodat stat64 fstat64 lstat64 fstatat64 " \
			  "__libc_start_main", e, " ")
		for (i = 1; i <= n; i++) exempt[e[i]] = 1
		split(floor, f, ".")
	}
	function newer(v,   a) {
		split(v, a, ".")
		if (a[1] + 0 != f[1] + 0) return a[1] + 0 > f[1] + 0
		return a[2] + 0 > f[2] + 0
	}
	newer($3) && !exempt[$1] { printf "%s: %s (GLIBC_%s)\n", $2, $1, $3; bad++ }
	newer($3) && exempt[$1] { ex[$1] = $3 }
	END {
		for (s in ex) printf "exempt: %s (GLIBC_%s, redirected by older headers)\n", s, ex[s] | "sort"
		close("sort")
		if (bad) { printf "glibc-floor: FAILED: %d call(s) newer than glibc %s\n", bad, floor; exit 1 }
		printf "glibc-floor: ok: no call newer than glibc %s\n", floor
	}'
