#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot a test kernel in QEMU with a busybox initramfs, load the kqueue module,
# run its KUnit suites, kselftest-style test programs and an optional command,
# then check the kernel log. See selftests/vm/README.md.
set -euo pipefail

prog=${0##*/}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() {
	cat <<EOF
Usage: $prog --kernel BZIMAGE [options]

Boot BZIMAGE in QEMU (TCG) with a busybox initramfs and run tests in it.

Options:
  --kernel PATH      kernel image (arch/x86/boot/bzImage); required
  --module PATH      module (kqueue.ko) to insmod right after boot; its KUnit
                     suites (named kqueue*) must report results, and it must
                     unload cleanly (rmmod) at the end
  --module-args "A=V ..."
                     module parameters for the insmod of --module; the tests
                     see each as KQ_<A in capitals>=V in their environment
  --preload DIR      kernel modules (*.ko, uncompressed) to insmod in sorted
                     order before --module (e.g. a distribution kernel's
                     ext4 and loop); each must load
  --no-kunit         the kernel has no KUnit (CONFIG_KUNIT off, e.g. Debian's
                     kernels): do not look for the module's KUnit results;
                     they count neither as passed nor as failed
  --tests DIR        directory of static test programs (kselftest TAP output);
                     every executable file in it runs in sorted order, cwd /tmp
  --extra DIR        directory copied to /extra in the guest; dynamically
                     linked ELF files get their interpreter and libraries
  --cmd "COMMAND"    run COMMAND with sh -c in the guest after the tests (cwd
                     /extra if --extra is given, else /tmp); exit status 0
                     counts as 1 pass, anything else as 1 failure
  --timeout SECONDS  overall QEMU timeout (default 600)
  --icount SPEC      pass -icount SPEC to QEMU (e.g. shift=0,sleep=off): guest
                     time follows the instruction count (deterministic timing;
                     one host thread runs all vCPUs; TCG only)
  --tcg-single       one host thread for all vCPUs (-accel tcg,thread=single):
                     multi-threaded TCG lets a vCPU run a stale translation of
                     kernel text another vCPU has just patched (an int3 Oops at
                     a static branch or static call site, seen with Debian's
                     kernels); slower, but still SMP for the guest
  --memory MB        guest memory (default 1024)
  --results FILE     write "pass=N fail=N skip=N" (totals) to FILE
  --log FILE         keep a copy of the guest console log in FILE
  --name NAME        label for the output (e.g. fast, debug; default vm)
  --quiet            show only progress, the summary and failures instead of
                     the whole guest console
  -h, --help         this text

Environment:
  KQ_KVM=1             use KVM instead of TCG (KVM is broken on some hosts)
  KQ_ALLOW_SKIP=1      skipped tests do not fail the run
  KQ_ALLOW_NO_KUNIT=1  a module without KUnit results does not fail the run
  KQ_BUSYBOX=PATH      static busybox to use (default: /bin/busybox)
  KQ_VM_KEEP=1         keep the temporary directory (initramfs, parsed log)

The run fails (exit 1) on a failed, skipped or missing test result, insmod
or rmmod failure, a timeout or crash, and kernel log reports (WARNING, BUG,
Oops, KASAN, lockdep, kmemleak, UBSAN, Rust panics, ...). Exit 2: bad usage.
EOF
}

die() {
	echo "$prog: error: $*" >&2
	exit 2
}

