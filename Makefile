# Bulwark: the two commands a newcomer needs are `make run` and `make test`.
# Both install what is missing (Debian packages, as root) before building.

SWIFT ?= swift
CONFIG ?= etc/bulwark.toml
APT_PACKAGES = libjemalloc-dev
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps build release run test test-unit test-tsan bench check clean

all: build

# Installs the Debian packages the build needs when they are missing.
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@# The metrics test checks `show metrics` with a real Prometheus parser.
	@python3 -c "import prometheus_client" 2>/dev/null || python3 -m pip install -q prometheus_client

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --product bulwark
	$(SWIFT) build -c release --product bulwarkctl
	$(SWIFT) build -c release --product bulwark-echo
	$(SWIFT) build -c release --product bulwark-bench

# Starts the bundled echo backend and bulwark on the shipped config: `nc 127.0.0.1 7000` echoes.
run: release
	scripts/run-demo.sh $(CONFIG)

check: release
	.build/release/bulwark check -c $(CONFIG)

# Every test: unit and real-socket tests, scenario tests against the built binary, then the
# engine and relay tests again under ThreadSanitizer.
test: deps
	$(SWIFT) build
	$(SWIFT) test
	$(MAKE) test-tsan

test-unit: deps
	$(SWIFT) build
	$(SWIFT) test

test-tsan: deps
	$(SWIFT) test --sanitize=thread --scratch-path .build-tsan --filter 'EngineTests|GatewayTests|ControlTests'

# Side-by-side benchmark against HAProxy and nginx (installs them when missing).
bench: deps release
	scripts/bench/run.sh

clean:
	rm -rf .build .build-tsan
