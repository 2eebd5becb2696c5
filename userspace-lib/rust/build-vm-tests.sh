#!/bin/sh
# Builds the integration tests and the example statically, for the busybox
# guest of selftests/vm, and copies them to OUTDIR:
#   OUTDIR/rust_integration   (run: KQ_REQUIRE_DEVICE=1 ./rust_integration --test-threads=1)
#   OUTDIR/watch              (the example; exits 0)
#   OUTDIR/tokio_events       (the tokio example; exits 0)
# Works from any directory.
set -eu
if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
mkdir -p "$1"
out=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/target}"
export RUSTFLAGS='-C target-feature=+crt-static'
target=x86_64-unknown-linux-gnu

json=$(mktemp)
trap 'rm -f "$json"' EXIT
cargo test --no-run --release --target "$target" --test device --message-format=json >"$json"
cargo build --release --target "$target" --example watch --example tokio_events \
	--message-format=json >>"$json"

# The executables, by target name and kind.
python3 - "$json" "$out" <<'PY'
import json, shutil, sys
want = {
    ("device", "test"): "rust_integration",
    ("watch", "example"): "watch",
    ("tokio_events", "example"): "tokio_events",
}
found = {}
for line in open(sys.argv[1]):
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if msg.get("reason") != "compiler-artifact" or not msg.get("executable"):
        continue
    key = (msg["target"]["name"], msg["target"]["kind"][0])
    if key in want:
        found[want[key]] = msg["executable"]
missing = set(want.values()) - set(found)
if missing:
    sys.exit("build-vm-tests.sh: no executable for " + ", ".join(sorted(missing)))
for name, path in found.items():
    shutil.copy(path, f"{sys.argv[2]}/{name}")
    print(f"{sys.argv[2]}/{name} <- {path}")
PY

# The guest has no libc: insist on static executables.
for f in "$out/rust_integration" "$out/watch" "$out/tokio_events"; do
	if file "$f" | grep -q 'dynamically linked'; then
		echo "build-vm-tests.sh: $f is dynamically linked" >&2
		exit 1
	fi
	file "$f"
done
