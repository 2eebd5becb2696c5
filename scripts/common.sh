# SPDX-License-Identifier: GPL-2.0
# Shared settings for the setup, build and VM scripts. Source it; do not run it.
#
# Everything expensive lives under $KQ_CACHE (outside the repository), keyed by
# the kernel package version and a hash of the kernel configuration inputs, so
# that a second run on the same machine reuses it.

# The rustup toolchain (cargo for bindgen-cli and the userspace crate) lives in
# ~/.cargo/bin; the kernel never uses it (it gets Debian's rustc explicitly).
case ":$PATH:" in *":$HOME/.cargo/bin:"*) ;; *) [ -d "$HOME/.cargo/bin" ] && PATH=$HOME/.cargo/bin:$PATH ;; esac

KQ_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KQ_CACHE=${KQ_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kqueue-linux}

# The kernel we build against: Debian's linux-source-7.3 from trixie-backports.
KQ_KPKG=linux-source-7.3
KQ_KSUITE=trixie-backports
KQ_BINDGEN_VERSION=0.73.0
KQ_LLVM=-22

# Kernel-side Rust: Debian's rustc-web (1.96) with its matching core/alloc source.
# Never the rustup toolchain, which has no rust-src.
KQ_RUSTC=/usr/bin/rustc
KQ_RUSTDOC=/usr/bin/rustdoc
KQ_RUST_LIB_SRC=/usr/src/rustc-1.96.0/library
KQ_BINDGEN=$KQ_CACHE/bindgen-$KQ_BINDGEN_VERSION/bin/bindgen
export LIBCLANG_PATH=/usr/lib/llvm-22/lib

# Module parameters of the test VMs (run-vm.sh --module-args): a per-user
# vnode-watch limit small enough that the test that fills it
# (kqueue_vnode_test vnode_user_limit) takes seconds, not minutes, under KASAN.
KQ_TEST_MODULE_ARGS=${KQ_TEST_MODULE_ARGS-max_user_vnode_watches=4096}

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Variables every make call into the kernel tree needs (config targets too,
# or Kconfig silently drops CONFIG_RUST).
kq_kmake_vars() {
	local flavour=$1
	echo "RUSTC=$KQ_RUSTC HOSTRUSTC=$KQ_RUSTC RUSTDOC=$KQ_RUSTDOC BINDGEN=$KQ_BINDGEN RUST_LIB_SRC=$KQ_RUST_LIB_SRC"
	if [ "$flavour" = debug ]; then
		echo "LLVM=$KQ_LLVM"
	fi
}

# The source tree, once unpacked; set by kq_source_dir.
kq_source_dir() {
	local f
	f=$(ls -d "$KQ_CACHE"/src/*/linux-source-7.3 2>/dev/null | head -n1)
	[ -n "$f" ] || die "kernel source not unpacked; run scripts/setup.sh"
	echo "$f"
}

# Hash of everything that determines a kernel build of one flavour.
kq_config_key() {
	local flavour=$1 src=$2
	{
		cat "$KQ_ROOT/selftests/config"
		[ "$flavour" = debug ] && cat "$KQ_ROOT/selftests/config.debug"
		echo "$flavour $src"
		cat "$src/../VERSION" 2>/dev/null
		"$KQ_RUSTC" --version
		[ "$flavour" = debug ] && "clang$KQ_LLVM" --version | head -n1
		[ "$flavour" = fast ] && gcc --version | head -n1
	} | sha256sum | cut -c1-12
}

kq_kernel_dir() {
	local flavour=$1 src
	src=$(kq_source_dir)
	echo "$KQ_CACHE/build/$flavour-$(kq_config_key "$flavour" "$src")"
}