kernel='' module='' module_args='' preload='' kunit=1 tests='' extra='' cmd='' have_cmd=0 results='' logcopy=''
tcg_single=0 timeout_s=600 memory=1024 name=vm quiet=0 icount=''
while [ $# -gt 0 ]; do
	opt=$1
	case $opt in
	--*=*)
		set -- "${opt%%=*}" "${opt#*=}" "${@:2}"
		continue
		;;
	-h | --help)
		usage
		exit 0
		;;
	--quiet)
		quiet=1
		shift
		continue
		;;
	--no-kunit)
		kunit=0
		shift
		continue
		;;
	--tcg-single)
		tcg_single=1
		shift
		continue
		;;
	--kernel | --module | --module-args | --preload | --tests | --extra | --cmd | --timeout | --memory | --results | --log | --name | --icount)
		[ $# -ge 2 ] || die "$opt needs an argument (see --help)"
		val=$2
		shift 2
		;;
	*)
		die "unknown argument: $opt (see $prog --help)"
		;;
	esac
	case $opt in
	--kernel) kernel=$val ;;
	--module) module=$val ;;
	--module-args) module_args=$val ;;
	--preload) preload=$val ;;
	--tests) tests=$val ;;
	--extra) extra=$val ;;
	--cmd) cmd=$val have_cmd=1 ;;
	--timeout) timeout_s=$val ;;
	--memory) memory=$val ;;
	--results) results=$val ;;
	--log) logcopy=$val ;;
	--name) name=$val ;;
	--icount) icount=$val ;;
	esac
done

[ -n "$kernel" ] || die "--kernel is required (see $prog --help)"
[ -f "$kernel" ] || die "kernel image not found: $kernel"
[ -z "$module" ] || [ -f "$module" ] || die "module not found: $module"
for a in $module_args; do
	[[ $a =~ ^[a-z_][a-z0-9_]*=[0-9A-Za-z_,.-]+$ ]] || die "--module-args: not NAME=VALUE: $a"
done
[ -z "$preload" ] || [ -d "$preload" ] || die "preload directory not found: $preload"
[ -z "$tests" ] || [ -d "$tests" ] || die "tests directory not found: $tests"
[ -z "$extra" ] || [ -d "$extra" ] || die "extra directory not found: $extra"
[[ $timeout_s =~ ^[1-9][0-9]*$ ]] || die "--timeout must be a positive number of seconds"
[[ $memory =~ ^[1-9][0-9]*$ ]] || die "--memory must be a positive number of MB"
[ -f "$here/init.sh" ] || die "missing $here/init.sh"

