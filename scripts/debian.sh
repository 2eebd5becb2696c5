#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The module on Debian's own kernels (doc/debian.md): trixie-backports'
# linux-image-$KQ_DEB_ABI-amd64 and its PREEMPT_RT flavour -rt-amd64, booted
# unmodified in QEMU with the whole VM suite, and the DKMS install path.
#
#   scripts/debian.sh [all]                   setup, build, vm, dkms
#   scripts/debian.sh fetch [FLAVOUR]...      trixie chroot, packages, kernels
#                                             (network only; default: both)
#   scripts/debian.sh setup [FLAVOUR]...      fetch, then the Rust metadata
#   scripts/debian.sh build FLAVOUR           build/module-FLAVOUR/kqueue.ko
#   scripts/debian.sh vm FLAVOUR [run-vm.sh options, e.g. --results F --log F]
#   scripts/debian.sh dkms                    scripts/dkms/install.sh in the
#                                             chroot, its module in the VM
#   FLAVOUR: debian (KQ_DEB_ABI-amd64) or debian-rt (KQ_DEB_ABI-rt-amd64)
#
# Everything is cached under $KQ_CACHE/debian/: a trixie chroot (debootstrap,
# about 1 minute; its apt sources are trixie, -updates, -security and
# -backports; the machine's apt sources are not touched), the kernel images
# and the few modules the tests need by package version, and, inside the
# chroot's /var/cache/kqueue-linux, the prepared Rust metadata per kernel
# (scripts/dkms/kqueue-prepare-kernel: the kernel's exact rustc, bindgen and
# gcc, read from its headers' .config; about 5 minutes per kernel). Only the
# ABI name below is fixed; every version is derived from the packages.
set -euo pipefail
. "$(dirname "$0")/common.sh"
cd "$KQ_ROOT"

# The target: Debian's kernel ABI (package names linux-*-$KQ_DEB_ABI-FLAVOUR).
KQ_DEB_ABI=${KQ_DEB_ABI:-7.3.4+deb13}
KQ_DEB_SUITE=trixie
KQ_DEB_MIRROR=${KQ_DEB_MIRROR:-http://deb.debian.org/debian}
# Modules of Debian's kernel the tests need (ext2 images: ext4 driver, loop).
KQ_DEB_PRELOAD="ext4 loop"

droot_key=$(echo "1 $KQ_DEB_ABI $KQ_DEB_SUITE $KQ_DEB_MIRROR" | sha256sum | cut -c1-12)
DROOT=$KQ_CACHE/debian/trixie-$droot_key
DKERN=$KQ_CACHE/debian/kernels
prep=/kq/scripts/dkms/kqueue-prepare-kernel

krel_of() {
	case $1 in
	debian) echo "$KQ_DEB_ABI-amd64" ;;
	debian-rt) echo "$KQ_DEB_ABI-rt-amd64" ;;
	*) die "unknown flavour $1 (debian or debian-rt)" ;;
	esac
}

# in_root COMMAND...: run COMMAND in the chroot, with /proc, /dev and the
# repository at /kq, in a private mount namespace (nothing to clean up).
in_root() {
	unshare -m --propagation private -- bash -c '
		r=$1 repo=$2
		shift 2
		mount -t proc proc "$r/proc"
		mount --rbind /dev "$r/dev"
		mkdir -p "$r/kq"
		mount --bind "$repo" "$r/kq"
		exec chroot "$r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
			HOME=/root LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
	' in_root "$DROOT" "$KQ_ROOT" "$@"
}

apt_in_root() {
	in_root apt-get -y -q -o Dpkg::Use-Pty=0 --no-install-recommends "$@"
}

# ------------------------------------------------------------------ setup

