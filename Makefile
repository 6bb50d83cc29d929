# cinit — build, test, install.
#
#   make          static release binaries in $(BIN)
#   make test     everything: format, lints, unit tests, namespace tests,
#                 a check that the binaries are static and within their
#                 size budget (size-budget), `cinit-ctl check` of
#                 the sample system in services/, man pages, `make install`,
#                 the QEMU boot suite and the Debian server (test-distro)
#   make install  binaries, man pages, bash completion (PREFIX, DESTDIR)
#   make run      boot the sample system in QEMU, serial console on this
#                 terminal (Ctrl-A X quits QEMU; `poweroff` powers off)
#   make test-vm  the QEMU boot suite (part of `make test`)
#   make prev     the previous release (PREV_RELEASE) in target/prev/, for
#                 the hot-update compatibility test (part of `make test`)
#   make test-distro  a Debian bookworm server (services/debian) booted on
#                 cinit under QEMU and driven over its serial console and
#                 ssh (rootfs-test/distro/; the Debian root is built once
#                 with mmdebstrap and cached in target/distro/; part of
#                 `make test`)
#   make initramfs  the sample system's initramfs ($(SERVICES) selects the tree)
#   make bench    cinit against s6, runit and the physical limit; writes
#                 BENCHMARKS.md and bench/results.csv (bench/README.md)
#   make fuzz     every fuzz target for FUZZ_SECONDS each (doc/RELIABILITY.md);
#                 `make test` only builds them (fuzz-build)
#
# Static linking: musl where rustup can add its target, else glibc with
# +crt-static on the toolchain's own gnu target (see doc/DESIGN.md, "static
# libc"). Non-PIE, so `file` reports "statically linked". RUST_TARGET=...
# picks one by hand.

CARGO  ?= cargo
MUSL   := x86_64-unknown-linux-musl
ifeq ($(origin RUST_TARGET),undefined)
RUST_TARGET := $(shell rustup target list --installed 2>/dev/null | grep -qx $(MUSL) || \
                 timeout 300 rustup target add $(MUSL) >/dev/null 2>&1; \
                 rustup target list --installed 2>/dev/null | grep -qx $(MUSL) && echo $(MUSL) || \
                 echo x86_64-unknown-linux-gnu)
endif
export RUST_TARGET
TARGET := $(RUST_TARGET)
BIN    := target/$(TARGET)/release
STATIC_RUSTFLAGS := -C target-feature=+crt-static -C relocation-model=static
BINARIES := $(BIN)/cinit $(BIN)/cinit-ctl

.PHONY: all build static-check check-services man-check install install-aliases install-check \
        test test-unit test-ns lint sizes size-check clean vm-deps browser-deps kernel alt initramfs run test-vm \
        bench bench-deps bench-build fuzz fuzz-deps fuzz-build \
        distro-deps distro-image check-distro test-distro prev

# Shown by `cinit-ctl version`; a hot update shows which build took over.
export CINIT_BUILD_ID ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)

# The sample system under QEMU (rootfs-test/). Downloads go to $(VM).
VM        := target/vm
SERVICES  ?= services
KERNEL    := $(VM)/vmlinuz
INITRAMFS := $(VM)/initramfs.cpio.gz
STAGE     := $(VM)/rootfs
ALT_BIN   := $(VM)/alt/$(TARGET)/release/cinit
QEMU      := qemu-system-x86_64 -accel tcg -m 256 -display none -no-reboot

PREFIX  ?= /usr/local
DESTDIR ?=
SBINDIR  = $(DESTDIR)$(PREFIX)/sbin
MANDIR   = $(DESTDIR)$(PREFIX)/share/man
COMPDIR  = $(DESTDIR)$(PREFIX)/share/bash-completion/completions

all: build static-check

# cinit with the release profile (panic = "unwind": PID 1's catch_unwind
# nets), cinit-ctl with release-ctl (panic = "abort": a client may die),
# copied beside cinit so that every user of $(BIN) finds both.
build:
	RUSTFLAGS="$(STATIC_RUSTFLAGS)" $(CARGO) build --release --locked --target $(TARGET) --bin cinit
	RUSTFLAGS="$(STATIC_RUSTFLAGS)" $(CARGO) build --profile release-ctl --locked --target $(TARGET) --bin cinit-ctl
	cp --remove-destination target/$(TARGET)/release-ctl/cinit-ctl $(BIN)/cinit-ctl

