#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# libevent's own test suite on the kqueue backend, in QEMU (issue 14, part 4).
# See doc/libevent.md.
#
#   scripts/libevent.sh [--build-only] [--kernel BZIMAGE] [--module KO]
#                       [--log FILE] [--results FILE]
#
# 1. apt packages it needs (cmake, dpkg-dev, libssl-dev, zlib1g-dev, pkg-config).
# 2. Debian's libevent source package (bookworm, 2.1.12-stable-N, with
#    Debian's patches) through a private apt configuration with a deb-src line
#    (the machine's apt sources are not touched), cached under
#    $KQ_CACHE/libevent-VERSION/src.
# 3. libevent built with CMake against this tree's C library (<sys/event.h>,
#    -lkqueue-linux through pkg-config kqueue-linux), kqueue backend compiled
#    in; cached in $KQ_CACHE/libevent-VERSION/build-KEY, KEY a hash of the
#    Debian version, the recipe below, the two ABI headers and the compilers.
#    The test programs are linked dynamically against libkqueue-linux.so.1,
#    so every run uses the library as it is now, not as it was when libevent
#    was built.
# 4. In the VM (fast kernel, build/module-fast/kqueue.ko unless told
#    otherwise), with every other backend disabled (EVENT_NOEPOLL ...):
#    libevent must report "kqueue" as its method (EVENT_SHOW_METHOD=1
#    test-init); then the small test programs upstream's test/test.sh runs
#    per backend, then test/regress. A regress test that fails is run again
#    on kqueue (twice at most) and, if it still fails, once on epoll, for the
#    log (EVENT_NOKQUEUE=1 as well: libevent prefers kqueue to epoll whenever
#    /dev/kqueue exists); so is a failed test program.
# 5. Prints ok / failed / skipped counts. Exits 1 if the method is not
#    kqueue, a test program fails, a regress test fails on every try and is
#    not in LE_EXPECTED below, or the VM run itself fails (module load, KUnit,
#    kernel log, timeout). A test that passed on a rerun is reported as flaky
#    (QEMU TCG timing), not as a failure.
#
# Forcing configure's kqueue probe: libevent decides whether kqueue "works"
# by running a program (it fills a pipe and expects EVFILT_WRITE once it is
# drained). That cannot run on the build host, which has no /dev/kqueue.
# configure.ac does it with a bare AC_RUN_IFELSE, without AC_CACHE_CHECK, so
# there is no ac_cv_ cache variable to preset, and a cross-compiling
# configure answers "no". CMake's check (cmake/CheckWorkingKqueue.cmake,
# check_c_source_runs) keeps its answer in the cache variable
# EVENT__HAVE_WORKING_KQUEUE and does not run when that is already set, so
# we build with CMake and pass -DEVENT__HAVE_WORKING_KQUEUE=1. The VM run then
# proves it: libevent refuses a kqueue that fails its own start-up check
# (kq_init's "detected broken kqueue").
set -euo pipefail
. "$(dirname "$0")/common.sh"

LE_UPSTREAM=2.1.12-stable
LE_SUITE=bookworm
# Bump when the build recipe changes (part of the cache key).
LE_RECIPE=1
LE_APT_PKGS="cmake dpkg-dev libssl-dev zlib1g-dev pkg-config"
# The small programs upstream's test/test.sh runs for every backend.
LE_PROGS="test-eof test-closed test-weof test-time test-changelist test-fdleak"

# Regress tests that fail on kqueue for reasons the module cannot change, with
# the reason. Everything else must pass (at least on a rerun).
declare -A LE_EXPECTED=(
	# libevent 2.1.12 predates OpenSSL 3, which reports a peer's dirty
	# shutdown as a protocol error (SSL_R_UNEXPECTED_EOF_WHILE_READING)
	# instead of an I/O error: libevent issue #1212, fixed after 2.1.12 by
	# pull request #1288. They fail the same way on epoll, poll and select.
	[ssl/bufferevent_socketpair_dirty_shutdown]="OpenSSL 3 dirty shutdown (libevent #1212; fails on every backend)"
	[ssl/bufferevent_renegotiate_socketpair_dirty_shutdown]="OpenSSL 3 dirty shutdown (libevent #1212; fails on every backend)"
	[ssl/bufferevent_socketpair_startopen_dirty_shutdown]="OpenSSL 3 dirty shutdown (libevent #1212; fails on every backend)"
	[http/https_incomplete]="OpenSSL 3 dirty shutdown (libevent #1212; fails on every backend)"
	[http/https_incomplete_timeout]="OpenSSL 3 dirty shutdown (libevent #1212; fails on every backend)"
	[http/https_chunk_out]="OpenSSL 3 dirty shutdown (libevent #1212; fails on every backend)"
)