# debootstrap: the host's, or trixie's from a private apt download (no host
# package install, so this can run beside scripts/setup.sh's apt).
DEBOOTSTRAP=debootstrap
step_debootstrap() {
	command -v debootstrap >/dev/null && return
	local d=$KQ_CACHE/debian/debootstrap
	if [ ! -x "$d/usr/sbin/debootstrap" ]; then
		local apt=$KQ_CACHE/debian/apt
		mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/etc" "$apt/deb"
		echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $KQ_DEB_MIRROR $KQ_DEB_SUITE main" \
			>"$apt/etc/sources.list"
		local opts=(-o "Dir::Etc::sourcelist=$apt/etc/sources.list" -o "Dir::Etc::sourceparts=-"
			-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
			-o "APT::Get::List-Cleanup=0" -o "APT::Sandbox::User=root")
		log "debian: debootstrap from $KQ_DEB_SUITE (private apt configuration)"
		apt-get "${opts[@]}" update -q >/dev/null
		(cd "$apt/deb" && rm -f ./*.deb && apt-get "${opts[@]}" download -q debootstrap >/dev/null)
		rm -rf "$d" && dpkg-deb -x "$apt"/deb/debootstrap_*.deb "$d"
	fi
	DEBOOTSTRAP="env DEBOOTSTRAP_DIR=$d/usr/share/debootstrap $d/usr/sbin/debootstrap"
}

step_root() {
	if [ ! -f "$DROOT/.kq-debootstrap" ]; then
		step_debootstrap
		log "debian: debootstrap $KQ_DEB_SUITE into $DROOT (about 1 minute)"
		rm -rf "$DROOT" && mkdir -p "$DROOT"
		$DEBOOTSTRAP --variant=minbase --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
			"$KQ_DEB_SUITE" "$DROOT" "$KQ_DEB_MIRROR" \
			>"$DROOT.debootstrap.log" 2>&1 ||
			{ tail -n 20 "$DROOT.debootstrap.log" >&2; die "debootstrap failed (log: $DROOT.debootstrap.log)"; }
		cat >"$DROOT/etc/apt/sources.list" <<EOF
deb $KQ_DEB_MIRROR $KQ_DEB_SUITE main
deb $KQ_DEB_MIRROR $KQ_DEB_SUITE-updates main
deb ${KQ_DEB_MIRROR%/debian}/debian-security $KQ_DEB_SUITE-security main
deb $KQ_DEB_MIRROR $KQ_DEB_SUITE-backports main
EOF
		# No man pages, docs or locales in the chroot.
		cat >"$DROOT/etc/dpkg/dpkg.cfg.d/kq-nodoc" <<'EOF'
path-exclude=/usr/share/doc/*
path-exclude=/usr/share/man/*
path-exclude=/usr/share/locale/*
EOF
		touch "$DROOT/.kq-debootstrap"
	fi
	# The packages: both kernels' headers, then the exact toolchain their
	# .config names (kqueue-prepare-kernel --print-deps), then dkms. apt
	# runs only when something is missing.
	local krels=() f
	for f in debian debian-rt; do krels+=("$(krel_of "$f")"); done
	local want=(dkms) spec k
	for k in "${krels[@]}"; do want+=("linux-headers-$k"); done
	if [ -f "$DROOT/.kq-ready" ] && in_root dpkg-query -W "${want[@]}" >/dev/null 2>&1; then
		for k in "${krels[@]}"; do
			spec=$(in_root bash "$prep" --print-deps "$k") || die "debian: cannot resolve the toolchain of $k"
			if ! all_installed $spec; then
				rm -f "$DROOT/.kq-ready"
				break
			fi
		done
	fi
	[ -f "$DROOT/.kq-ready" ] && return
	log "debian: apt in the chroot: ${want[*]}"
	in_root apt-get update -q >/dev/null
	apt_in_root install "${want[@]}" >"$DROOT.apt.log" 2>&1 ||
		{ tail -n 20 "$DROOT.apt.log" >&2; die "debian: apt-get install ${want[*]} failed in the chroot"; }
	for k in "${krels[@]}"; do
		# Precise failure (no such rustc/bindgen/gcc) comes from --print-deps.
		spec=$(in_root bash "$prep" --print-deps "$k") || die "debian: the distribution lacks the toolchain of $k (above)"
		log "debian: toolchain of $k: $spec"
		# shellcheck disable=SC2086
		apt_in_root install $spec >>"$DROOT.apt.log" 2>&1 ||
			{ tail -n 20 "$DROOT.apt.log" >&2; die "debian: apt-get install $spec failed in the chroot"; }
	done
	in_root apt-get clean
	touch "$DROOT/.kq-ready"
}

# all_installed PKG[=VERSION]...: each is installed in the chroot (at VERSION).
all_installed() {
	local names=() s have
	for s in "$@"; do names+=("${s%%=*}"); done
	have=$(in_root dpkg-query -W -f='${Package} ${Version} ${db:Status-Abbrev}\n' "${names[@]}" 2>/dev/null) ||
		return 1
	for s in "$@"; do
		awk -v p="${s%%=*}" -v v="${s#*=}" -v any="$([ "$s" = "${s%%=*}" ] && echo 1)" \
			'$1 == p && $3 == "ii" && (any || $2 == v) { ok = 1 } END { exit !ok }' <<<"$have" ||
			return 1
	done
}

# The kernel image and the preloaded modules of one flavour, by package version.
kernel_dir() {
	local krel=$1 ver
	ver=$(in_root dpkg-query -W -f='${Version}' "linux-headers-$krel")
	echo "$DKERN/$krel-$ver"
}

step_kernel() {
	local krel=$1 kd ver
	kd=$(kernel_dir "$krel")
	[ -f "$kd/.kq-ready" ] && return
	ver=${kd##*/"$krel"-}
	log "debian: kernel $krel $ver: linux-binary and linux-modules (about 120 MB)"
	rm -rf "$kd" && mkdir -p "$kd"
	local dl=$DROOT/var/cache/kq-debs
	rm -rf "$dl" && mkdir -p "$dl"
	in_root sh -c "cd /var/cache/kq-debs && apt-get download -q linux-binary-$krel=$ver linux-modules-$krel=$ver" \
		>"$kd.download.log" 2>&1 || { cat "$kd.download.log" >&2; die "debian: download of $krel $ver failed"; }
	# Unpacked inside the chroot: its kmod and xz read the modules (the host
	# may be installing its own packages while this runs).
	local x=$dl/x
	mkdir -p "$x"
	dpkg-deb -x "$dl"/linux-binary-"$krel"_*.deb "$x"
	cp "$x/usr/lib/modules/$krel/vmlinuz" "$kd/vmlinuz" 2>/dev/null ||
		cp "$x/boot/vmlinuz-$krel" "$kd/vmlinuz" || die "debian: no vmlinuz in linux-binary-$krel"
	dpkg-deb -x "$dl"/linux-modules-"$krel"_*.deb "$x"
	local mdir
	mdir=$(find "$x" -type d -path "*/modules/$krel" | head -n1)
	[ -n "$mdir" ] || die "debian: no modules/$krel in linux-modules-$krel"
	# linux-modules has no modules.dep (depmod runs at install): each wanted
	# module after its dependencies, from modinfo's depends field.
	declare -A modpath=()
	local f n
	while IFS= read -r f; do
		n=${f##*/}
		n=${n%%.ko*}
		modpath[${n//-/_}]=$f
	done < <(find "$mdir" -name '*.ko*')
	mkdir -p "$kd/preload"
	local order=() seen=" "
	add_mod() {
		local name=${1//-/_} d
		case $seen in *" $name "*) return ;; esac
		[ -n "${modpath[$name]:-}" ] || die "debian: module $name not in linux-modules-$krel"
		seen+="$name "
		for d in $(in_root modinfo -F depends "${modpath[$name]#"$DROOT"}" | tr ',' ' '); do add_mod "$d"; done
		order+=("${modpath[$name]}")
	}
	local m path
	for m in $KQ_DEB_PRELOAD; do add_mod "$m"; done
	local i=10 name
	for path in "${order[@]}"; do
		name=$(basename "$path")
		case $name in
		*.xz) in_root xz -dc "${path#"$DROOT"}" >"$kd/preload/$i-${name%.xz}" ;;
		*.zst) in_root zstd -qdc "${path#"$DROOT"}" >"$kd/preload/$i-${name%.zst}" ;;
		*.gz) in_root gzip -dc "${path#"$DROOT"}" >"$kd/preload/$i-${name%.gz}" ;;
		*) cp "$path" "$kd/preload/$i-$name" ;;
		esac
		i=$((i + 1))
	done
	rm -rf "$dl"
	echo "$ver" >"$kd/VERSION"
	touch "$kd/.kq-ready"
	log "debian: kernel $krel: $(du -h "$kd/vmlinuz" | cut -f1) vmlinuz; preload: $(ls "$kd/preload" | tr '\n' ' ')"
}

