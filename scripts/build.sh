#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the module, the C library and the selftests for one test kernel.
#
#   scripts/build.sh fast|debug [--lint]
#
# The module goes to build/module-FLAVOUR/kqueue.ko. With --lint the module is
# built with CLIPPY=1 and any compiler or clippy warning fails the build.
set -euo pipefail
. "$(dirname "$0")/common.sh"

flavour=${1:?usage: $0 fast|debug [--lint]}
lint=${2:-}
kdir=$(kq_kernel_dir "$flavour")
[ -f "$kdir/.kq-built" ] || die "kernel $flavour not built; run scripts/setup.sh $flavour"
# shellcheck disable=SC2046
vars=($(kq_kmake_vars "$flavour"))
out="$KQ_ROOT/build/module-$flavour"
mkdir -p "$out"

log "module ($flavour): building${lint:+ with clippy}"
extra=()
[ "$lint" = --lint ] && extra=(CLIPPY=1 CLIPPY_DRIVER=/usr/bin/clippy-driver)
logf="$out/build.log"
if ! make -C "$kdir" M="$KQ_ROOT" MO="$out" "${vars[@]}" "${extra[@]}" modules >"$logf" 2>&1; then
	cat "$logf" >&2
	die "module build failed ($flavour)"
fi
if grep -q -E '^(warning|error)' "$logf"; then
	cat "$logf" >&2
	die "module build has warnings ($flavour)"
fi