busybox=${KQ_BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || die "busybox not found at $busybox (apt-get install busybox-static)"
if ldd "$busybox" >/dev/null 2>&1; then
	die "$busybox is dynamically linked; install busybox-static or set KQ_BUSYBOX"
fi
for t in qemu-system-x86_64 cpio gzip timeout ldd; do
	command -v "$t" >/dev/null || die "$t not found"
done

tag="[$name]"
say() { printf '%s %s\n' "$tag" "$*"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/kqvm.XXXXXX")
qpid='' tpid=''
# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
	local p
	for p in $tpid $qpid; do
		kill "$p" 2>/dev/null || true
	done
	if [ "${KQ_VM_KEEP:-0}" = 1 ]; then
		echo "$tag kept $work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- initramfs

root=$work/root

is_elf() {
	local magic
	magic=$(head -c 4 "$1" 2>/dev/null | od -An -tx1 | tr -d ' \n')
	[ "$magic" = 7f454c46 ]
}

# Copy the dynamic loader and the shared libraries an ELF file needs into the
# initramfs, at the same paths as on the host.
copy_libs() {
	local f=$1 out line path
	is_elf "$f" || return 0
	# ldd fails ("not a dynamic executable") for static programs.
	out=$(ldd "$f" 2>/dev/null) || return 0
	while IFS= read -r line; do
		case $line in
		*"not found"*) die "$f: shared library not found on the host: ${line%%=>*}" ;;
		*"=> /"*) path=${line#*=> } ;;
		[[:space:]]/* | /*) path=${line#"${line%%[![:space:]]*}"} ;;
		*) continue ;;
		esac
		path=${path%% (0x*}
		[ -e "$root$path" ] && continue
		mkdir -p "$root$(dirname "$path")"
		cp -L "$path" "$root$path"
	done <<<"$out"
}

copy_tree() {
	local src=$1 dst=$2 f
	mkdir -p "$dst"
	cp -a "$src/." "$dst/"
	while IFS= read -r -d '' f; do
		copy_libs "$f"
	done < <(find "$dst" -type f -print0)
}

mkdir -p "$root"/{bin,dev,proc,sys,tmp,run,etc,root,usr,kqvm/modules}
ln -s bin "$root/sbin"
ln -s ../bin "$root/usr/bin"
ln -s ../bin "$root/usr/sbin"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
	[ "$applet" = busybox ] && continue
	ln -s busybox "$root/bin/$applet"
done
install -m 0755 "$here/init.sh" "$root/init"
[ -z "$module" ] || cp "$module" "$root/kqvm/modules/$(basename "$module")"
[ -z "$module_args" ] || printf '%s\n' "$module_args" >"$root/kqvm/module-args"
preloads=()
if [ -n "$preload" ]; then
	mkdir -p "$root/kqvm/preload"
	while IFS= read -r -d '' f; do
		cp "$f" "$root/kqvm/preload/"
		preloads+=("${f##*/}")
	done < <(find "$preload" -mindepth 1 -maxdepth 1 -name '*.ko' -print0 | LC_ALL=C sort -z)
	[ ${#preloads[@]} -gt 0 ] || die "no *.ko files in $preload"
fi
[ -z "$tests" ] || copy_tree "$tests" "$root/tests"
[ -z "$extra" ] || copy_tree "$extra" "$root/extra"
[ "$have_cmd" = 0 ] || printf '%s\n' "$cmd" >"$root/kqvm/cmd"

# The test programs the guest will run, in its (C locale) order.
expected=()
if [ -n "$tests" ]; then
	while IFS= read -r -d '' f; do
		if [ -x "$f" ]; then
			expected+=("${f##*/}")
		fi
	done < <(find "$root/tests" -mindepth 1 -maxdepth 1 -type f ! -name '.*' -print0 |
		LC_ALL=C sort -z)
	# A test directory without tests is a broken build, not a pass.
	[ ${#expected[@]} -gt 0 ] || die "no executable files in $tests"
fi

initrd=$work/initramfs.cpio.gz
(cd "$root" && find . -print0 | LC_ALL=C sort -z |
	cpio --null -o -H newc -R 0:0 --quiet) | gzip -1 >"$initrd"

# ---------------------------------------------------------------------- boot

accel=(-accel tcg)
accel_name=TCG
if [ "$tcg_single" = 1 ]; then
	accel=(-accel tcg,thread=single)
	accel_name="TCG single-threaded"
fi
if [ "${KQ_KVM:-0}" = 1 ]; then
	if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
		accel=(-accel kvm -cpu host)
		accel_name=KVM
	else
		say "warning: KQ_KVM=1 but /dev/kvm is not usable; using TCG"
	fi
fi
if [ -n "$icount" ]; then
	accel+=(-icount "$icount")
	accel_name="$accel_name, icount $icount"
fi

# A kernel that crashes before /init (a boot-time Oops: the module is not
# loaded yet, nothing of ours runs) is booted once more, saying so. Seen
# with Debian's kernel under multi-threaded TCG: a rare int3 Oops where the
# kernel patches a static branch while the other vCPU runs it.
for attempt in 1 2; do
	log=$work/console.log
	: >"$log"
	append="console=ttyS0 panic=-1 oops=panic loglevel=4 panic_on_warn=0 log_buf_len=4M"
	say "booting $kernel ($accel_name, ${memory} MB, timeout ${timeout_s} s, initramfs $(du -h "$initrd" | cut -f1))"
	start=$SECONDS
	timeout -k 10 "$timeout_s" qemu-system-x86_64 "${accel[@]}" -smp 2 -m "$memory" \
		-kernel "$kernel" -initrd "$initrd" -append "$append" \
		-nographic -no-reboot -monitor none -display none -serial "file:$log" \
		</dev/null >"$work/qemu.out" 2>&1 &
	qpid=$!

	if [ "$quiet" = 0 ]; then
		# Drop CRs and the firmware's terminal control sequences (ESC c resets
		# the terminal).
		tail -n +1 -f --pid="$qpid" "$log" |
			sed -u -e 's/\r$//' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' &
		tpid=$!
	else
		next=30
		while kill -0 "$qpid" 2>/dev/null; do
			sleep 1
			el=$((SECONDS - start))
			if [ "$el" -ge "$next" ]; then
				state=$(grep -a -o 'KQVM-[A-Z-]*[A-Z]\( [^ ]*\)\?' "$log" | tail -n1 | tr -d '\r' || true)
				case $state in
				"") state="booting" ;;
				KQVM-START*) state="booted" ;;
				"KQVM-BEGIN "*) state="running ${state#KQVM-BEGIN }" ;;
				"KQVM-END "*) state="finished ${state#KQVM-END }" ;;
				KQVM-CMD-BEGIN) state="running --cmd" ;;
				*) state="after ${state#KQVM-}" ;;
				esac
				say "${el}s: $state"
				next=$((next + 30))
			fi
		done
	fi
	qrc=0
	wait "$qpid" || qrc=$?
	qpid=
	if [ -n "$tpid" ]; then
		wait "$tpid" || true
		tpid=
	fi
	elapsed=$((SECONDS - start))
	if [ "$attempt" = 1 ] && ! grep -a -q "KQVM-START" "$log" &&
		grep -a -q -E 'Oops|Kernel panic|general protection fault|kernel BUG at' "$log"; then
		say "the guest crashed before /init (no module loaded yet); booting once more. The crash:"
		grep -a -E 'Oops|RIP:|Kernel panic|kernel BUG at' "$log" | tr -d '\r' | head -n 4 | sed 's/^/    /'
		cp "$log" "$work/console-crashed-boot.log"
		continue
	fi
	break
