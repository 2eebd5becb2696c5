#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# /init of the kqueue test VM. Runs under busybox sh as PID 1 inside the
# initramfs built by selftests/vm/run-vm.sh, which also parses the markers
# this script prints on the serial console:
#
#   KQVM-START <kernel release>
#   KQVM-PRELOAD <name> rc=<n>             (one per /kqvm/preload/*.ko)
#   KQVM-INSMOD rc=<n>                     (only with a module)
#   KQVM-KUNIT-BEGIN ... KQVM-KUNIT-END    (KTAP lines of dmesg after insmod)
#   KQVM-BEGIN <test> ... KQVM-END <test> rc=<n>   (one block per test program)
#   KQVM-CMD-BEGIN ... KQVM-CMD-END rc=<n> (the --cmd command)
#   KQVM-RMMOD rc=<n>                      (only with a module)
#   KQVM-KMEMLEAK-BEGIN ... KQVM-KMEMLEAK-END      (only with kmemleak)
#   KQVM-DMESG-BEGIN ... KQVM-DMESG-END
#   KQVM-DONE
#
# Inputs, placed in the initramfs by the host:
#   /kqvm/preload/*.ko   modules to load first, in sorted order
#   /kqvm/modules/*.ko   module to load (at most one)
#   /kqvm/module-args    its parameters (NAME=VALUE ...), also exported to
#                        the tests as KQ_<NAME in capitals>=VALUE
#   /kqvm/cmd            shell command to run after the tests
#   /tests/              test programs (each executable file, in sorted order)
#   /extra/              extra files; the command runs there
#
# Do not use `set -e`: PID 1 must never exit before `reboot -f`.

export PATH=/bin:/sbin:/usr/bin:/usr/sbin:/extra
export HOME=/root
export LC_ALL=C

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=0620,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=0755 tmpfs /run
if [ -d /sys/kernel/debug ]; then
	mount -t debugfs debugfs /sys/kernel/debug
fi
[ -e /dev/ptmx ] || ln -s pts/ptmx /dev/ptmx
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
[ -e /dev/stdin ] || ln -s /proc/self/fd/0 /dev/stdin
[ -e /dev/stdout ] || ln -s /proc/self/fd/1 /dev/stdout
[ -e /dev/stderr ] || ln -s /proc/self/fd/2 /dev/stderr

mkdir -p /etc /root
cat >/etc/passwd <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >/etc/group <<'EOF'
root:x:0:
tty:x:5:
nogroup:x:65534:
EOF
hostname kqvm
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up 2>/dev/null
# shellcheck disable=SC3045  # busybox sh has ulimit -c
ulimit -c 0

echo "KQVM-START $(uname -r)"

module=
for m in /kqvm/modules/*.ko; do
	[ -f "$m" ] && module=$m
done

insmod_ok=1
for m in /kqvm/preload/*.ko; do
	[ -f "$m" ] || continue
	insmod "$m"
	rc=$?
	echo "KQVM-PRELOAD ${m##*/} rc=$rc"
	[ "$rc" = 0 ] || insmod_ok=0
done
margs=
[ -f /kqvm/module-args ] && margs=$(cat /kqvm/module-args)
for a in $margs; do
	n=$(echo "${a%%=*}" | tr 'a-z' 'A-Z')
	export "KQ_$n=${a#*=}"
done
if [ -n "$module" ]; then
	# shellcheck disable=SC2086  # one word per parameter
	insmod "$module" $margs
	rc=$?
	echo "KQVM-INSMOD rc=$rc"
	[ "$rc" = 0 ] || insmod_ok=0
	# KUnit suites of a module run synchronously during its init.
	echo "KQVM-KUNIT-BEGIN"
	dmesg | grep -E 'KTAP version|# Subtest:|# module:|1\.\.[0-9]|(^|[] ])(not )?ok [0-9]|    # '
	echo "KQVM-KUNIT-END"
fi

if [ "$insmod_ok" = 1 ]; then
	for t in /tests/*; do
		if [ ! -f "$t" ] || [ ! -x "$t" ]; then
			continue
		fi
		name=${t##*/}
		echo "KQVM-BEGIN $name"
		(cd /tmp && "$t" </dev/null 2>&1)
		rc=$?
		echo "KQVM-END $name rc=$rc"
	done
	if [ -f /kqvm/cmd ]; then
		echo "KQVM-CMD-BEGIN"
		(
			cd /extra 2>/dev/null || cd /tmp || exit 1
			sh -c "$(cat /kqvm/cmd)" </dev/null 2>&1
		)
		rc=$?
		echo "KQVM-CMD-END rc=$rc"
	fi
else
	echo "insmod failed: not running the tests"
fi

if [ -n "$module" ] && [ "$insmod_ok" = 1 ]; then
	name=${module##*/}
	rmmod "${name%.ko}"
	rc=$?
	echo "KQVM-RMMOD rc=$rc"
fi

kml=/sys/kernel/debug/kmemleak
if [ -e "$kml" ]; then
	# Objects younger than 5 s are never reported, and an object is only
	# reported once its contents did not change between two scans.
	sleep 6
	echo scan >"$kml"
	sleep 2
	echo scan >"$kml"
	echo "KQVM-KMEMLEAK-BEGIN"
	cat "$kml"
	echo "KQVM-KMEMLEAK-END"
fi

echo "KQVM-DMESG-BEGIN"
dmesg
echo "KQVM-DMESG-END"
echo "KQVM-DONE"
sync
reboot -f
# Not reached with QEMU's -no-reboot; never let PID 1 exit.
while :; do sleep 60; done