# Fails unless file(1) calls every binary statically linked.
static-check: build
	@for b in $(BINARIES); do \
	  file "$$b" | grep -q 'statically linked' || { file "$$b"; echo "not static: $$b" >&2; exit 1; }; \
	done
	@echo "static: $(BINARIES)"

sizes: build
	@stat -c '%s bytes  %n' $(BINARIES)

# The size budget (size-budget): each release binary within its bytes, or
# `make test` fails. The limits are for the musl build; the glibc fallback
# is larger and not checked.
size-check: build
	@if [ "$(TARGET)" != "$(MUSL)" ]; then echo "size budget: for $(MUSL), not checked on $(TARGET)"; exit 0; fi; \
	fail=0; while read -r name limit rest; do \
	  case "$$name" in ''|'#'*) continue;; esac; \
	  size=$$(stat -c %s "$(BIN)/$$name") || exit 1; \
	  if [ "$$size" -gt "$$limit" ]; then \
	    echo "size budget: $$name is $$size bytes, over its budget of $$limit (size-budget)" >&2; fail=1; \
	  else echo "size budget: $$name $$size of $$limit bytes"; fi; \
	done < size-budget; exit $$fail

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	python3 doc/rooms.py

# Unit tests (pure logic, no forking), the test-support crate's too.
test-unit:
	$(CARGO) test --locked --workspace --lib

# The real cinit as PID 1 in user+PID+mount namespaces (the boot chart test
# needs Chromium: browser-deps; the compatibility test the previous release:
# prev).
test-ns: browser-deps prev
	CINIT_PREV_BIN=$(abspath $(PREV_BIN)/cinit) $(CARGO) test --locked --tests -- --test-threads=4

# The sample system must always pass cinit's own offline check, inside the
# root filesystem it runs in (its `on` links point at busybox applets).
check-services: initramfs
	unshare --user --map-root-user --root=$(STAGE) /bin/cinit-ctl check /etc/cinit

