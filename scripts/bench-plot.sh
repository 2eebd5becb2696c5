#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Cost-growth plots from a benchmark run: the wait round with one active fd
# and the registration cost per fd, kqueue against epoll, over N registered
# pipes (log scale). Reads the "scale_wait" and "scale_register" rows of the
# JSON written by scripts/bench.sh (kqbench --only scale); needs no VM.
#
#   scripts/bench-plot.sh [JSON (build/bench.json)] [OUTDIR (doc)]
#
# Writes OUTDIR/bench-wait.svg and OUTDIR/bench-register.svg, or
# OUTDIR/bench-icount-wait.svg and OUTDIR/bench-icount-register.svg when the
# JSON comes from an --icount run; KQ_PLOT_FORMAT=png draws PNG files
# instead. Installs gnuplot (Debian's gnuplot-nox) with apt-get when it is
# missing.
set -euo pipefail
. "$(dirname "$0")/common.sh"
cd "$KQ_ROOT"

json=${1:-build/bench.json}
outdir=${2:-doc}
case ${KQ_PLOT_FORMAT:-svg} in
svg) ext=svg term='svg size 720,440 dynamic font "sans,13" background rgb "white"' ;;
png) ext=png term='pngcairo size 960,586 font "sans,13" background rgb "white"' ;;
*) die "KQ_PLOT_FORMAT must be svg or png" ;;
esac
[ -f "$json" ] || die "no $json: run scripts/bench.sh first"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v gnuplot >/dev/null; then
	log "bench-plot: apt packages: installing gnuplot-nox"
	as_root apt-get update -q
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends gnuplot-nox
fi

# The rows of one benchmark as "N kqueue native" lines, sorted by N. The
# JSON has one object per line, in kqbench's fixed key order.
rows() {
	sed -n -E 's/.*"name":"'"$1"'","params":\{"n":([0-9]+),.*"kqueue_median":([^,]*),"native_median":([^,]*),.*/\1 \2 \3/p' \
		"$json" | sort -n
}

machine() {
	sed -n -E 's/.*"machine":\{.*"'"$1"'":"([^"]*)".*/\1/p' "$json" | head -n1
}

mode=$(machine mode)
date=$(machine date)
kernel=$(machine guest_kernel)
if [ "$mode" = icount ]; then
	prefix=bench-icount
	how="QEMU TCG -icount $(machine icount) (instruction count)"
else
	prefix=bench
	how="QEMU TCG, wall-clock"
fi
sub="$how, 2 vCPUs, guest kernel ${kernel:-?}, ${date%%T*}; medians"

# plot NAME FILE YLABEL TITLE
plot() {
	local data out=$outdir/$prefix-$2.$ext
	data=$(rows "$1")
	if [ -z "$data" ]; then
		log "bench-plot: no $1 rows in $json (run kqbench with --only scale)"
		return 1
	fi
	mkdir -p "$outdir"
	gnuplot <<EOF
set terminal $term
set output "$out"
set title "$4\n{/*0.7 $sub}"
set logscale x 10
set format x "10^{%L}"
set xlabel "N: registered pipe read ends"
set ylabel "$3"
set yrange [0:*]
set grid
set key outside right top vertical
\$d << EOD
$data
EOD
plot \$d using 1:2 with linespoints lw 2 pt 7 lc rgb "#c0392b" title "kqueue", \
     \$d using 1:3 with linespoints lw 2 pt 5 lc rgb "#2471a3" title "epoll"
EOF
	log "bench-plot: $out"
}

rc=0
plot scale_wait wait "us per round" "Wait with N idle fds, K=1 active" || rc=1
plot scale_register register "ns per fd (add + delete)" \
	"Registration: N fds in one kevent() vs N epoll\\\\_ctl" || rc=1
exit $rc