done
# The console without CRs and the firmware's terminal control sequences.
clean=$work/console.txt
sed -e 's/\r//g' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' "$log" >"$clean"
[ -z "$logcopy" ] || cp "$clean" "$logcopy"

# --------------------------------------------------------------------- parse

out=$work/out
mkdir -p "$out/t"
started=0 done_seen=0 insmod_rc='' rmmod_rc='' cmd_begin=0 cmd_rc=''
kunit_seen=0 kml_seen=0 dmesg_seen=0
declare -A t_begin=() t_rc=() pre_rc=()
: >"$out/kunit" && : >"$out/kmemleak" && : >"$out/dmesg" && : >"$out/cmd"
exec 3>/dev/null

re_begin='^(.*)KQVM-BEGIN (.+)$'
re_end='^(.*)KQVM-END (.+) rc=([0-9]+)$'
re_cmd_end='^(.*)KQVM-CMD-END rc=([0-9]+)$'
re_sec='^(.*)KQVM-(KUNIT|KMEMLEAK|DMESG)-(BEGIN|END)$'
re_rc='KQVM-(INSMOD|RMMOD) rc=([0-9]+)'
re_pre='KQVM-PRELOAD ([^ ]+) rc=([0-9]+)'
# Text before a marker on the same line is the end of the previous output
# (a program that did not print a final newline).
flush() { [ -z "$1" ] || printf '%s\n' "$1" >&3; }

