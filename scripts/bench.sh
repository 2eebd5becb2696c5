#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Benchmarks: kqueue against the native Linux equivalent (epoll, eventfd,
# timerfd) on the fast kernel in QEMU (TCG: slow in absolute terms, compare
# the ratios). See selftests/bench/kqbench.c for what each benchmark does.
#
#   scripts/bench.sh [--smoke] [-- KQBENCH-ARGS...]
#
# Writes the guest log to build/bench.log, the results to build/bench.json (a
# JSON array: one object per benchmark plus a "machine" object) and prints a
# Markdown table. A slow number never fails; the script fails only if the
# program crashes or reports no results.
set -euo pipefail
. "$(dirname "$0")/common.sh"
cd "$KQ_ROOT"

smoke=0
args=()
while [ $# -gt 0 ]; do
	case $1 in
	--smoke) smoke=1; args+=(--smoke) ;;
	--) shift; args+=("$@"); break ;;
	*) die "usage: $0 [--smoke] [-- KQBENCH-ARGS...]" ;;
	esac
	shift
done
if [ "$smoke" = 1 ]; then
	name=bench-smoke timeout=300 memory=1024
else
	name=bench timeout=1200 memory=2048
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
	--log "$logf" --timeout "$timeout" || vmrc=$?

lines=$(grep -a '^KQBENCH {' "$logf" | sed 's/^KQBENCH //' || true)
[ -n "$lines" ] || die "kqbench printed no results (VM rc=$vmrc, log $logf)"

guest_kernel=$(grep -a -m1 -o "^# kqbench[^:]*: .*, kernel [^ ]*" "$logf" | sed "s/.*kernel //" || true)
cpu=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//; s/\\/\\\\/g; s/"/\\"/g')
{
	echo "["
	printf '{"machine":{"guest_kernel":"%s","host_cpu":"%s","host_cpus":%s,"vcpus":2,"kvm":false,"date":"%s","smoke":%s}}' \
		"$guest_kernel" "$cpu" "$(nproc)" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
		"$([ "$smoke" = 1 ] && echo true || echo false)"
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
echo "guest kernel $guest_kernel, host $cpu ($(nproc) CPUs), TCG, 2 vCPUs; $json; $(($(date +%s) - start)) s"

# The program must have finished: a crash or a timeout fails the run even
# though some results were printed. A slow number never does.
grep -a -q '^# kqbench: [0-9]* results' "$logf" || die "kqbench did not finish (VM rc=$vmrc, log $logf)"
[ "$vmrc" = 0 ] || die "VM run failed (rc=$vmrc, log $logf)"
