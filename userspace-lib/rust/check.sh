#!/bin/sh
# Host checks of the Rust crate: formatting, clippy, docs, the tests (the
# integration tests skip themselves when /dev/kqueue is missing, unless
# KQ_REQUIRE_DEVICE=1), and that the crate packages and builds from its
# package. Works from any directory.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/target}"

cargo fmt --check
cargo clippy --all-targets -- -D warnings
RUSTDOCFLAGS='-D warnings' cargo doc --no-deps --quiet
cargo test
cargo package --allow-dirty --quiet
