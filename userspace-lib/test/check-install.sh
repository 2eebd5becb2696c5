#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# Copyright (c) 2026 The kqueue-linux authors
#
# check-install.sh HOST_C SCRATCH: checks what `make install DESTDIR=...`
# put there, as a user of the installed library would meet it (run by
# `make check-install`, which passes the install variables in the
# environment: CC DESTDIR PREFIX LIBDIR INCLUDEDIR PKGCONFIGDIR MANDIR SONAME
# MAN_PAGES).
#
# - the files, with libkqueue-linux.so.1 the only shared object and no
#   libkqueue.so.N (the userspace emulation's soname) anywhere;
# - HOST_C built against the installed tree with `pkg-config --cflags --libs`
#   of kqueue-linux and of libkqueue (the compatibility name), and with a bare
#   -I.../kqueue -lkqueue: each program needs SONAME and runs with the
#   installed library; static links with `pkg-config --static` work too;
# - `man` finds every page and link by name and renders it without a
#   warning, and mandoc renders the installed files cleanly.
set -eu
host_c=$1
scratch=$2
fail() {
	echo "check-install: $*" >&2
	exit 1
}
for tool in pkg-config readelf man mandoc; do
	command -v "$tool" >/dev/null ||
		fail "$tool is missing (Debian packages pkg-config, binutils, man-db, mandoc; scripts/setup.sh installs them)"
done

D=$DESTDIR
here=$(cd "$(dirname "$0")" && pwd)

# The files.
for f in "$INCLUDEDIR/kqueue/sys/event.h" "$INCLUDEDIR/kqueue/linux/kqueue.h" \
	"$LIBDIR/$SONAME" "$LIBDIR/libkqueue-linux.a" \
	"$PKGCONFIGDIR/kqueue-linux.pc" "$PKGCONFIGDIR/libkqueue.pc"; do
	[ -f "$D$f" ] && [ ! -L "$D$f" ] || fail "$f is not installed as a file"
done
for l in libkqueue-linux.so:$SONAME libkqueue.so:$SONAME libkqueue.a:libkqueue-linux.a; do
	name=${l%%:*}
	[ "$(readlink "$D$LIBDIR/$name")" = "${l#*:}" ] ||
		fail "$LIBDIR/$name is not a link to ${l#*:}"
done
bad=$(find "$D" -name 'libkqueue.so.*')
[ -z "$bad" ] || fail "installed under libkqueue's soname: $bad"
"$here/check-soname.sh" "$D$LIBDIR/$SONAME" "$SONAME"

# Programs built against the installed tree.
pc() {
	PKG_CONFIG_LIBDIR="$D$PKGCONFIGDIR" PKG_CONFIG_SYSROOT_DIR="$D" pkg-config "$@"
}
run() {
	LD_LIBRARY_PATH="$D$LIBDIR" "$@" >"$scratch/run.out" 2>&1 ||
		{ cat "$scratch/run.out" >&2; fail "$* failed with the installed library"; }
}
for module in kqueue-linux libkqueue; do
	flags=$(pc --cflags --libs "$module") || fail "pkg-config $module"
	# shellcheck disable=SC2086 # word splitting of the flags is intended
	$CC -o "$scratch/pc-$module" "$host_c" $flags
	"$here/check-soname.sh" "$D$LIBDIR/$SONAME" "$SONAME" "$scratch/pc-$module"
	"$here/check-symbols.sh" "$D$LIBDIR/$SONAME" "$scratch/pc-$module"
	run "$scratch/pc-$module"
	# shellcheck disable=SC2086
	$CC -static -o "$scratch/pc-static-$module" "$host_c" \
		$(pc --cflags "$module") $(pc --static --libs "$module")
	! readelf -d "$scratch/pc-static-$module" | grep -q NEEDED ||
		fail "pkg-config --static $module: not a static program"
	run "$scratch/pc-static-$module"
done
$CC -o "$scratch/bare-lkqueue" "$host_c" -I"$D$INCLUDEDIR/kqueue" -L"$D$LIBDIR" -lkqueue
"$here/check-soname.sh" "$D$LIBDIR/$SONAME" "$SONAME" "$scratch/bare-lkqueue"
run "$scratch/bare-lkqueue"

# The man pages, by name.
for page in $MAN_PAGES; do
	name=${page%.*}
	sec=${page##*.}
	file=$(man -M "$D$MANDIR" -w "$sec" "$name" 2>/dev/null) ||
		fail "man does not find $name($sec) in $D$MANDIR"
	# A link (kqueuex.2) is found as its target.
	[ "$(readlink -f "$file")" = "$(readlink -f "$D$MANDIR/man$sec/$page")" ] ||
		fail "man finds $name($sec) at $file"
	MANWIDTH=80 man -M "$D$MANDIR" -P cat --warnings "$sec" "$name" \
		>"$scratch/man.out" 2>"$scratch/man.err" || fail "man $sec $name failed"
	if [ -s "$scratch/man.err" ]; then
		cat "$scratch/man.err" >&2
		fail "man $sec $name: warnings"
	fi
	grep -q "^NAME" "$scratch/man.out" && grep -q "$name" "$scratch/man.out" ||
		fail "man $sec $name: no NAME section naming it"
	mandoc -Tutf8 -Wwarning "$D$MANDIR/man$sec/$page" >/dev/null ||
		fail "mandoc $page: warnings"
done