# The man pages must render without warnings (skipped where groff is absent).
man-check:
	@if command -v groff >/dev/null; then \
	  for m in man/*.[58]; do \
	    out=$$(groff -t -man -ww -z -Tutf8 "$$m" 2>&1); \
	    [ -z "$$out" ] || { echo "$$m: $$out" >&2; exit 1; }; \
	  done; echo "man pages: ok"; \
	else echo "man pages: groff not installed, not checked"; fi

# Binaries to $(PREFIX)/sbin, man pages, bash completion.
install: build
	install -D -m 0755 $(BIN)/cinit $(SBINDIR)/cinit
	install -D -m 0755 $(BIN)/cinit-ctl $(SBINDIR)/cinit-ctl
	install -D -m 0644 man/cinit.8 $(MANDIR)/man8/cinit.8
	install -D -m 0644 man/cinit-ctl.8 $(MANDIR)/man8/cinit-ctl.8
	install -D -m 0644 man/cinit-service.5 $(MANDIR)/man5/cinit-service.5
	install -D -m 0644 completions/cinit-ctl.bash $(COMPDIR)/cinit-ctl

# reboot, halt and poweroff as cinit-ctl: only for systems booted by cinit.
install-aliases: install
	for n in reboot halt poweroff; do ln -sf cinit-ctl $(SBINDIR)/$$n; done

# `make install` into a scratch DESTDIR must produce every file.
install-check: build
	@d=$$(mktemp -d) && $(MAKE) -s install install-aliases DESTDIR=$$d PREFIX=/usr >/dev/null && \
	for f in sbin/cinit sbin/cinit-ctl sbin/reboot share/man/man8/cinit.8 share/man/man8/cinit-ctl.8 \
	         share/man/man5/cinit-service.5 share/bash-completion/completions/cinit-ctl; do \
	  [ -e "$$d/usr/$$f" ] || { echo "install-check: missing $$f" >&2; rm -rf "$$d"; exit 1; }; \
	done; \
	[ "$$($$d/usr/sbin/reboot --help | head -1)" = "usage: cinit-ctl [--json] COMMAND [ARGS]" ] || \
	  { echo "install-check: reboot alias broken" >&2; rm -rf "$$d"; exit 1; }; \
	rm -rf "$$d"; echo "install: ok"

# The descriptor-limit boots (tests/adv_trust_limits.rs) run the static
# release binary: its libc's posix_spawn is the one that must find spares.
# The compatibility test (tests/ns_compat.rs) boots the previous release.
test: lint static-check size-check check-services man-check install-check fuzz-build browser-deps prev
	CINIT_G8_BIN=$(abspath $(BIN)/cinit) CINIT_PREV_BIN=$(abspath $(PREV_BIN)/cinit) \
	  $(CARGO) test --locked -- --test-threads=4
	$(MAKE) test-vm
	$(MAKE) test-distro

# QEMU, busybox-static, cpio, e2fsprogs (the data-disk scenario) and gcc
# (the suite's static test programs) from Debian, if missing.
vm-deps:
	@missing=""; \
	command -v qemu-system-x86_64 >/dev/null || missing="$$missing qemu-system-x86"; \
	/bin/busybox --list 2>/dev/null | grep -qx cttyhack || missing="$$missing busybox-static"; \
	command -v cpio >/dev/null || missing="$$missing cpio"; \
	command -v mkfs.ext4 >/dev/null || missing="$$missing e2fsprogs"; \
	command -v gcc >/dev/null || missing="$$missing gcc"; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# Debian's Chromium, if missing: tests/ns_timeline.rs renders the boot chart
# (`cinit-ctl analyze --svg`) in it, headless, and checks the screenshot.
browser-deps:
	@command -v chromium >/dev/null || { echo "installing chromium"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

# Debian's cloud kernel (boots in about 2 s under TCG) and its virtio modules,
# resolved through the meta package and cached by the resolved name.
kernel: $(KERNEL)
$(KERNEL):
	@mkdir -p $(VM)/deb
	@pkg=$$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $$2; exit}'); \
	if [ -z "$$pkg" ]; then apt-get update -qq; \
	  pkg=$$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/{print $$2; exit}'); fi; \
	[ -n "$$pkg" ] || { echo "cannot resolve linux-image-cloud-amd64" >&2; exit 1; }; \
	ls $(VM)/deb/$${pkg}_*.deb >/dev/null 2>&1 || (cd $(VM)/deb && apt-get download -q $$pkg 2>&1 | grep -v unsandboxed); \
	deb=$$(ls $(VM)/deb/$${pkg}_*.deb | head -1); \
	rm -rf $(VM)/kx $(VM)/modules && mkdir -p $(VM)/kx $(VM)/modules && \
	dpkg-deb --fsys-tarfile $$deb | tar -x -C $(VM)/kx --wildcards './boot/vmlinuz-*' '*/virtio*.ko' \
	  '*/failover.ko' '*/net_failover.ko' && \
	find $(VM)/kx -name '*.ko' -exec cp {} $(VM)/modules/ \; && \
	cp $(VM)/kx/boot/vmlinuz-* $@ && rm -rf $(VM)/kx && echo "kernel: $$pkg"

# virtio_net's dependencies came later than the kernel cache: a cache
# without them is unpacked again.
$(VM)/modules/net_failover.ko: $(KERNEL)
	@[ -e $@ ] || { rm -f $(KERNEL) && $(MAKE) --no-print-directory kernel; }

# A second build of cinit with another build id, for the hot-update scenario.
alt:
	CINIT_BUILD_ID=$(CINIT_BUILD_ID)-alt RUSTFLAGS="$(STATIC_RUSTFLAGS)" \
	  $(CARGO) build --release --locked --target $(TARGET) --target-dir $(VM)/alt --bin cinit

# The release users run today, for the compatibility test (tests/ns_compat.rs):
# a hot update from it to the current build must keep every service, log,
# readiness pipe, pending wait and stored descriptor. The previous release
# always updates to the current build; move PREV_RELEASE forward at each
# release (to the commit the new release tag names). Built by its hash, not
# its tag (a fresh clone may carry no tags), the full hash so that a shallow
# clone can fetch it (servers refuse an abbreviated one); from `git archive`
# into its own directory and --target-dir, so it never touches the main
# build; built once per hash (the binaries are the cache).
PREV_RELEASE := 96002b6cc14748d87eedded2ada2939c756f2ab8
PREV_DIR     := target/prev/$(PREV_RELEASE)
PREV_BIN     := $(PREV_DIR)/build/$(TARGET)/release

