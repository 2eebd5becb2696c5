#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The test command (`make check`, called by .ci/run): set up what is missing,
# lint, build, then run every test in QEMU on the fast and the debug kernel.
# Ends with the line "N passed, N failed" and exits non-zero on any failure.
#
#   KQ_FLAVOURS="fast debug"   kernels to test on (default: both)
set -uo pipefail
. "$(dirname "$0")/common.sh"
cd "$KQ_ROOT"

t0=$(date +%s)
flavours=${KQ_FLAVOURS:-fast debug}
passed=0
failed=0
failures=()

# step NAME COMMAND...: a check that counts as one test.
step() {
	local name=$1
	shift
	log "check: $name"
	if "$@"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		failures+=("$name")
		echo "FAILED: $name" >&2
	fi
}

rustfmt_check() {
	local src
	src=$(kq_source_dir)
	/usr/bin/rustfmt --check --edition 2021 --config-path "$src/.rustfmt.toml" rust/*.rs
}

checkpatch() {
	local src
	src=$(kq_source_dir)
	# Kernel-side C: the UAPI header and the selftests (kernel coding style).
	"$src/scripts/checkpatch.pl" --no-tree --quiet --terse --show-types \
		--ignore SPDX_LICENSE_TAG,FILE_PATH_CHANGES,NEW_TYPEDEFS,MACRO_ARG_REUSE \
		-f include/uapi/linux/kqueue.h rust/*.c rust/*.h selftests/*.c selftests/*.h \
		selftests/bench/*.c
}

run_vm() {
	local flavour=$1 kdir extra
	kdir=$(kq_kernel_dir "$flavour")
	extra=$(mktemp -d)
	cp userspace-lib/build/kqdemo build/rust-vm/rust_integration build/rust-vm/watch "$extra/"
	local rc=0
	# The extra command: the C demo, the Rust crate's integration tests and its example.
	selftests/vm/run-vm.sh --name "$flavour" --quiet \
		--kernel "$kdir/arch/x86/boot/bzImage" \
		--module "build/module-$flavour/kqueue.ko" \
		--tests selftests/build \
		--extra "$extra" \
		--cmd "./kqdemo && KQ_REQUIRE_DEVICE=1 ./rust_integration --test-threads=1 && ./watch" \
		--log "build/vm-$flavour.log" \
		--results "build/results-$flavour" --timeout 1500 || rc=$?
	rm -rf "$extra"
	return $rc
}

# Setup failures are fatal: nothing can be tested without the toolchain.
# shellcheck disable=SC2086
scripts/setup.sh $flavours || { echo "0 passed, 1 failed"; exit 1; }
mkdir -p build

step "module builds clippy-clean (fast)" scripts/build.sh fast --lint
for f in $flavours; do
	[ "$f" = fast ] || step "module builds ($f)" scripts/build.sh "$f"
done
step "rustfmt --check" rustfmt_check
step "checkpatch" checkpatch
step "C library builds and passes its host checks" make -s -C userspace-lib all check
step "selftests build" make -s -C selftests
step "Rust crate: fmt, clippy, docs, host tests" userspace-lib/rust/check.sh
step "Rust crate: static test binaries for the VM" userspace-lib/rust/build-vm-tests.sh build/rust-vm

for f in $flavours; do
	rm -f "build/results-$f"
	if [ ! -f "build/module-$f/kqueue.ko" ]; then
		failed=$((failed + 1))
		failures+=("vm $f: no module")
		continue
	fi
	log "check: tests in the VM ($f kernel)"
	vm_ok=1
	run_vm "$f" || { vm_ok=0; failures+=("vm $f"); }
	if [ -f "build/results-$f" ]; then
		# shellcheck disable=SC1090
		eval "$(tr ' ' '\n' <"build/results-$f" | sed 's/^/vm_/')"
		passed=$((passed + vm_pass))
		failed=$((failed + vm_fail + vm_skip))
		# A failed run without failed tests (timeout, kernel warning, ...).
		if [ $vm_ok = 0 ] && [ $((vm_fail + vm_skip)) = 0 ]; then
			failed=$((failed + 1))
		fi
	else
		failed=$((failed + 1))
	fi
done

# libevent's own regression suite on the kqueue backend (doc/libevent.md): the
# libevent build is cached; about four minutes with the VM run.
if [[ " $flavours " == *" fast "* ]] && [ -f build/module-fast/kqueue.ko ]; then
	step "libevent regress on kqueue (fast kernel)" scripts/libevent.sh \
		--log build/vm-libevent.log --results build/results-libevent
fi

# The fuzzer (selftests/fuzz): the regression seeds for 3 s each, then a random
# seed (printed) for 30 s, as root and as nobody, on the debug kernel; about
# three minutes with the boot. The 8192-watch limit check (a minute under KASAN)
# is left to make fuzz.
fuzz_flavour=debug
[[ " $flavours " == *" debug "* ]] || fuzz_flavour=${flavours%% *}
step "fuzzer ($fuzz_flavour kernel)" scripts/fuzz.sh --kernel "$fuzz_flavour" \
	--seconds 30 --regressions 3 -- --disable plimit

# Benchmarks are not tests, but a smoke run keeps them from rotting.
if [[ " $flavours " == *" fast "* ]]; then
	step "benchmark smoke run (fast kernel)" scripts/bench.sh --smoke
fi

echo
log "check: done in $(($(date +%s) - t0)) s"
for f in "${failures[@]+"${failures[@]}"}"; do
	echo "  failed: $f"
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
