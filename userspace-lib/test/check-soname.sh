#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# Copyright (c) 2026 The kqueue-linux authors
#
# check-soname.sh LIB SONAME [PROGRAM...]
#
# LIB's soname (readelf -d) must be SONAME, which must not be libkqueue's
# (libkqueue.so.N, the userspace emulation with a smaller struct kevent), and
# each PROGRAM must record SONAME as needed, and no libkqueue.so.N.
set -eu
lib=$1
want=$2
shift 2
fail() {
	echo "check-soname: $*" >&2
	exit 1
}

case $want in
libkqueue.so*) fail "$want is the userspace libkqueue's soname" ;;
esac
have=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]$/\1/p')
[ "$have" = "$want" ] || fail "$lib: soname '$have', wanted '$want'"

for prog in "$@"; do
	needed=$(readelf -d "$prog" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p')
	echo "$needed" | grep -qx "$want" ||
		fail "$prog does not record $want as needed:" $needed
	if echo "$needed" | grep -q '^libkqueue\.so'; then
		fail "$prog needs libkqueue's soname:" $needed
	fi
done
