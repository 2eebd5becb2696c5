#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The main job, on a fresh machine: install the toolchain, build the fast test
# kernel, the module and the C library, boot QEMU, load the module and run the
# demo program (a timer, a user event and a pipe), which prints its events.
set -euo pipefail
. "$(dirname "$0")/common.sh"
cd "$KQ_ROOT"

scripts/setup.sh fast
scripts/build.sh fast
log "C library and demo program"
make -s -C userspace-lib all
extra=$(mktemp -d)
trap 'rm -rf "$extra"' EXIT
cp userspace-lib/build/kqdemo "$extra/"
log "booting the VM: insmod kqueue.ko, run kqdemo"
KQ_ALLOW_NO_TESTS=1 selftests/vm/run-vm.sh --name demo \
	--kernel "$(kq_kernel_dir fast)/arch/x86/boot/bzImage" \
	--module build/module-fast/kqueue.ko \
	--extra "$extra" --cmd "./kqdemo" --timeout 300