step_tree() {
	local krel=$1
	in_root bash "$prep" --jobs 2 --keep-work "$krel" >/dev/null
}

# fetch: everything from the network (chroot, packages, kernels); setup: also
# the Rust metadata (CPU). Both hold the cache lock, so a setup started while
# a fetch runs (make check starts the fetch early) waits for it.
cmd_fetch() {
	[ $# -gt 0 ] || set -- debian debian-rt
	mkdir -p "$KQ_CACHE/debian"
	exec 7>"$KQ_CACHE/debian/.lock"
	flock 7
	step_root
	local f
	for f in "$@"; do step_kernel "$(krel_of "$f")"; done
}

cmd_setup() {
	[ $# -gt 0 ] || set -- debian debian-rt
	cmd_fetch "$@"
	local f
	for f in "$@"; do step_tree "$(krel_of "$f")"; done
	exec 7>&-
}

# ------------------------------------------------------------------ build

cmd_build() {
	local flavour=${1:?usage: $0 build debian|debian-rt} krel tree out logf
	krel=$(krel_of "$flavour")
	[ -f "$DROOT/.kq-ready" ] || die "no trixie chroot; run $0 setup"
	tree=$(in_root bash "$prep" "$krel" | tail -n1)
	out=build/module-$flavour
	rm -rf "$out" && mkdir -p "$out"
	logf=$out/build.log
	log "module ($flavour, $krel): building in the trixie chroot"
	if ! in_root sh -c "make -C '$tree' M=/kq MO=/kq/$out \$(cat '$tree/kq-make-vars') modules" >"$logf" 2>&1; then
		cat "$logf" >&2
		die "module build failed ($flavour)"
	fi
	if grep -q -E '^(warning|error)' "$logf"; then
		cat "$logf" >&2
		die "module build has warnings ($flavour)"
	fi
	local vm
	vm=$(/sbin/modinfo -F vermagic "$out/kqueue.ko")
	case $vm in "$krel "*) ;; *) die "kqueue.ko ($flavour) has vermagic '$vm', not $krel" ;; esac
}