prev: $(PREV_BIN)/cinit
$(PREV_BIN)/cinit:
	@git cat-file -e $(PREV_RELEASE)^{commit} 2>/dev/null || \
	  git fetch -q --depth=1 origin $(PREV_RELEASE) || { \
	  echo "prev: commit $(PREV_RELEASE) (PREV_RELEASE) is not in this clone and cannot be fetched from origin;" \
	       "fetch it (git fetch origin $(PREV_RELEASE)) or clone without --depth" >&2; exit 1; }
	rm -rf $(PREV_DIR)/src && mkdir -p $(PREV_DIR)/src
	git archive $(PREV_RELEASE) | tar -x -C $(PREV_DIR)/src
	cd $(PREV_DIR)/src && CINIT_BUILD_ID=$(shell printf %.7s $(PREV_RELEASE)) RUSTFLAGS="$(STATIC_RUSTFLAGS)" \
	  $(CARGO) build --release --locked --target $(TARGET) --target-dir $(abspath $(PREV_DIR)/build) \
	  --bin cinit --bin cinit-ctl

# The static programs the QEMU suite's test services run (rootfs-test/vm-tools/),
# without libc like bench/*.c (-ffreestanding: no loop becomes a libc call).
VM_TOOLS := $(VM)/tools
$(VM_TOOLS)/forkstorm: rootfs-test/vm-tools/forkstorm.c | vm-deps
	@mkdir -p $(VM_TOOLS)
	gcc -static -nostdlib -ffreestanding -Os -fno-pie -no-pie -fno-asynchronous-unwind-tables \
	  -fno-stack-protector -s -Wall -o $@ $<

initramfs: build vm-deps kernel alt $(VM_TOOLS)/forkstorm
	rootfs-test/mkinitramfs.sh $(INITRAMFS) $(STAGE) $(BIN) $(SERVICES) $(VM)/modules $(ALT_BIN) $(VM_TOOLS)

run: initramfs
	$(QEMU) -serial mon:stdio -kernel $(KERNEL) -initrd $(INITRAMFS) \
	  -append "console=ttyS0 panic=-1 quiet $(APPEND)"

# The boot suite: tests/vm/ drives QEMU over the serial console.
test-vm: initramfs browser-deps
	CINIT_VM_KERNEL=$(abspath $(KERNEL)) CINIT_VM_INITRD=$(abspath $(INITRAMFS)) \
	  $(CARGO) test --locked --test vm -- --ignored --test-threads=2

# A real distribution on cinit (rootfs-test/distro/README.md): a Debian
# bookworm root built with mmdebstrap (cached in $(DISTRO) by a hash of its
# package list and build script), completed per run with cinit, the
# services/debian tree and a fresh ssh key into an ext4 image, booted under
# QEMU by tests/distro/.
DISTRO     := target/distro
DISTRO_RUN := $(DISTRO)/run

distro-deps: vm-deps
	@missing=""; \
	command -v mmdebstrap >/dev/null || missing="$$missing mmdebstrap"; \
	command -v ssh >/dev/null || missing="$$missing openssh-client"; \
	command -v curl >/dev/null || missing="$$missing curl"; \
	command -v unshare >/dev/null || missing="$$missing util-linux"; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

distro-image: build distro-deps kernel $(VM)/modules/net_failover.ko
	@root=$$(rootfs-test/distro/mkroot.sh $(DISTRO)) && \
	rm -f $(DISTRO)/key $(DISTRO)/key.pub && \
	ssh-keygen -q -t ed25519 -N '' -C cinit-test-distro -f $(DISTRO)/key && \
	rootfs-test/distro/mkimage.sh $(DISTRO_RUN) $$root $(BIN) services/debian $(VM)/modules \
	  $(DISTRO)/key.pub && echo "distro image: $(DISTRO_RUN)/root.img"

# The example tree must pass cinit's own check inside the root it runs in.
check-distro: distro-image
	unshare --user --map-root-user --root=$(DISTRO_RUN)/root /sbin/cinit-ctl check /etc/cinit

test-distro: check-distro
	CINIT_DISTRO_KERNEL=$(abspath $(KERNEL)) CINIT_DISTRO_INITRD=$(abspath $(DISTRO_RUN)/initramfs.cpio.gz) \
	CINIT_DISTRO_IMAGE=$(abspath $(DISTRO_RUN)/root.img) CINIT_DISTRO_KEY=$(abspath $(DISTRO)/key) \
	  $(CARGO) test --locked --test distro -- --ignored --test-threads=1

# The benchmarks (bench/README.md): not part of `make test`. BENCH_RUNS
# repeats each measurement (at least 5 for a report).
BENCH      := $(abspath target/bench)
BENCH_RUNS ?= 5
# Runs of the measurements with 10 000 services (at most BENCH_RUNS).
BENCH_BIG_RUNS ?= 3
BENCH_CC   := gcc -static -nostdlib -Os -fno-pie -no-pie -fno-asynchronous-unwind-tables \
              -fno-stack-protector -s

