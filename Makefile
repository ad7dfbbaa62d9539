# Bulwark: the two commands a newcomer needs are `make run` and `make test`.
# Both install what is missing (Debian packages, as root) before building.

SWIFT ?= swift
CONFIG ?= etc/bulwark.toml
# systemd: systemd-analyze checks the shipped unit in the tests.
APT_PACKAGES = libjemalloc-dev systemd
# The hostile suite: iptables for a black-holed backend, iproute2 for network namespaces.
APT_PACKAGES += iptables iproute2
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps build release run test test-unit test-tsan test-asan test-hostile fuzz bench bench-stats bench-upgrade bench-mux bench-where check clean install install-files

# `make install` (PREFIX, DESTDIR, SYSCONFDIR and UNITDIR as usual).
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
UNITDIR ?= /etc/systemd/system
BUILD_DIR ?= .build/release

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
	$(SWIFT) build -c release --product bulwark-chat
	$(SWIFT) build -c release --product bulwark-bench

# Starts the bundled echo and chat backends and bulwark on the shipped config: `nc 127.0.0.1 7000`
# echoes through the TCP relay, `nc 127.0.0.1 7100` chats through the mux listener.
run: release
	scripts/run-demo.sh $(CONFIG)

check: release
	.build/release/bulwark check -c $(CONFIG)

# Every test: unit and real-socket tests, scenario tests against the built binary, the engine
# and relay tests again under ThreadSanitizer, then the hostile suite with a 2-minute soak.
test: deps
	$(SWIFT) build
	$(SWIFT) test
	$(MAKE) test-tsan
	$(MAKE) test-hostile HOSTILE_SOAK_SECONDS=120

test-unit: deps
	$(SWIFT) build
	$(SWIFT) test

test-tsan: deps
	$(SWIFT) test --sanitize=thread --scratch-path .build-tsan --filter 'EngineTests|GatewayTests|ControlTests|BulwarkBackendTests'

# The engine, relay and control tests and the fuzz corpora under AddressSanitizer.
test-asan: deps
	$(SWIFT) test --sanitize=address --scratch-path .build-asan --filter 'EngineTests|GatewayTests|ControlTests|BulwarkBackendTests|FuzzCorpusTests'

# The reliability scenarios of docs/reliability.md against the release binaries (as root; ~4 min
# plus the soak, 10 minutes unless HOSTILE_SOAK_SECONDS says otherwise; HOSTILE_ONLY=1,5,12 picks).
HOSTILE_SOAK_SECONDS ?= 600
test-hostile: deps
	$(SWIFT) build -c release
	python3 scripts/hostile/run.py --soak-seconds $(HOSTILE_SOAK_SECONDS) $(if $(HOSTILE_ONLY),--only $(HOSTILE_ONLY))

# libFuzzer on the frame decoders, the config parser, the stats commands and the backend protocol
# (Fuzz/; FUZZ_SECONDS per target, default 120; FUZZ_TARGETS to pick): grows and minimizes the
# committed corpora, which `make test` replays (FuzzCorpusTests).
fuzz: deps
	scripts/fuzz/run.sh

# Side-by-side benchmark against HAProxy and nginx (installs them when missing).
bench: deps release
	scripts/bench/run.sh

# `show conns limit 10000` looped while 9,000 connections are open: pingpong p99 with the loop
# against without it (scripts/bench/stats_under_load.py; knobs in its header; ~2 min).
# BUILD_LOCK=/tmp/swiftbuild.lock builds under flock(1), as on shared dev machines.
bench-stats: deps
	$(if $(BUILD_LOCK),flock $(BUILD_LOCK)) $(SWIFT) build -c release
	python3 scripts/bench/stats_under_load.py

# Binaries to $(PREFIX)/bin, the config to $(SYSCONFDIR)/bulwark/bulwark.toml (never over an
# existing one; its stats socket moved to /run/bulwark, the unit's RuntimeDirectory, since the
# service's /tmp is private), the unit (its paths following PREFIX and SYSCONFDIR) and the docs.
install: release install-files

install-files:
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(SYSCONFDIR)/bulwark $(DESTDIR)$(UNITDIR) $(DESTDIR)$(PREFIX)/share/doc/bulwark
	install -m 0755 $(BUILD_DIR)/bulwark $(BUILD_DIR)/bulwarkctl $(DESTDIR)$(PREFIX)/bin/
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/bulwark/bulwark.toml ]; then \
		echo "keeping the existing $(DESTDIR)$(SYSCONFDIR)/bulwark/bulwark.toml"; \
	else \
		sed 's|^socket = "/tmp/bulwark.sock"|socket = "/run/bulwark/admin.sock"|' etc/bulwark.toml \
			> $(DESTDIR)$(SYSCONFDIR)/bulwark/bulwark.toml; \
	fi
	sed -e 's|/usr/local/bin/|$(PREFIX)/bin/|g' -e 's|/usr/local/share/|$(PREFIX)/share/|g' \
		-e 's|/etc/bulwark/|$(SYSCONFDIR)/bulwark/|g' systemd/bulwark.service > $(DESTDIR)$(UNITDIR)/bulwark.service
	install -m 0644 README.md docs/*.md $(DESTDIR)$(PREFIX)/share/doc/bulwark/
	@echo "installed; as root: useradd --system --no-create-home bulwark && systemctl daemon-reload && systemctl enable --now bulwark"

# Hot upgrade under load, Bulwark (SIGUSR2: new binary) and HAProxy -W (SIGUSR2: reload) side
# by side: 2,000 live connections, 10 upgrades in a row (scripts/tests/upgrade_under_load.py).
bench-upgrade: deps release
	python3 scripts/tests/upgrade_under_load.py --bulwark .build/release/bulwark --echo .build/release/bulwark-echo
	python3 scripts/tests/upgrade_under_load.py --target haproxy --bulwark .build/release/bulwark --echo .build/release/bulwark-echo

# Where a relayed round trip's and connection's CPU goes, Bulwark next to HAProxy, nginx and the
# echo alone: user and system time, context switches, syscalls by kind and TCP segments per
# operation (scripts/bench/where_time_goes.py; installs perf and the peers when missing; ~10 min).
WHERE_PACKAGES := linux-perf iproute2 haproxy nginx libnginx-mod-stream
bench-where: deps release
	@missing=""; for p in $(WHERE_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	python3 scripts/bench/where_time_goes.py

# Mux listener figures next to the TCP relay: pingpong through each, a broadcast to 8,000 sessions.
bench-mux: deps release
	python3 scripts/bench/mux_bench.py

clean:
	rm -rf .build .build-tsan