# ------------------------------------------------------------------ VM

# The programs the VM runs besides the selftests, as check.sh builds them.
need_test_programs() {
	[ -d selftests/build ] || make -s -C selftests
	[ -x userspace-lib/build/kqdemo ] || make -s -C userspace-lib all
	[ -x build/rust-vm/rust_integration ] || userspace-lib/rust/build-vm-tests.sh build/rust-vm
}

cmd_vm() {
	local flavour=${1:?usage: $0 vm debian|debian-rt [run-vm.sh options]} krel kd extra rc=0
	shift
	krel=$(krel_of "$flavour")
	kd=$(kernel_dir "$krel")
	[ -f "$kd/.kq-ready" ] || die "kernel $krel not downloaded; run $0 setup $flavour"
	[ -f "build/module-$flavour/kqueue.ko" ] || die "no build/module-$flavour/kqueue.ko; run $0 build $flavour"
	need_test_programs
	extra=$(mktemp -d)
	cp userspace-lib/build/kqdemo build/rust-vm/rust_integration build/rust-vm/watch "$extra/"
	# As check.sh's run_vm, on Debian's kernel: its ext4/loop modules first,
	# no KUnit (Debian's kernels have none). Single-threaded TCG: Debian's
	# kernels patch static branches and static calls (tracepoints the module
	# registers and unregisters), and under multi-threaded TCG the other vCPU
	# can run the stale text, an int3 Oops (selftests/vm/README.md).
	selftests/vm/run-vm.sh --name "$flavour" --quiet --tcg-single \
		--kernel "$kd/vmlinuz" \
		--preload "$kd/preload" --no-kunit \
		--module "build/module-$flavour/kqueue.ko" \
		--module-args "$KQ_TEST_MODULE_ARGS" \
		--tests selftests/build \
		--extra "$extra" \
		--cmd "./kqdemo && KQ_REQUIRE_DEVICE=1 ./rust_integration --test-threads=1 && ./watch" \
		--log "build/vm-$flavour.log" --timeout 1500 "$@" || rc=$?
	rm -rf "$extra"
	return $rc
}

