#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Install the kqueue module with DKMS on Debian (`make dkms`; doc/debian.md).
#
#   scripts/dkms/install.sh [--kernel KERNELRELEASE]... [--no-deps] [--no-load]
#   scripts/dkms/install.sh --uninstall
#
# 1. apt-get installs what is missing: dkms, the kernel's headers, the
#    linux-source of the same version and the exact rustc, rust-src, bindgen
#    and gcc the kernel was built with (read from the headers' .config);
# 2. copies the module's sources with scripts/dkms/dkms.conf to
#    /usr/src/kqueue-VERSION/ and runs `dkms install` for each kernel (default:
#    the running one). DKMS builds through scripts/dkms/dkms-build, which
#    prepares the kernel's Rust metadata once (about 5 minutes on 2 cores,
#    cached per kernel under /var/cache/kqueue-linux) and builds the module;
#    on later kernel updates DKMS rebuilds it by itself (AUTOINSTALL);
# 3. /etc/modules-load.d/kqueue.conf loads it at boot, and
#    /etc/udev/rules.d/60-kqueue.rules gives /dev/kqueue mode 0666;
# 4. loads it now (modprobe) when the running kernel is among the kernels.
#
# Environment: KQ_DKMS_VERSION overrides the version (default: from git).
set -euo pipefail

prog=${0##*/}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf '%s: error: %s\n' "$prog" "$*" >&2; exit 1; }

kernels=() deps=1 load=1 uninstall=0
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) kernels+=("$2"); shift 2 ;;
	--no-deps) deps=0; shift ;;
	--no-load) load=0; shift ;;
	--uninstall) uninstall=1; shift ;;
	-h | --help) sed -n '3,/^set -/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
done
[ ${#kernels[@]} -gt 0 ] || kernels=("$(uname -r)")
[ "$(id -u)" = 0 ] || die "run as root (sudo make dkms)"

modload=/etc/modules-load.d/kqueue.conf
udevrule=/etc/udev/rules.d/60-kqueue.rules

installed_versions() {
	command -v dkms >/dev/null || return 0
	# "kqueue/VERSION, 7.3.4+deb13-amd64, x86_64: installed" or "kqueue/VERSION: added"
	dkms status -m kqueue 2>/dev/null | sed -n 's|^kqueue/\([^,:]*\).*|\1|p' | sort -u
}

if [ "$uninstall" = 1 ]; then
	for v in $(installed_versions); do
		say "dkms remove kqueue/$v"
		dkms remove -m kqueue -v "$v" --all || true
		rm -rf "/usr/src/kqueue-$v"
	done
	modprobe -r kqueue 2>/dev/null || true
	rm -f "$modload" "$udevrule"
	say "removed (the prepared kernel trees stay in /var/cache/kqueue-linux; delete it to free the space)"
	exit 0
fi

version=${KQ_DKMS_VERSION:-}
if [ -z "$version" ]; then
	# (sudo: the checkout belongs to another user)
	g=(git -c "safe.directory=$root" -C "$root")
	if "${g[@]}" rev-parse --git-dir >/dev/null 2>&1; then
		version="0.1~git$("${g[@]}" log -1 --date=format:%Y%m%d --format=%cd.%h)"
		"${g[@]}" diff --quiet HEAD -- Kbuild rust include 2>/dev/null || version+="~dirty"
	else
		version=0.1~local
	fi
fi

if [ "$deps" = 1 ]; then
	say "apt: dkms and the headers of ${kernels[*]}"
	pkgs=(dkms)
	for k in "${kernels[@]}"; do pkgs+=("linux-headers-$k"); done
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}" ||
		die "apt-get install ${pkgs[*]} failed (the backports kernel needs trixie-backports in the apt sources)"
	for k in "${kernels[@]}"; do
		spec=$(bash "$root/scripts/dkms/kqueue-prepare-kernel" --print-deps "$k")
		say "apt: the toolchain of $k: $spec"
		# shellcheck disable=SC2086
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $spec ||
			die "apt-get install failed for the toolchain of $k"
	done
fi
command -v dkms >/dev/null || die "dkms is not installed (apt-get install dkms)"

# Older versions first: one kqueue module per kernel.
for v in $(installed_versions); do
	say "dkms remove kqueue/$v (replaced by $version)"
	dkms remove -m kqueue -v "$v" --all || true
	[ "$v" = "$version" ] || rm -rf "/usr/src/kqueue-$v"
done

dst=/usr/src/kqueue-$version
say "sources: $dst"
rm -rf "$dst"
mkdir -p "$dst/scripts/dkms"
cp -a "$root/Kbuild" "$root/rust" "$root/include" "$dst/"
cp -a "$root/scripts/dkms/kqueue-prepare-kernel" "$root/scripts/dkms/dkms-build" "$dst/scripts/dkms/"
sed "s/@VERSION@/$version/" "$root/scripts/dkms/dkms.conf" >"$dst/dkms.conf"
# The DKMS build runs make only through dkms-build; no top-level Makefile.
dkms add -m kqueue -v "$version"
for k in "${kernels[@]}"; do
	say "dkms install kqueue/$version for $k (the first build of a kernel prepares its Rust metadata: about 5 minutes)"
	dkms install -m kqueue -v "$version" -k "$k" ||
		die "dkms install failed for $k (see /var/lib/dkms/kqueue/$version/build/make.log)"
done

mkdir -p "$(dirname "$modload")" "$(dirname "$udevrule")"
echo kqueue >"$modload"
cat >"$udevrule" <<'EOF'
# kqueue(2) for Linux: every user may open /dev/kqueue (each open is one kqueue).
KERNEL=="kqueue", SUBSYSTEM=="misc", MODE="0666"
EOF
say "boot: $modload, $udevrule"

running=$(uname -r)
if [ "$load" = 1 ] && printf '%s\n' "${kernels[@]}" | grep -qxF "$running"; then
	modprobe -r kqueue 2>/dev/null || true
	modprobe kqueue || die "modprobe kqueue failed (dmesg tells why; under Secure Boot the DKMS key must be enrolled: mokutil --import /var/lib/dkms/mok.pub)"
	command -v udevadm >/dev/null && udevadm trigger --subsystem-match=misc --sysname-match=kqueue 2>/dev/null || true
	say "loaded: $(ls -l /dev/kqueue)"
fi
say "kqueue $version installed for ${kernels[*]}"