bench-deps: vm-deps
	@missing=""; \
	command -v runsvdir >/dev/null || missing="$$missing runit"; \
	command -v s6-svscan >/dev/null || missing="$$missing s6"; \
	command -v tini-static >/dev/null || missing="$$missing tini"; \
	command -v hyperfine >/dev/null || missing="$$missing hyperfine"; \
	command -v gcc >/dev/null || missing="$$missing gcc"; \
	command -v python3 >/dev/null || missing="$$missing python3"; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

bench-build: build alt
	RUSTFLAGS="$(STATIC_RUSTFLAGS)" $(CARGO) build --release --locked --target $(TARGET) \
	  --example floor --example bench-ipc
	@mkdir -p $(BENCH)/bin
	$(BENCH_CC) -DREADY_FIFO='"$(BENCH)/ready"' -o $(BENCH)/bin/pause bench/pause.c
	$(BENCH_CC) -o $(BENCH)/bin/noop bench/noop.c
	gcc -static -O2 -o $(BENCH)/bin/limit bench/limit.c

bench: bench-deps bench-build initramfs
	python3 bench/bench.py --repo . --work $(BENCH) --runs $(BENCH_RUNS) --big-runs $(BENCH_BIG_RUNS) \
	  --target $(TARGET) \
	  --cinit $(BIN)/cinit --ctl $(BIN)/cinit-ctl --alt $(ALT_BIN) \
	  --ipc $(BIN)/examples/bench-ipc --floor $(BIN)/examples/floor \
	  --pause $(BENCH)/bin/pause --fifo $(BENCH)/ready --noop $(BENCH)/bin/noop \
	  --limit $(BENCH)/bin/limit --kernel $(KERNEL) --initrd $(INITRAMFS) \
	  --analysis bench/analysis.md --out BENCHMARKS.md --csv bench/results.csv \
	  --command "make bench$(if $(filter-out 5,$(BENCH_RUNS)), BENCH_RUNS=$(BENCH_RUNS))$(if $(filter-out 3,$(BENCH_BIG_RUNS)), BENCH_BIG_RUNS=$(BENCH_BIG_RUNS))"

# Fuzzing (doc/RELIABILITY.md, "Fuzzing"): cargo-fuzz and libFuzzer on the
# nightly toolchain; fuzz/ is a crate of its own, outside the main build.
# `make fuzz` runs each target for FUZZ_SECONDS on one core, after seeding
# its corpus from the golden encodings (fuzz/seeds.sh); a crash fails it and
# leaves the input in fuzz/artifacts/TARGET/.
FUZZ_TARGETS := proto_decode proto_stream svc_config snapshot_decode notify_msg
FUZZ_SECONDS ?= 60
FUZZ_LOGS    := target/fuzz
FUZZ_CARGO   := $(CARGO) +nightly fuzz

fuzz-deps:
	@rustup toolchain list | grep -q '^nightly-' || \
	  timeout 600 rustup toolchain install nightly --profile minimal
	@$(FUZZ_CARGO) --version >/dev/null 2>&1 || $(CARGO) install --locked cargo-fuzz
	@command -v c++ >/dev/null || { echo "installing g++"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends g++ >/dev/null; }

fuzz-build: fuzz-deps
	$(FUZZ_CARGO) build

# -max_len: a request frame fits in 4096 bytes; proto_stream's input holds
# chunk sizes and a stream of more than two maximal frames.
fuzz: fuzz-build
	@fuzz/seeds.sh
	@mkdir -p $(FUZZ_LOGS)
	@for t in $(FUZZ_TARGETS); do \
	  case $$t in proto_stream) len=9000;; *) len=4096;; esac; \
	  log=$(FUZZ_LOGS)/$$t.log; \
	  echo "fuzz $$t: $(FUZZ_SECONDS) s (log: $$log)"; \
	  $(FUZZ_CARGO) run $$t -- -max_total_time=$(FUZZ_SECONDS) -max_len=$$len -timeout=10 \
	    -malloc_limit_mb=64 -print_final_stats=1 >$$log 2>&1 || \
	    { tail -n 40 $$log; echo "fuzz $$t: FAILED, input in fuzz/artifacts/$$t/" >&2; exit 1; }; \
	  runs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $$log); \
	  echo "fuzz $$t: $$runs executions, no crash"; \
	done

clean:
	$(CARGO) clean
	rm -rf fuzz/target
