# cinit — build, test, install.
#
#   make          static release binaries in $(BIN)
#   make test     everything: format, lints, unit tests, namespace tests,
#                 a check that the binaries are static, and `cinit-ctl check`
#                 of the sample system in services/
#
# Static linking: glibc with +crt-static on the toolchain's own gnu target
# (see doc/DESIGN.md, "Static binaries"). Non-PIE, so `file` reports
# "statically linked".

CARGO  ?= cargo
TARGET := x86_64-unknown-linux-gnu
BIN    := target/$(TARGET)/release
STATIC_RUSTFLAGS := -C target-feature=+crt-static -C relocation-model=static
BINARIES := $(BIN)/cinit $(BIN)/cinit-ctl

.PHONY: all build static-check check-services test test-unit test-ns lint sizes clean

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

test: lint static-check check-services
	$(CARGO) test --locked -- --test-threads=4

clean:
	$(CARGO) clean
