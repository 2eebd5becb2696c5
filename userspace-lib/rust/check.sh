#!/bin/sh
# Host checks of the Rust crate: formatting, clippy, docs and the tests (the
# integration tests skip themselves when /dev/kqueue is missing, unless
# KQ_REQUIRE_DEVICE=1). Works from any directory.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/target}"

cargo fmt --check
cargo clippy --all-targets -- -D warnings
RUSTDOCFLAGS='-D warnings' cargo doc --no-deps --quiet
cargo test
