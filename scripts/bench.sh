#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Benchmarks: kqueue against the native Linux equivalent (epoll, eventfd,
# timerfd) on the fast kernel in QEMU (TCG: slow in absolute terms, compare
# the ratios). See selftests/bench/kqbench.c for what each benchmark does.
#
#   scripts/bench.sh [--smoke] [--icount] [-- KQBENCH-ARGS...]
#
# Writes the guest log to build/bench.log, the results to build/bench.json (a
# JSON array: one object per benchmark plus a "machine" object) and prints a
# Markdown table. A slow number never fails; the script fails only if the
# program crashes or reports no results.
#
# Two modes, recorded in the JSON's "machine" object and under the table:
#   wall-clock (default): multi-threaded TCG, guest time is host time; fast,
#       but the figures move with the host's load from boot to boot.
#   --icount: QEMU's -icount $KQ_BENCH_ICOUNT (default shift=0,sleep=off):
#       guest time follows the number of instructions executed, so the
#       figures repeat from boot to boot whatever the host does. One host
#       thread runs both vCPUs. Results go to build/bench-icount.{log,json}.
#
# A run with the "scale" rows also draws the cost-growth plots
# (scripts/bench-plot.sh; rerun it on its own to redraw from the JSON): into
# doc/ after a full default run, into build/ after one with KQBENCH-ARGS, so
# that a partial run never replaces the committed plots. --smoke never plots.
set -euo pipefail
. "$(dirname "$0")/common.sh"
cd "$KQ_ROOT"

smoke=0 icount=''
args=()
while [ $# -gt 0 ]; do
	case $1 in
	--smoke) smoke=1; args+=(--smoke) ;;
	--icount) icount=${KQ_BENCH_ICOUNT:-shift=0,sleep=off} ;;
	--) shift; args+=("$@"); break ;;
	*) die "usage: $0 [--smoke] [--icount] [-- KQBENCH-ARGS...]" ;;
	esac
	shift
done
if [ "$smoke" = 1 ]; then
	name=bench-smoke timeout=300 memory=1024
else
	name=bench timeout=1800 memory=2048
fi
vmopts=()
mode=wall-clock
if [ -n "$icount" ]; then
	# One host thread for both vCPUs, and counting costs: allow more time.
	name=$name-icount timeout=$((timeout * 3)) mode=icount
	vmopts=(--icount "$icount")
fi
logf=build/$name.log
json=build/$name.json

start=$(date +%s)
scripts/setup.sh fast
scripts/build.sh fast
log "C library and kqbench"
make -s -C userspace-lib all
make -s -C selftests/bench O="$KQ_ROOT/build/bench"

extra=$(mktemp -d)
trap 'rm -rf "$extra"' EXIT
cp build/bench/kqbench "$extra/"
# A private copy: a concurrent build may replace build/module-fast/kqueue.ko.
mkdir "$extra/module"
cp build/module-fast/kqueue.ko "$extra/module/kqueue.ko"
mkdir "$extra/run"
mv "$extra/kqbench" "$extra/run/"

log "booting the VM: kqbench ${args[*]:-}"
vmrc=0
KQ_ALLOW_NO_TESTS=1 selftests/vm/run-vm.sh --name "$name" --quiet \
	--kernel "$(kq_kernel_dir fast)/arch/x86/boot/bzImage" \
	--module "$extra/module/kqueue.ko" --memory "$memory" \
	--extra "$extra/run" --cmd "./kqbench ${args[*]:-}" \
	--log "$logf" --timeout "$timeout" "${vmopts[@]}" || vmrc=$?

lines=$(grep -a '^KQBENCH {' "$logf" | sed 's/^KQBENCH //' || true)
[ -n "$lines" ] || die "kqbench printed no results (VM rc=$vmrc, log $logf)"

guest_kernel=$(grep -a -m1 -o "^# kqbench[^:]*: .*, kernel [^ ]*" "$logf" | sed "s/.*kernel //" || true)
cpu=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//; s/\\/\\\\/g; s/"/\\"/g')
{
	echo "["
	printf '{"machine":{"guest_kernel":"%s","host_cpu":"%s","host_cpus":%s,"vcpus":2,"kvm":false,"date":"%s","smoke":%s,"mode":"%s","icount":"%s","kqbench_args":"%s"}}' \
		"$guest_kernel" "$cpu" "$(nproc)" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
		"$([ "$smoke" = 1 ] && echo true || echo false)" "$mode" "$icount" "${args[*]:-}"
	printf '%s\n' "$lines" | sed 's/^/,\n/'
	echo "]"
} | sed '/^,$/{N;s/\n//}' >"$json"

echo
echo "| benchmark | params | kqueue | native | unit | ratio (kq/native) | better |"
echo "|---|---|---:|---:|---|---:|---|"
printf '%s\n' "$lines" | sed -E \
	-e 's/^\{"name":"([^"]*)","params":\{(.*)\},"kqueue_median":([^,]*),"native_median":([^,]*),"unit":"([^"]*)","ratio":([^,]*),"better":"([^"]*)".*/| \1 | \2 | \3 | \4 | \5 | \6 | \7 |/' \
	-e 's/"//g'
echo
if [ "$mode" = icount ]; then
	modetxt="TCG with -icount $icount (guest time = instruction count; one host thread)"
else
	modetxt="TCG, wall-clock (multi-threaded TCG, guest time = host time)"
fi
echo "mode: $modetxt; guest kernel $guest_kernel, host $cpu ($(nproc) CPUs), 2 vCPUs; $json; $(($(date +%s) - start)) s"

# The program must have finished: a crash or a timeout fails the run even
# though some results were printed. A slow number never does.
grep -a -q '^# kqbench: [0-9]* results' "$logf" || die "kqbench did not finish (VM rc=$vmrc, log $logf)"
[ "$vmrc" = 0 ] || die "VM run failed (rc=$vmrc, log $logf)"

# The cost-growth plots, from the "scale" rows (the smoke run never plots,
# so that make check needs no plot tool).
if [ "$smoke" = 0 ] && grep -q '"name":"scale_' "$json"; then
	if [ ${#args[@]} -eq 0 ]; then
		scripts/bench-plot.sh "$json" doc
	else
		scripts/bench-plot.sh "$json" build
	fi
fi
