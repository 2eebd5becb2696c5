# SPDX-License-Identifier: GPL-2.0
#
# kqueue(2) for Linux.
#
#   make [KDIR=/path/to/kernel/build]   build kqueue.ko against your own
#                                       Rust-enabled kernel (default: the
#                                       running kernel's build tree)
#   make demo     set everything up (toolchain, kernel, module, library) and
#                 run the demo program in a QEMU VM
#   make check    lint, build and run every test on the fast and the debug
#                 kernel in QEMU; prints "N passed, N failed"
#   make bench    benchmarks against epoll in one VM boot (wall-clock TCG);
#                 table on stdout, results in build/bench.json, cost-growth
#                 plots in doc/bench-{wait,register}.svg
#   make bench-icount
#                 the same with QEMU -icount (guest time = instruction count:
#                 repeatable from boot to boot, independent of host load);
#                 build/bench-icount.json, doc/bench-icount-*.svg
#   make bench-plot  redraw the plots from build/bench.json (no VM)
#   make fuzz     the fuzzer (selftests/fuzz) in the VM: debug kernel, 120 s,
#                 random seed; FUZZ_ARGS="--kernel fast --seconds N --seed S ..."
#   make setup    only install the toolchain and build the test kernels
#   make dkms     install the module with DKMS on Debian's own kernel (as
#                 root; doc/debian.md)
#   make clean
#
# The kernel bits (Kbuild) live in ./Kbuild; the scripts in scripts/.

KDIR ?= /lib/modules/$(shell uname -r)/build

.PHONY: all module demo check bench bench-icount bench-plot fuzz setup dkms clean

all: module

module:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

demo:
	scripts/demo.sh

check:
	scripts/check.sh

bench:
	scripts/bench.sh

bench-icount:
	scripts/bench.sh --icount

bench-plot:
	scripts/bench-plot.sh build/bench.json

fuzz:
	scripts/fuzz.sh $(FUZZ_ARGS)

setup:
	scripts/setup.sh all

dkms:
	scripts/dkms/install.sh

clean:
	rm -rf build
	$(MAKE) -C userspace-lib clean
	$(MAKE) -C selftests clean
	$(MAKE) -C selftests/bench clean
	$(MAKE) -C selftests/fuzz clean
