#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The test command (`make check`, called by .ci/run): set up what is missing,
# lint, build, then run every test in QEMU on the fast and the debug kernel,
# then on Debian's own kernels (scripts/debian.sh, doc/debian.md) with the
# DKMS install path. Ends with the line "N passed, N failed" and exits
# non-zero on any failure.
#
#   KQ_FLAVOURS="fast debug debian debian-rt"   kernels to test on (default: all)
set -uo pipefail
. "$(dirname "$0")/common.sh"
cd "$KQ_ROOT"

t0=$(date +%s)
all_flavours=${KQ_FLAVOURS:-fast debug debian debian-rt}
flavours='' deb_flavours=''
for f in $all_flavours; do
	case $f in
	fast | debug) flavours+="${flavours:+ }$f" ;;
	debian | debian-rt) deb_flavours+="${deb_flavours:+ }$f" ;;
	*) echo "unknown flavour in KQ_FLAVOURS: $f" >&2; exit 2 ;;
	esac
done
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
		--module-args "$KQ_TEST_MODULE_ARGS" \
		--tests selftests/build \
		--extra "$extra" \
		--cmd "./kqdemo && KQ_REQUIRE_DEVICE=1 ./rust_integration --test-threads=1 && ./watch" \
		--log "build/vm-$flavour.log" \
		--results "build/results-$flavour" --timeout 1500 || rc=$?
	rm -rf "$extra"
	return $rc
}

# Debian's kernels: the network part (trixie chroot, packages, kernel images)
# runs in the background beside the setup of our kernels.
deb_fetch_pid=
if [ -n "$deb_flavours" ]; then
	mkdir -p build
	# shellcheck disable=SC2086
	scripts/debian.sh fetch $deb_flavours >build/debian-fetch.log 2>&1 &
	deb_fetch_pid=$!
fi

# Setup failures are fatal: nothing can be tested without the toolchain.
# shellcheck disable=SC2086
scripts/setup.sh ${flavours:-none} || { echo "0 passed, 1 failed"; exit 1; }
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

# vm_counted FLAVOUR COMMAND...: a VM run whose tests count one by one
# (COMMAND writes build/results-FLAVOUR).
vm_counted() {
	local f=$1 vm_ok=1
	shift
	rm -f "build/results-$f"
	if [ ! -f "build/module-$f/kqueue.ko" ]; then
		failed=$((failed + 1))
		failures+=("vm $f: no module")
		return
	fi
	log "check: tests in the VM ($f kernel)"
	"$@" || { vm_ok=0; failures+=("vm $f"); }
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
}
for f in $flavours; do
	vm_counted "$f" run_vm "$f"
done

# Debian's own kernels (trixie-backports 7.3, amd64 and PREEMPT_RT), booted
# unmodified: the module built against their prepared Rust metadata, the whole
# VM suite except KUnit (Debian's kernels have none), and the DKMS install.
if [ -n "$deb_flavours" ]; then
	if wait "$deb_fetch_pid"; then
		cat build/debian-fetch.log
		# shellcheck disable=SC2086
		step "Debian kernels: chroot, packages, Rust metadata" scripts/debian.sh setup $deb_flavours
	else
		cat build/debian-fetch.log
		step "Debian kernels: chroot, packages (build/debian-fetch.log)" false
	fi
	for f in $deb_flavours; do
		step "module builds ($f)" scripts/debian.sh build "$f"
		vm_counted "$f" scripts/debian.sh vm "$f" --results "build/results-$f"
	done
	if [[ " $deb_flavours " == *" debian "* ]]; then
		step "DKMS install in trixie, its module on Debian's kernel" scripts/debian.sh dkms
	fi
fi

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
[ -z "$fuzz_flavour" ] || step "fuzzer ($fuzz_flavour kernel)" scripts/fuzz.sh --kernel "$fuzz_flavour" \
	--seconds 30 --regressions 3 -- --disable plimit

# Benchmarks are not tests, but a smoke run keeps them from rotting.
if [[ " $flavours " == *" fast "* ]]; then
	step "benchmark smoke run (fast kernel)" scripts/bench.sh --smoke
fi

# vm_report FLAVOUR: what a failed VM run left in its console log, short
# enough for the tail of a CI log (the whole log is build/vm-FLAVOUR.log):
# the per-program rows that failed, then the first kernel report.
vm_report() {
	local f=$1 log=build/vm-$1.log
	[ -f "$log" ] || return 0
	echo "    last test started: $(grep -a -o 'KQVM-BEGIN [^ ]*' "$log" | tail -n1 | cut -d' ' -f2)"
	grep -a -E '^[[:space:]]*not ok [0-9]' "$log" | head -n 8 | sed 's/^[[:space:]]*/    /'
	grep -a -m1 -A24 -E 'BUG:|Oops|general protection fault|kernel BUG at|WARNING:|Kernel panic|watchdog:|rcu: INFO' "$log" |
		tr -d '\r' | sed 's/^/    | /'
}

echo
log "check: done in $(($(date +%s) - t0)) s"
for f in "${failures[@]+"${failures[@]}"}"; do
	echo "  failed: $f"
	case $f in
	"vm "*) vm_report "$(echo "$f" | cut -d' ' -f2 | tr -d :)" ;;
	esac
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
