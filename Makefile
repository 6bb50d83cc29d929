# cinit — build, test, install.
#
#   make          static release binaries in $(BIN)
#   make test     everything: format, lints, unit tests, namespace tests,
#                 a check that the binaries are static, `cinit-ctl check` of
#                 the sample system in services/, man pages, `make install`
#   make install  binaries, man pages, bash completion (PREFIX, DESTDIR)
#
# Static linking: glibc with +crt-static on the toolchain's own gnu target
# (see doc/DESIGN.md, "Static binaries"). Non-PIE, so `file` reports
# "statically linked".

CARGO  ?= cargo
TARGET := x86_64-unknown-linux-gnu
BIN    := target/$(TARGET)/release
STATIC_RUSTFLAGS := -C target-feature=+crt-static -C relocation-model=static
BINARIES := $(BIN)/cinit $(BIN)/cinit-ctl

.PHONY: all build static-check check-services man-check install install-aliases install-check \
        test test-unit test-ns lint sizes clean

PREFIX  ?= /usr/local
DESTDIR ?=
SBINDIR  = $(DESTDIR)$(PREFIX)/sbin
MANDIR   = $(DESTDIR)$(PREFIX)/share/man
COMPDIR  = $(DESTDIR)$(PREFIX)/share/bash-completion/completions

all: build static-check

build:
	RUSTFLAGS="$(STATIC_RUSTFLAGS)" $(CARGO) build --release --locked --target $(TARGET)

# Fails unless file(1) calls every binary statically linked.
static-check: build
	@for b in $(BINARIES); do \
	  file "$$b" | grep -q 'statically linked' || { file "$$b"; echo "not static: $$b" >&2; exit 1; }; \
	done
	@echo "static: $(BINARIES)"

sizes: build
	@stat -c '%s bytes  %n' $(BINARIES)

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

# Unit tests (pure logic, no forking).
test-unit:
	$(CARGO) test --locked --lib

# The real cinit as PID 1 in user+PID+mount namespaces.
test-ns:
	$(CARGO) test --locked --tests -- --test-threads=4

# The sample system must always pass cinit's own offline check.
check-services: build
	$(BIN)/cinit-ctl check services

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

test: lint static-check check-services man-check install-check
	$(CARGO) test --locked -- --test-threads=4

clean:
	$(CARGO) clean