# ------------------------------------------------------------------ DKMS

# The user's install path (scripts/dkms/install.sh, what `make dkms` runs) in
# the chroot for the amd64 kernel, then the module DKMS installed, loaded on
# that kernel in the VM with the demo.
cmd_dkms() {
	local flavour=debian krel kd ver ko out rc=0
	krel=$(krel_of "$flavour")
	kd=$(kernel_dir "$krel")
	[ -f "$kd/.kq-ready" ] || die "kernel $krel not downloaded; run $0 setup"
	ver="0.1~git$(git log -1 --date=format:%Y%m%d --format=%cd.%h 2>/dev/null || echo local)"
	out=build/dkms
	rm -rf "$out" && mkdir -p "$out"
	log "dkms: scripts/dkms/install.sh --kernel $krel in the chroot (kqueue/$ver)"
	if ! in_root env KQ_DKMS_VERSION="$ver" bash /kq/scripts/dkms/install.sh --kernel "$krel" --no-load \
		>"$out/install.log" 2>&1; then
		cat "$out/install.log" >&2
		cat "$DROOT/var/lib/dkms/kqueue/$ver/build/make.log" >&2 2>/dev/null || true
		die "dkms install failed"
	fi
	ko=$(ls "$DROOT/lib/modules/$krel/updates/dkms/"kqueue.ko* 2>/dev/null | head -n1)
	[ -n "$ko" ] || die "dkms installed no kqueue.ko* in /lib/modules/$krel/updates/dkms"
	case $ko in
	*.xz) xz -dc "$ko" >"$out/kqueue.ko" ;;
	*.zst) zstd -qdc "$ko" >"$out/kqueue.ko" ;;
	*) cp "$ko" "$out/kqueue.ko" ;;
	esac
	grep -qx kqueue "$DROOT/etc/modules-load.d/kqueue.conf" || die "no /etc/modules-load.d/kqueue.conf"
	grep -q 'MODE="0666"' "$DROOT/etc/udev/rules.d/60-kqueue.rules" || die "no udev rule"
	log "dkms: installed $(basename "$ko") ($(/sbin/modinfo -F vermagic "$out/kqueue.ko")); loading it in the VM"
	local extra
	extra=$(mktemp -d)
	cp userspace-lib/build/kqdemo "$extra/"
	selftests/vm/run-vm.sh --name dkms --quiet --tcg-single --kernel "$kd/vmlinuz" --no-kunit \
		--module "$out/kqueue.ko" --extra "$extra" --cmd "./kqdemo" \
		--log build/vm-dkms.log --timeout 300 || rc=$?
	rm -rf "$extra"
	return $rc
}

cmd=${1:-all}
[ $# = 0 ] || shift
case $cmd in
fetch) cmd_fetch "$@" ;;
setup) cmd_setup "$@" ;;
build) cmd_build "$@" ;;
vm) cmd_vm "$@" ;;
dkms) cmd_dkms ;;
all)
	t0=$(date +%s)
	cmd_setup
	rc=0
	for f in debian debian-rt; do
		cmd_build "$f" && cmd_vm "$f" || rc=1
	done
	cmd_dkms || rc=1
	log "debian: done in $(($(date +%s) - t0)) s"
	exit $rc
	;;
*) die "usage: $0 [all|fetch|setup [FLAVOUR]...|build FLAVOUR|vm FLAVOUR [options]|dkms]" ;;
esac
