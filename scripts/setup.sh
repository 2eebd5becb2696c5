#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Install everything the kqueue module needs and build the test kernels.
#
#   scripts/setup.sh [fast|debug|all|none]...   (default: all)
#
# Steps, each skipped when its result is already cached under $KQ_CACHE:
#   1. apt packages (build tools, Debian's rustc-web 1.96 + rust-web-src,
#      clang/lld/llvm 22, QEMU, busybox-static);
#   2. bindgen-cli from crates.io, into the cache;
#   3. Debian's linux-source-7.3 from trixie-backports, fetched through a
#      private apt configuration (the machine's apt sources are not touched);
#   4. the kernel(s): tinyconfig + selftests/config (+ selftests/config.debug),
#      each in a build directory keyed by a hash of its configuration inputs.
set -euo pipefail
. "$(dirname "$0")/common.sh"

[ $# -gt 0 ] || set -- all

APT_PKGS="build-essential flex bison bc libelf-dev libssl-dev cpio kmod xz-utils
 busybox-static qemu-system-x86 rustc-web rust-web-src libstd-rust-web-dev
 rust-web-clippy rustfmt-web clang-22 lld-22 llvm-22 libclang-22-dev pkg-config mandoc man-db"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

step_apt() {
	local missing=()
	for p in $APT_PKGS; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		log "apt packages: all present"
		return
	fi
	log "apt packages: installing ${missing[*]}"
	as_root apt-get update -q
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "${missing[@]}"
}

step_bindgen() {
	if [ -x "$KQ_BINDGEN" ]; then
		log "bindgen: $("$KQ_BINDGEN" --version)"
		return
	fi
	log "bindgen: cargo install bindgen-cli $KQ_BINDGEN_VERSION (about 90 s)"
	cargo install --locked bindgen-cli --version "$KQ_BINDGEN_VERSION" \
		--root "$KQ_CACHE/bindgen-$KQ_BINDGEN_VERSION"
}

step_source() {
	if ls -d "$KQ_CACHE"/src/*/linux-source-7.3/Makefile >/dev/null 2>&1; then
		log "kernel source: $(kq_source_dir)"
		return
	fi
	local apt="$KQ_CACHE/apt"
	mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/etc" "$KQ_CACHE/debs"
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $KQ_KSUITE main" \
		>"$apt/etc/sources.list"
	local opts=(-o "Dir::Etc::sourcelist=$apt/etc/sources.list" -o "Dir::Etc::sourceparts=-"
		-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
		-o "APT::Get::List-Cleanup=0")
	log "kernel source: reading the $KQ_KSUITE package list (private apt configuration)"
	opts+=(-o "APT::Sandbox::User=root")
	apt-get "${opts[@]}" update -q
	local ver
	ver=$(apt-cache "${opts[@]}" show "$KQ_KPKG" | sed -n 's/^Version: //p' | sort -V | tail -n1)
	[ -n "$ver" ] || die "$KQ_KPKG not found in $KQ_KSUITE"
	log "kernel source: downloading $KQ_KPKG $ver (about 170 MB)"
	(cd "$KQ_CACHE/debs" && apt-get "${opts[@]}" download "$KQ_KPKG=$ver")
	local deb
	deb=$(ls "$KQ_CACHE"/debs/"${KQ_KPKG}"_*.deb | head -n1)
	local dst="$KQ_CACHE/src/$ver"
	rm -rf "$dst.tmp" && mkdir -p "$dst.tmp"
	log "kernel source: unpacking (about 30 s)"
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dst.tmp" --wildcards '*.tar.xz'
	tar -xJf "$dst.tmp"/usr/src/linux-source-7.3.tar.xz -C "$dst.tmp"
	rm -rf "$dst.tmp/usr"
	echo "$ver" >"$dst.tmp/VERSION"
	mv "$dst.tmp" "$dst"
	rm -f "$deb"
}

# Run a long command with its output in a log file, printing a progress line
# every 20 seconds. On failure, the end of the log is shown.
run_logged() {
	local logf=$1
	shift
	"$@" >"$logf" 2>&1 &
	local pid=$! t=0
	while kill -0 "$pid" 2>/dev/null; do
		sleep 2
		t=$((t + 2))
		if [ $((t % 20)) = 0 ]; then
			printf '    [%3ds] %s\n' "$t" "$(tail -n1 "$logf" | cut -c1-100)" >&2
		fi
	done
	if ! wait "$pid"; then
		tail -n 40 "$logf" >&2
		die "failed: $* (log: $logf)"
	fi
}

step_kernel() {
	local flavour=$1 src kdir
	src=$(kq_source_dir)
	kdir=$(kq_kernel_dir "$flavour")
	if [ -f "$kdir/.kq-built" ]; then
		log "kernel $flavour: cached at $kdir"
		return
	fi
	# shellcheck disable=SC2046
	local vars=($(kq_kmake_vars "$flavour"))
	local frags=("$KQ_ROOT/selftests/config")
	[ "$flavour" = debug ] && frags+=("$KQ_ROOT/selftests/config.debug")
	log "kernel $flavour: configuring in $kdir"
	rm -rf "$kdir" && mkdir -p "$kdir"
	make -s -C "$src" O="$kdir" "${vars[@]}" rustavailable
	make -s -C "$src" O="$kdir" "${vars[@]}" tinyconfig
	"$src/scripts/kconfig/merge_config.sh" -m -O "$kdir" "$kdir/.config" "${frags[@]}" >/dev/null
	make -s -C "$src" O="$kdir" "${vars[@]}" olddefconfig
	# Every fragment line must have survived olddefconfig (a silently
	# dropped option, e.g. CONFIG_RUST, would give a useless kernel).
	local bad=0 line
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=*) grep -qx -- "$line" "$kdir/.config" || { echo "  missing: $line" >&2; bad=1; } ;;
		"# CONFIG_"*" is not set")
			local opt=${line#\# }
			opt=${opt%% *}
			grep -q "^$opt=" "$kdir/.config" && { echo "  still set: $opt" >&2; bad=1; } ;;
		esac
	done < <(cat "${frags[@]}")
	[ $bad = 0 ] || die "kernel $flavour: configuration fragment not applied"
	log "kernel $flavour: building (fast: ~7 min, debug: ~10 min on 2 cores)"
	run_logged "$kdir/build.log" make -C "$src" O="$kdir" "${vars[@]}" -j"$(nproc)" all
	touch "$kdir/.kq-built"
	log "kernel $flavour: done, $(du -sh "$kdir/arch/x86/boot/bzImage" | cut -f1) bzImage"
}

mkdir -p "$KQ_CACHE"
# One setup at a time per cache: a second one waits instead of rebuilding the
# same kernel directory under the first one's feet.
exec 9>"$KQ_CACHE/.setup.lock"
if ! flock -n 9; then
	log "another setup is running on $KQ_CACHE; waiting for it"
	flock 9
fi
step_apt
step_bindgen
step_source
for want in "$@"; do
	case $want in
	fast | debug) step_kernel "$want" ;;
	all) step_kernel fast && step_kernel debug ;;
	none) ;;
	*) die "usage: $0 [fast|debug|all|none]..." ;;
	esac
done
