#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# Copyright (c) 2026 The kqueue-linux authors
#
# check-symbols.sh LIB [PROGRAM]
#
# The ABI of the shared library LIB, as a program's loader sees it:
# - it exports exactly the functions below, each at its version (nm -D);
# - its version nodes are exactly these, each newer node with the previous
#   one as its parent (readelf -V): a released node never changes, new
#   symbols go into a new node;
# - PROGRAM, if given (a program that calls every function), records the
#   newest node as needed, so an older library is refused by name.
set -eu
lib=$1
prog=${2:-}
fail() {
	echo "check-symbols: $*" >&2
	exit 1
}

# symbol version, for every exported function.
want_syms='kevent KQUEUE_LINUX_1
kqueue KQUEUE_LINUX_1
kqueue1 KQUEUE_LINUX_1
kqueue_features KQUEUE_LINUX_1.1
kqueuex KQUEUE_LINUX_1'
# node parent, oldest first ("-" for none).
want_nodes='KQUEUE_LINUX_1 -
KQUEUE_LINUX_1.1 KQUEUE_LINUX_1'
newest=KQUEUE_LINUX_1.1

have_syms=$(nm -D --defined-only "$lib" |
	awk '$2 == "T" { split($3, a, "@@"); print a[1], a[2] }' | LC_ALL=C sort)
[ "$have_syms" = "$(echo "$want_syms" | LC_ALL=C sort)" ] ||
	fail "$lib exports:
$have_syms
wanted:
$want_syms"

# readelf -V: "Index: N  Cnt: C  Name: NODE" lines, each followed by a
# "Parent 1: P" line when the node has a parent. The first is the soname.
have_nodes=$(readelf -V --wide "$lib" | awk '
	/Version definition section/ { def = 1; next }
	/Version (symbols|needs) section/ { def = 0 }
	def && /Flags: BASE/ { next }
	def && / Name: / { if (node != "") print node, parent; node = $NF; parent = "-" }
	def && /Parent 1:/ { parent = $NF }
	END { if (node != "") print node, parent }')
[ "$have_nodes" = "$want_nodes" ] ||
	fail "$lib defines the version nodes (node parent):
$have_nodes
wanted:
$want_nodes"

if [ -n "$prog" ]; then
	readelf -V --wide "$prog" | grep -q "Name: $newest " ||
		fail "$prog does not need $newest"
fi
