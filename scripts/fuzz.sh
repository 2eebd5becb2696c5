#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The fuzzer (selftests/fuzz/kqfuzz.c, see selftests/fuzz/README.md) in the
# test VM: one boot, the module loaded, kqfuzz as root with an unprivileged
# child, then the runner's rmmod, kmemleak and kernel-log checks.
#
#   scripts/fuzz.sh [--kernel fast|debug] [--seconds N] [--seed S] [--threads T]
#                   [--regressions SECONDS] [--module KO] [--slab-margin KB]
#                   [--log FILE] [-- KQFUZZ-OPTIONS...]
#
#   --kernel         test kernel (default debug)
#   --seconds        length of the random run (default 120)
#   --seed           its seed (default: random, printed so that a run can be repeated)
#   --threads        ioctl threads (default 4; the unprivileged child gets half)
#   --regressions S  first run every seed listed in selftests/fuzz/seeds for S
#                    seconds (at most the seconds the list gives it); 0: none (default)
#   --module         a module to test instead of build/module-KERNEL/kqueue.ko (not rebuilt)
#   --slab-margin    growth of SUnreclaim (kB) that fails the random run (default: 1536
#                    on the fast kernel, 6144 on the debug kernel; see
#                    selftests/fuzz/README.md); -1: not gated
#   --log            guest console log (default build/fuzz-KERNEL.log)
#
# Exit status 0 if every run passed and the VM saw no kernel report.
set -euo pipefail
. "$(dirname "$0")/common.sh"
cd "$KQ_ROOT"

usage() { sed -n '3,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; }

flavour=debug seconds=120 seed='' threads=4 regress=0 module='' margin='' logf=''
extra_args=()
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) flavour=${2:?}; shift ;;
	--seconds) seconds=${2:?}; shift ;;
	--seed) seed=${2:?}; shift ;;
	--threads) threads=${2:?}; shift ;;
	--regressions) regress=${2:?}; shift ;;
	--module) module=${2:?}; shift ;;
	--slab-margin) margin=${2:?}; shift ;;
	--log) logf=${2:?}; shift ;;
	-h | --help) usage; exit 0 ;;
	--) shift; extra_args=("$@"); break ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done
case $flavour in fast | debug) ;; *) die "--kernel must be fast or debug" ;; esac
[[ $seconds =~ ^[0-9]+$ ]] || die "--seconds must be a number"
[[ $regress =~ ^[0-9]+$ ]] || die "--regressions must be a number"
if [ -z "$seed" ]; then
	seed=$(($(od -An -N6 -tu8 /dev/urandom | tr -d ' ') % 1000000000000))
fi
[[ $seed =~ ^[0-9]+$ ]] || die "--seed must be a number"
if [ -z "$margin" ]; then
	margin=1536
	[ "$flavour" = debug ] && margin=6144
fi
logf=${logf:-build/fuzz-$flavour.log}

kdir=$(kq_kernel_dir "$flavour")
[ -f "$kdir/.kq-built" ] || die "kernel $flavour not built; run scripts/setup.sh $flavour"
mkdir -p build
if [ -z "$module" ]; then
	scripts/build.sh "$flavour"
	module=build/module-$flavour/kqueue.ko
fi
[ -f "$module" ] || die "no module at $module"
log "C library and kqfuzz"
make -s -C userspace-lib all
make -s -C selftests/fuzz O="$KQ_ROOT/build/fuzz"

extra=$(mktemp -d)
trap 'rm -rf "$extra"' EXIT
# Private copies: a concurrent build may replace the module or the program.
mkdir "$extra/module" "$extra/run"
cp "$module" "$extra/module/kqueue.ko"
cp build/fuzz/kqfuzz "$extra/run/"

# The guest command: the regression seeds, then the random run; every run
# happens, the first failure decides the status.
common="--unprivileged --threads $threads ${extra_args[*]:-}"
# A lockup, stall or hung task panics the guest at once (the debug kernel has
# the detectors) instead of leaving the VM to its timeout.
cmd="for f in softlockup_panic hardlockup_panic hung_task_panic panic_on_rcu_stall;"
cmd+=" do [ -w /proc/sys/kernel/\$f ] && echo 1 >/proc/sys/kernel/\$f; done; rc=0"
total=$seconds
nreg=0
if [ "$regress" -gt 0 ] && [ -f selftests/fuzz/seeds ]; then
	while read -r s secs opts; do
		[ "$secs" -gt "$regress" ] && secs=$regress
		# Short: no slab measurement, no limit check (the last run's covers them all).
		cmd+="; ./kqfuzz --seed $s --seconds $secs --settle 0 $common ${opts} --disable limits || rc=1"
		total=$((total + secs))
		nreg=$((nreg + 1))
	done < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' selftests/fuzz/seeds)
fi
cmd+="; ./kqfuzz --seed $seed --seconds $seconds --slab-margin $margin $common || rc=1; exit \$rc"

# Boot and KUnit (up to 2 min on a busy machine), each run's setup and
# checks (the last one's slab settling and limit check take about a minute
# on the debug kernel), rmmod and kmemleak, with room for a slow machine.
# The fast kernel has no lockup detector: a hang ends only at the timeout.
if [ "$flavour" = debug ]; then
	timeout=$((2 * total + 600 + 60 * nreg))
else
	timeout=$((total + 180 + 20 * nreg))
fi
log "fuzzing on the $flavour kernel: ${nreg} regression seed(s), then seed $seed for $seconds s (VM timeout $timeout s)"
vmrc=0
selftests/vm/run-vm.sh --name "fuzz-$flavour" --quiet \
	--kernel "$kdir/arch/x86/boot/bzImage" --module "$extra/module/kqueue.ko" \
	--extra "$extra/run" --cmd "$cmd" --log "$logf" --timeout "$timeout" || vmrc=$?

# What kqfuzz said (the runner shows it only when the command failed).
if [ "$vmrc" = 0 ]; then
	sed -n '/KQVM-CMD-BEGIN/,/KQVM-CMD-END/p' "$logf" |
		grep -a -E '^(kqfuzz|KQFUZZ-)' | grep -a -v -E '^kqfuzz: +[0-9]+s: ' || true
fi
results=$(grep -a '^KQFUZZ-RESULT' "$logf" || true)
ioctls=0
while read -r line; do
	[ -n "$line" ] || continue
	n=${line#*ioctls=}
	ioctls=$((ioctls + ${n%% *}))
done <<<"$results"
echo "fuzz ($flavour): $(printf '%s\n' "$results" | grep -c . || true) run(s), $ioctls ioctls in total; log $logf"
if [ "$vmrc" != 0 ]; then
	echo "fuzz ($flavour): FAILED (repeat the random run with: scripts/fuzz.sh --kernel $flavour --seed $seed --seconds $seconds${extra_args[*]:+ -- ${extra_args[*]}})" >&2
	exit 1
fi
echo "fuzz ($flavour): PASS"