# Regress tests with a fixed short deadline, with the reason. Under TCG on a
# loaded host they can fail on any backend; such a test fails the run only if
# epoll passes it in the same boot (the rerun), i.e. if kqueue is the cause.
declare -A LE_TIMING=(
	[http/bad_request]="ends its loop 10 ms after sending the request (regress_http.c); the answer can come later under TCG"
)

usage() {
	sed -n '7,8p' "$0" | sed 's/^# \{0,3\}//'
	exit 2
}

build_only=0 kernel='' module='' logf='' results=''
while [ $# -gt 0 ]; do
	case $1 in
	--build-only) build_only=1 ;;
	--kernel) kernel=${2:?} && shift ;;
	--module) module=${2:?} && shift ;;
	--log) logf=${2:?} && shift ;;
	--results) results=${2:?} && shift ;;
	*) usage ;;
	esac
	shift
done

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

step_apt() {
	local missing=() p
	for p in $LE_APT_PKGS; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return
	log "libevent: apt packages: installing ${missing[*]}"
	as_root apt-get update -q
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "${missing[@]}"
}

# Sets le_ver (Debian version) and le_src (unpacked source tree).
step_source() {
	local d
	d=$(ls -d "$KQ_CACHE"/libevent-"$LE_UPSTREAM"-*/src/libevent-"$LE_UPSTREAM"/CMakeLists.txt \
		2>/dev/null | sort -V | tail -n1 || true)
	if [ -n "$d" ]; then
		le_src=${d%/CMakeLists.txt}
		le_ver=${le_src#"$KQ_CACHE"/libevent-}
		le_ver=${le_ver%%/*}
		log "libevent: source $le_ver (cached)"
		return
	fi
	local apt="$KQ_CACHE/libevent-apt"
	mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/etc"
	echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $LE_SUITE main" \
		>"$apt/etc/sources.list"
	local opts=(-o "Dir::Etc::sourcelist=$apt/etc/sources.list" -o "Dir::Etc::sourceparts=-"
		-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
		-o "APT::Get::List-Cleanup=0" -o "APT::Sandbox::User=root")
	log "libevent: reading the $LE_SUITE source list (private apt configuration)"
	apt-get "${opts[@]}" update -q >/dev/null
	le_ver=$(apt-cache "${opts[@]}" showsrc libevent | sed -n 's/^Version: //p' |
		grep -F "$LE_UPSTREAM-" | sort -V | tail -n1 || true)
	[ -n "$le_ver" ] || die "libevent $LE_UPSTREAM-* not found in $LE_SUITE"
	local dst="$KQ_CACHE/libevent-$le_ver/src"
	rm -rf "$dst.tmp" && mkdir -p "$dst.tmp"
	log "libevent: apt-get source libevent=$le_ver"
	(cd "$dst.tmp" && apt-get "${opts[@]}" source -q "libevent=$le_ver" >/dev/null)
	rm -f "$dst.tmp"/*.tar.* "$dst.tmp"/*.dsc
	[ -f "$dst.tmp/libevent-$LE_UPSTREAM/CMakeLists.txt" ] || die "libevent source not unpacked"
	rm -rf "$dst" && mv "$dst.tmp" "$dst"
	le_src=$dst/libevent-$LE_UPSTREAM
}

# Sets le_build (the build directory).
step_build() {
	local hdrs=("$KQ_ROOT/userspace-lib/include/sys/event.h" "$KQ_ROOT/include/uapi/linux/kqueue.h")
	local key
	key=$({
		echo "$le_ver recipe $LE_RECIPE"
		cat "${hdrs[@]}"
		gcc --version | head -n1
		cmake --version | head -n1
	} | sha256sum | cut -c1-12)
	le_build="$KQ_CACHE/libevent-$le_ver/build-$key"
	if [ -f "$le_build/.kq-built" ]; then
		log "libevent: build cached at $le_build"
		return
	fi
	exec 8>"$KQ_CACHE/libevent-$le_ver/.build.lock"
	flock 8
	if [ -f "$le_build/.kq-built" ]; then
		log "libevent: build cached at $le_build"
		return
	fi
	rm -rf "$le_build" && mkdir -p "$le_build"
	log "libevent: building ($le_build; about 4 minutes on 2 cores)"
	# Our library as it is now, installed into the build directory so that
	# CMake finds it through pkg-config like any installed library.
	make -s -C "$KQ_ROOT/userspace-lib" O="$le_build/kqlib" PREFIX="$le_build/kq" install \
		>"$le_build/kqlib.log" 2>&1 || { tail -n 30 "$le_build/kqlib.log"; die "C library build failed"; }
	export PKG_CONFIG_PATH="$le_build/kq/lib/pkgconfig"
	local cflags libs
	cflags=$(pkg-config --cflags kqueue-linux)
	libs=$(pkg-config --libs kqueue-linux)
	# CMAKE_C_FLAGS and CMAKE_REQUIRED_LIBRARIES make the header and
	# function checks find <sys/event.h> and kqueue(); CMAKE_C_STANDARD_LIBRARIES
	# puts -lkqueue-linux at the end of every link line.
	# EVENT__HAVE_WORKING_KQUEUE=1: the probe that would run a program (see
	# the top of this file).
	if ! cmake -S "$le_src" -B "$le_build/cmake" \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DEVENT__LIBRARY_TYPE=STATIC \
		-DEVENT__DISABLE_SAMPLES=ON -DEVENT__DISABLE_BENCHMARK=ON \
		-DCMAKE_C_FLAGS="$cflags" \
		-DCMAKE_REQUIRED_LIBRARIES="$libs" \
		-DCMAKE_C_STANDARD_LIBRARIES="$libs" \
		-DEVENT__HAVE_WORKING_KQUEUE=1 \
		>"$le_build/cmake.log" 2>&1; then
		tail -n 40 "$le_build/cmake.log"
		die "libevent: cmake failed (log: $le_build/cmake.log)"
	fi
	local cfg="$le_build/cmake/include/event2/event-config.h" want
	for want in EVENT__HAVE_SYS_EVENT_H EVENT__HAVE_KQUEUE EVENT__HAVE_WORKING_KQUEUE; do
		grep -q "^#define $want 1" "$cfg" || die "libevent: $want not set in $cfg"
	done
	grep -q 'Available event backends:.*KQUEUE' "$le_build/cmake.log" ||
		die "libevent: kqueue backend not enabled (log: $le_build/cmake.log)"
	# shellcheck disable=SC2086
	if ! make -C "$le_build/cmake" -j2 regress test-init $LE_PROGS >"$le_build/make.log" 2>&1; then
		tail -n 40 "$le_build/make.log"
		die "libevent: build failed (log: $le_build/make.log)"
	fi
	readelf -d "$le_build/cmake/bin/regress" | grep -q 'NEEDED.*\[libkqueue-linux\.so\.1\]' ||
		die "libevent: regress does not need libkqueue-linux.so.1"
	touch "$le_build/.kq-built"
	# Older builds of this version (other headers, compilers) are stale.
	find "$KQ_CACHE/libevent-$le_ver" -mindepth 1 -maxdepth 1 -name 'build-*' \
		! -name "build-$key" -exec rm -rf {} +
}

# The guest side: busybox sh. Prints LE-* lines that run() reads back.
guest_script() {
	cat <<'EOF'
# Written by scripts/libevent.sh; runs in the VM under busybox sh.
export LD_LIBRARY_PATH=/extra
# What the tests expect of a Linux system and the initramfs lacks: localhost
# in /etc/hosts, a nameserver in /etc/resolv.conf (dns/initialize_nameservers:
# evdns_base_new(EVDNS_BASE_INITIALIZE_NAMESERVERS)) and symbolic service names
# (util/getaddrinfo). No test sends anything off the machine.
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >/etc/hosts
printf 'nameserver 127.0.0.1\n' >/etc/resolv.conf
printf 'http 80/tcp www\nhttps 443/tcp\ndomain 53/tcp\ndomain 53/udp\n' >/etc/services
OFF="EVENT_NOEPOLL EVENT_NOPOLL EVENT_NOSELECT EVENT_NODEVPOLL EVENT_NOEVPORT EVENT_NOWIN32"
for v in $OFF; do export "$v=1"; done
cd /tmp || exit 1

m=$(EVENT_SHOW_METHOD=1 /extra/test-init 2>&1)
echo "$m"
echo "LE-METHOD $(echo "$m" | sed -n 's/.*libevent using: //p' | head -n1)"

# The comparison runs: kqueue off, so that libevent takes epoll (it prefers
# kqueue whenever /dev/kqueue exists).
on_epoll() { (unset $OFF; EVENT_NOKQUEUE=1 "$@"); }

for p in @PROGS@; do
	timeout 300 "/extra/$p" >"/tmp/$p.out" 2>&1
	rc=$?
	e=-
	if [ $rc != 0 ]; then
		tail -n 20 "/tmp/$p.out"
		echo
		if on_epoll timeout 300 "/extra/$p" >/dev/null 2>&1; then e=ok; else e=failed; fi
	fi
	echo "LE-PROG $p rc=$rc epoll=$e"
done

echo "LE-LISTED $(/extra/regress --list-tests | grep -c '^    [A-Za-z0-9_]*/')"
echo "LE-REGRESS-BEGIN"
/extra/regress --timeout 120 >/tmp/regress.out 2>&1
rc=$?
cat /tmp/regress.out
echo
echo "LE-REGRESS-END rc=$rc"

# One line per test: LE-RESULT name ok|failed|skipped|disabled|unknown [retried]
awk '
/^[A-Za-z0-9_]+\/[A-Za-z0-9_]+: / {
	cur = substr($0, 1, index($0, ": ") - 1)
	if (!(cur in res)) order[n++] = cur
	res[cur] = ""
	if ($0 ~ /DISABLED$/) res[cur] = "disabled"
	else if ($0 ~ /SKIPPED$/) res[cur] = "skipped"
	else if ($0 ~ /OK$/) res[cur] = "ok"
	next
}
cur == "" { next }
/^  \[RETRYING / { retried[cur] = 1; next }
/^  \[[A-Za-z0-9_]+ FAILED\]$/ { res[cur] = "failed"; next }
res[cur] == "" && /SKIPPED$/ { res[cur] = "skipped"; next }
res[cur] == "" && /OK$/ { res[cur] = "ok" }
END {
	for (i = 0; i < n; i++) {
		t = order[i]
		print "LE-RESULT " t " " (res[t] == "" ? "unknown" : res[t]) (retried[t] ? " retried" : "")
	}
}' /tmp/regress.out >/tmp/results
cat /tmp/results

# Failed tests: twice more on kqueue; if they still fail, once on epoll.
for t in $(awk '$3 == "failed" || $3 == "unknown" { print $2 }' /tmp/results); do
	k=failed
	for i in 1 2; do
		if /extra/regress --timeout 120 "$t" >/tmp/rerun.out 2>&1; then
			k=ok
			break
		fi
	done
	e=-
	if [ $k = failed ]; then
		echo "LE-RERUN-OUTPUT-BEGIN $t"
		tail -n 30 /tmp/rerun.out
		echo
		echo "LE-RERUN-OUTPUT-END $t"
		if on_epoll /extra/regress --timeout 120 "$t" >/tmp/epoll.out 2>&1; then
			e=ok
		else
			e=failed
		fi
	fi
	echo "LE-RERUN $t kqueue=$k epoll=$e"
done
echo "LE-DONE"
EOF
}

run() {
	local kdir
	if [ -z "$kernel" ]; then
		kdir=$(kq_kernel_dir fast)
		[ -f "$kdir/.kq-built" ] || die "fast kernel not built; run scripts/setup.sh fast"
		kernel=$kdir/arch/x86/boot/bzImage
	fi
	[ -n "$module" ] || module=$KQ_ROOT/build/module-fast/kqueue.ko
	[ -f "$module" ] || die "no module at $module; run scripts/build.sh fast"
	mkdir -p "$KQ_ROOT/build"
	[ -n "$logf" ] || logf=$KQ_ROOT/build/libevent-vm.log

	local work
	work=$(mktemp -d "${TMPDIR:-/tmp}/kq-libevent.XXXXXX")
	# shellcheck disable=SC2064
	trap "rm -rf '$work'" EXIT
	# Private copies: others may rebuild the module and the library meanwhile.
	cp "$module" "$work/kqueue.ko"
	make -s -C "$KQ_ROOT/userspace-lib" O="$work/kqlib" all >"$work/kqlib.log" 2>&1 ||
		{ tail -n 30 "$work/kqlib.log"; die "C library build failed"; }
	local extra="$work/extra" p
	mkdir -p "$extra"
	cp "$work/kqlib/libkqueue-linux.so.1" "$le_build/cmake/bin/regress" "$le_build/cmake/bin/test-init" "$extra/"
	for p in $LE_PROGS; do
		cp "$le_build/cmake/bin/$p" "$extra/"
	done
	guest_script | sed "s/@PROGS@/$LE_PROGS/" >"$extra/libevent-guest.sh"

	log "libevent: regress in the VM (kqueue backend; about 5 minutes)"
	local t0=$SECONDS vm_rc=0
	# LD_LIBRARY_PATH: so that the runner's ldd finds libkqueue-linux.so.1
	# (in the guest, the script sets it to /extra).
	LD_LIBRARY_PATH=$extra "$KQ_ROOT/selftests/vm/run-vm.sh" --name libevent --quiet \
		--kernel "$kernel" --module "$work/kqueue.ko" --extra "$extra" \
		--cmd "sh ./libevent-guest.sh" --timeout 2400 --log "$logf" || vm_rc=$?
	local secs=$((SECONDS - t0))

	local out="$work/cmd.txt"
	sed -n '/KQVM-CMD-BEGIN/,/KQVM-CMD-END/p' "$logf" >"$out"
	report "$out" "$vm_rc" "$secs"
}

report() {
	local out=$1 vm_rc=$2 secs=$3 bad=() notes=()
	grep -q '^LE-DONE' "$out" || bad+=("the guest script did not finish (see $logf)")
	local method
	method=$(sed -n 's/^LE-METHOD //p' "$out" | head -n1)
	[ "$method" = kqueue ] || bad+=("libevent's method is '${method:-none}', not kqueue")

	local p rc line progs_ok=0
	for p in $LE_PROGS; do
		# (Unanchored: a program's last output line may lack its newline.)
		line=$(grep -a -o "LE-PROG $p rc=[0-9]* epoll=[a-z-]*" "$out" | head -n1 || true)
		rc=$(sed -n 's/.* rc=\([0-9]*\) .*/\1/p' <<<"$line")
		if [ "$rc" = 0 ]; then
			progs_ok=$((progs_ok + 1))
		else
			bad+=("test program $p: rc=${rc:-missing} (on epoll: $(sed -n 's/.* epoll=//p' <<<"$line"))")
		fi
	done

	declare -A res=()
	local t r extra_w n_ok=0 n_fail=0 n_skip=0 n_dis=0 retried=()
	while read -r _ t r extra_w; do
		res[$t]=$r
		case $r in
		ok) n_ok=$((n_ok + 1)) ;;
		skipped) n_skip=$((n_skip + 1)) ;;
		disabled) n_dis=$((n_dis + 1)) ;;
		*) n_fail=$((n_fail + 1)) ;;
		esac
		[ "$extra_w" != retried ] || [ "$r" != ok ] || retried+=("$t")
	done < <(grep '^LE-RESULT ' "$out")

	# Cross-checks against regress's own counts and list.
	local listed summary
	listed=$(sed -n 's/^LE-LISTED //p' "$out" | head -n1)
	if [ "${#res[@]}" != "${listed:-x}" ]; then
		bad+=("regress listed ${listed:-?} tests, the log has results for ${#res[@]}")
	fi
	summary=$(sed -n '/^LE-REGRESS-BEGIN/,/^LE-REGRESS-END/p' "$out" |
		grep -a -E '^[0-9]+ tests ok\.|^[0-9]+/[0-9]+ TESTS FAILED\.' | tail -n1 || true)
	# tinytest counts a disabled test twice in its "skipped".
	if [[ $summary =~ ^([0-9]+)\ tests\ ok\.\ +\(([0-9]+)\ skipped\) ]]; then
		[ "${BASH_REMATCH[1]}" = $n_ok ] && [ $n_fail = 0 ] &&
			[ "${BASH_REMATCH[2]}" = $((n_skip + 2 * n_dis)) ] ||
			bad+=("result parsing disagrees with regress: '$summary'")
	elif [[ $summary =~ ^([0-9]+)/([0-9]+)\ TESTS\ FAILED\.\ \(([0-9]+)\ skipped\) ]]; then
		[ "${BASH_REMATCH[1]}" = $n_fail ] && [ "${BASH_REMATCH[2]}" = $((n_ok + n_fail)) ] &&
			[ "${BASH_REMATCH[3]}" = $((n_skip + 2 * n_dis)) ] ||
			bad+=("result parsing disagrees with regress: '$summary'")
	else
		bad+=("no summary line from regress")
	fi

	# Each failure: flaky (passed on a rerun), expected, or a failure.
	local k e flaky=() expected=() timing=() failed=()
	while read -r _ t k e; do
		k=${k#kqueue=} e=${e#epoll=}
		if [ "$k" = ok ]; then
			flaky+=("$t")
		elif [ -n "${LE_EXPECTED[$t]:-}" ]; then
			expected+=("$t")
		elif [ -n "${LE_TIMING[$t]:-}" ] && [ "$e" != ok ]; then
			timing+=("$t")
		else
			failed+=("$t (also on epoll: $e)")
		fi
	done < <(grep '^LE-RERUN ' "$out")
	for t in "${!LE_EXPECTED[@]}"; do
		[ "${res[$t]:-}" != ok ] || notes+=("expected failure passed: $t")
	done
	local n_explained=$((${#flaky[@]} + ${#expected[@]} + ${#timing[@]} + ${#failed[@]}))
	if [ $n_explained != $n_fail ]; then
		bad+=("$n_fail failed tests but $n_explained reruns")
	fi
	for t in ${failed[@]+"${failed[@]}"}; do
		bad+=("regress: $t")
	done
	[ "$vm_rc" = 0 ] || bad+=("the VM run failed (run-vm.sh exit $vm_rc; log: $logf)")

	echo
	echo "libevent $le_ver, method ${method:-?}, VM run ${secs} s (log: $logf)"
	echo "  test programs: $progs_ok of $(wc -w <<<"$LE_PROGS") ok ($LE_PROGS)"
	echo "  regress: ok=$n_ok failed=$n_fail skipped=$((n_skip + n_dis)) ($n_skip skipped by libevent for this backend, $n_dis disabled by default)"
	[ ${#retried[@]} = 0 ] || echo "  passed on libevent's own retry: ${retried[*]}"
	[ ${#flaky[@]} = 0 ] || echo "  failed, then passed on a rerun (timing under TCG): ${flaky[*]}"
	for t in ${expected[@]+"${expected[@]}"}; do
		echo "  expected failure: $t: ${LE_EXPECTED[$t]}"
	done
	for t in ${timing[@]+"${timing[@]}"}; do
		echo "  failed on kqueue and on epoll (deadline too short for this host): $t: ${LE_TIMING[$t]}"
	done
	for t in ${notes[@]+"${notes[@]}"}; do
		echo "  note: $t"
	done
	if [ -n "$results" ]; then
		echo "pass=$n_ok fail=${#failed[@]} skip=$((n_skip + n_dis)) xfail=${#expected[@]} flaky=${#flaky[@]} timing=${#timing[@]}" >"$results"
	fi
	if [ ${#bad[@]} = 0 ]; then
		echo "libevent: PASS"
		return 0
	fi
	for t in "${bad[@]}"; do
		echo "libevent: FAIL: $t"
	done
	return 1
}

step_apt
step_source
step_build
[ "$build_only" = 1 ] && exit 0
run