while IFS= read -r line || [ -n "$line" ]; do
	line=${line//$'\r'/}
	if [[ $line =~ $re_end ]]; then
		flush "${BASH_REMATCH[1]}"
		t_rc[${BASH_REMATCH[2]}]=${BASH_REMATCH[3]}
		exec 3>/dev/null
	elif [[ $line =~ $re_begin ]]; then
		flush "${BASH_REMATCH[1]}"
		t_begin[${BASH_REMATCH[2]}]=1
		exec 3>"$out/t/${BASH_REMATCH[2]}"
	elif [[ $line =~ $re_cmd_end ]]; then
		flush "${BASH_REMATCH[1]}"
		cmd_rc=${BASH_REMATCH[2]}
		exec 3>/dev/null
	elif [[ $line == *KQVM-CMD-BEGIN ]]; then
		cmd_begin=1
		exec 3>"$out/cmd"
	elif [[ $line =~ $re_sec ]]; then
		flush "${BASH_REMATCH[1]}"
		sec=${BASH_REMATCH[2],,}
		if [ "${BASH_REMATCH[3]}" = BEGIN ]; then
			eval "${sec/kmemleak/kml}_seen=1"
			exec 3>"$out/$sec"
		else
			exec 3>/dev/null
		fi
	elif [[ $line =~ $re_pre ]]; then
		pre_rc[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
	elif [[ $line =~ $re_rc ]]; then
		if [ "${BASH_REMATCH[1]}" = INSMOD ]; then
			insmod_rc=${BASH_REMATCH[2]}
		else
			rmmod_rc=${BASH_REMATCH[2]}
		fi
	elif [[ $line == *KQVM-DONE* ]]; then
		done_seen=1
	elif [[ $line == *KQVM-START* ]]; then
		started=1
	else
		printf '%s\n' "$line" >&3
	fi
done <"$clean"
exec 3>&-

# ------------------------------------------------------------------- analyse

problems=()
problem() { problems+=("$*"); }
rows=() bad_outputs=()
tot_pass=0 tot_fail=0 tot_skip=0
row() { # name pass fail skip note
	rows+=("$(printf '  %s: pass=%d fail=%d skip=%d%s' "$1" "$2" "$3" "$4" "${5:+  ($5)}")")
	tot_pass=$((tot_pass + $2)) tot_fail=$((tot_fail + $3)) tot_skip=$((tot_skip + $4))
}

complete=1
if [ "$done_seen" = 0 ]; then
	complete=0
	if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
		problem "timeout: no KQVM-DONE after ${timeout_s} s"
	elif [ "$started" = 0 ]; then
		problem "the guest did not start /init (QEMU exit status $qrc)"
	else
		problem "the guest stopped before KQVM-DONE (QEMU exit status $qrc): crash or panic?"
	fi
fi

for p in ${preloads[@]+"${preloads[@]}"}; do
	if [ -z "${pre_rc[$p]:-}" ]; then
		[ "$started" = 0 ] || problem "preload module $p was not loaded"
	elif [ "${pre_rc[$p]}" != 0 ]; then
		msg=$(grep -a -m1 '^insmod: ' "$clean" || true)
		problem "insmod $p (preload) failed (rc=${pre_rc[$p]})${msg:+: $msg}"
	fi
done

insmod_ok=1
if [ -n "$module" ]; then
	if [ -z "$insmod_rc" ]; then
		insmod_ok=0
		[ "$started" = 0 ] || problem "insmod did not finish"
	elif [ "$insmod_rc" != 0 ]; then
		insmod_ok=0
		msg=$(grep -a -m1 '^insmod: ' "$clean" || true)
		problem "insmod $(basename "$module") failed (rc=$insmod_rc)${msg:+: $msg}"
	fi
	if [ "$insmod_ok" = 1 ] && [ "$complete" = 1 ]; then
		if [ -z "$rmmod_rc" ]; then
			problem "rmmod did not run"
		elif [ "$rmmod_rc" != 0 ]; then
			msg=$(grep -a -m1 '^rmmod: ' "$clean" || true)
			problem "rmmod failed (rc=$rmmod_rc)${msg:+: $msg}"
		fi
	fi
fi

# KUnit: count the test cases of the module's suites (kqueue*), ignoring the
# suites built into the kernel.
if [ -n "$module" ] && [ "$insmod_ok" = 1 ] && [ "$kunit" = 0 ]; then
	rows+=("  kunit: not checked (--no-kunit: the kernel has no KUnit)")
elif [ -n "$module" ] && [ "$insmod_ok" = 1 ]; then
	read -r k_pass k_fail k_skip k_suites k_open < <(awk -v detail="$out/kunit.kqueue" '
		{
			sub(/\r$/, ""); sub(/^<[0-9]+>/, ""); sub(/^\[[^]]*\] ?/, "")
		}
		/^    # Subtest: / {
			s = $0; sub(/^    # Subtest: /, "", s)
			insuite = (s ~ /^kqueue/); sfail = 0
			if (insuite) { suites++; open_++ }
		}
		insuite { print > detail }
		insuite && /^    (not )?ok [0-9]+ / {
			if ($0 ~ /# SKIP/) skip++
			else if ($0 ~ /^    not ok/) { fail++; sfail++ }
			else pass++
			next
		}
		insuite && /^(not )?ok [0-9]+ / {
			if ($0 ~ /^not ok/ && $0 !~ /# SKIP/ && sfail == 0) fail++
			insuite = 0; open_--
		}
		END { printf "%d %d %d %d %d\n", pass, fail, skip, suites, open_ }
	' "$out/kunit")
	note=
	if [ "$k_suites" = 0 ]; then
		if [ "$kunit_seen" = 1 ] && [ "${KQ_ALLOW_NO_KUNIT:-0}" = 1 ]; then
			note="no KUnit suites (allowed)"
		else
			note="missing KUnit results"
			k_fail=$((k_fail + 1))
		fi
	elif [ "$k_open" != 0 ]; then
		note="$k_open suite(s) did not finish"
		k_fail=$((k_fail + 1))
	fi
	[ "$k_fail" = 0 ] || bad_outputs+=("kunit:$out/kunit.kqueue")
	row kunit "$k_pass" "$k_fail" "$k_skip" "$note"
fi

# Test programs (kselftest TAP).
re_totals='# Totals: pass:([0-9]+) fail:([0-9]+) xfail:([0-9]+) xpass:([0-9]+) skip:([0-9]+) error:([0-9]+)'
for t in ${expected[@]+"${expected[@]}"}; do
	f=$out/t/$t
	if [ -z "${t_begin[$t]:-}" ]; then
		if [ "$insmod_ok" = 0 ] && [ "$started" = 1 ] && [ -n "$insmod_rc" ]; then
			row "$t" 0 1 0 "not run: insmod failed"
		else
			row "$t" 0 1 0 "did not run"
		fi
		continue
	fi
	rc=${t_rc[$t]:-}
	p=0 fl=0 s=0 notes=()
	totals=$(grep -a -o -E "$re_totals" "$f" | tail -n1 || true)
	notok=$(grep -a -c -E '^[[:space:]]*not ok [0-9]' "$f" || true)
	if [[ $totals =~ $re_totals ]]; then
		p=$((BASH_REMATCH[1] + BASH_REMATCH[3] + BASH_REMATCH[4]))
		fl=$((BASH_REMATCH[2] + BASH_REMATCH[6]))
		s=${BASH_REMATCH[5]}
	elif [ "$rc" = 4 ]; then
		s=1
		notes+=("skipped, rc=4")
	else
		fl=1
		notes+=("missing result: no '# Totals:' line")
	fi
	if [ "$notok" -gt "$fl" ]; then
		notes+=("$notok 'not ok' lines")
		fl=$notok
	fi
	if [ -z "$rc" ]; then
		notes+=("did not finish")
		[ "$fl" -gt 0 ] || fl=1
	elif [ "$rc" = 4 ]; then
		[ "$s" -gt 0 ] || [ "$fl" -gt 0 ] || s=1
	elif [ "$rc" != 0 ]; then
		notes+=("rc=$rc")
		[ "$fl" -gt 0 ] || fl=1
	fi
	[ "$fl" = 0 ] || bad_outputs+=("$t:$f")
	note=
	for n in ${notes[@]+"${notes[@]}"}; do
		note+=${note:+; }$n
	done
	row "$t" "$p" "$fl" "$s" "$note"
done

if [ "$have_cmd" = 1 ]; then
	if [ "$cmd_begin" = 0 ]; then
		row cmd 0 1 0 "did not run"
	elif [ -z "$cmd_rc" ]; then
		row cmd 0 1 0 "did not finish"
		bad_outputs+=("cmd:$out/cmd")
	elif [ "$cmd_rc" = 0 ]; then
		row cmd 1 0 0
	else
		row cmd 0 1 0 "rc=$cmd_rc"
		bad_outputs+=("cmd:$out/cmd")
	fi
fi

# Kernel log gate: real reports only.
gate_re='WARNING:|BUG:|kernel BUG at|Oops|KASAN:|general protection fault|possible circular locking|possible recursive locking|inconsistent lock state|suspicious RCU usage|INFO: .*lock|sleeping function called from invalid context|Call Trace:|suspected memory leak|unreferenced object|[Kk]ernel panic|refcount_t:|UBSAN:|rust_panic|panicked at|ODEBUG:|hard LOCKUP|soft lockup|detected stalls|self-detected stall|blocked for more than'
benign_re='kmemleak: Kernel memory leak detector initialized|enqueued on deprecated workqueue'
gate() { grep -a -n -E "$gate_re" "$1" | grep -a -v -E "$benign_re" || true; }
kernel_bad=
if [ "$dmesg_seen" = 1 ]; then
	kernel_bad=$(gate "$out/dmesg")
	[ -z "$kernel_bad" ] || problem "kernel log reports (dmesg)"
else
	[ "$started" = 0 ] || problem "no kernel log (KQVM-DMESG section missing)"
fi
kml_bad=
if [ "$kml_seen" = 1 ]; then
	kml_bad=$(gate "$out/kmemleak")
	[ -z "$kml_bad" ] || problem "kmemleak reports memory leaks"
fi
console_bad=
if [ "$complete" = 0 ]; then
	console_bad=$(gate "$clean")
fi

[ "$tot_fail" = 0 ] || problem "$tot_fail failed test(s)"
if [ "$tot_skip" -gt 0 ] && [ "${KQ_ALLOW_SKIP:-0}" != 1 ]; then
	problem "$tot_skip skipped test(s) (set KQ_ALLOW_SKIP=1 to accept)"
fi

# -------------------------------------------------------------------- report

echo
if [ "$quiet" = 1 ]; then
	for b in ${bad_outputs[@]+"${bad_outputs[@]}"}; do
		n=${b%%:*} f=${b#*:}
		echo "$tag ---- output of $n (last 200 lines) ----"
		tail -n 200 "$f" 2>/dev/null || true
		echo "$tag ---- end of $n ----"
	done
	if [ -n "$insmod_rc" ] && [ "$insmod_rc" != 0 ]; then
		echo "$tag ---- end of the kernel log after the failed insmod ----"
		tail -n 30 "$out/dmesg"
		echo "$tag ---- end of kernel log ----"
	fi
	if [ "$complete" = 0 ]; then
		echo "$tag ---- last 60 lines of the console ----"
		tail -n 60 "$clean"
		echo "$tag ---- end of console ----"
	fi
fi
if [ -n "$kernel_bad" ]; then
	echo "$tag kernel log reports (line numbers within the dmesg section):"
	printf '%s\n' "$kernel_bad" | sed 's/^/    /'
fi
if [ -n "$kml_bad" ]; then
	echo "$tag kmemleak report:"
	sed 's/^/    /' "$out/kmemleak" | head -n 100
fi
if [ -n "$console_bad" ]; then
	echo "$tag kernel reports on the console (line numbers within the console log):"
	printf '%s\n' "$console_bad" | sed 's/^/    /'
fi
if [ -s "$work/qemu.out" ] && [ "$complete" = 0 ]; then
	echo "$tag QEMU said:"
	sed 's/^/    /' "$work/qemu.out"
fi

echo "$tag results (${elapsed} s):"
for r in ${rows[@]+"${rows[@]}"}; do
	echo "$r"
done
echo "$tag total: pass=$tot_pass fail=$tot_fail skip=$tot_skip"
[ -z "$results" ] || echo "pass=$tot_pass fail=$tot_fail skip=$tot_skip" >"$results"

if [ ${#problems[@]} -eq 0 ]; then
	echo "$tag PASS"
	exit 0
fi
for p in "${problems[@]}"; do
	echo "$tag FAIL: $p"
done
[ -n "$logcopy" ] || [ "$quiet" = 0 ] || echo "$tag (use --log FILE to keep the console log)"
exit 1
