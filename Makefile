# The two commands: `make demo` and `make test`. Everything they need is started here.
SHELL := /bin/bash
CARGO ?= cargo
# Where cargo puts binaries (honours CARGO_TARGET_DIR and .cargo/config.toml), asked of cargo.
TARGET_DIR := $(or $(shell $(CARGO) metadata --no-deps --format-version 1 2>/dev/null | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p'),target)

.PHONY: demo test build lint fmt unit bench fuzz chaos clean

## make demo: Redis (private unless CASHOUT_REDIS__URL answers), sandbox, API and workers in
## one process; a mixed batch of Camoo cashouts driven to their final states; a summary.
demo:
	$(CARGO) build -p cashout-cli --bin cashout
	scripts/with-redis.sh $(TARGET_DIR)/debug/cashout demo

## make test: formatting, lints, then every test (unit, property, end-to-end) against a real
## Redis and the sandbox over HTTP.
test: lint
	$(CARGO) build --workspace --all-targets
	scripts/with-redis.sh scripts/run-tests.sh

build:
	$(CARGO) build --workspace --all-targets

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## make bench: release build, a private Redis and a Camoo stand-in; prints throughput, pickup,
## enqueue latency, latency-bound throughput, peak RSS and Redis cost per cashout.
## BENCH_N (20000), BENCH_RUNS (3), BENCH_SLOW_N (10000) change the sizes; BENCH_ONLY=throughput
## stops after the throughput runs (which also print CPU time per cashout of the API and worker).
bench:
	$(CARGO) build --release -p cashout-cli -p cashout-bench --bins
	scripts/with-redis.sh $(TARGET_DIR)/release/cashout-bench

## make fuzz (not part of make test): Schemathesis (pinned, from PyPI, in a venv under the target
## directory) against /openapi.json of a real `cashout api` with a producer and an admin token,
## every check; then `cashout audit` over the private Redis. FUZZ_EXAMPLES (40), FUZZ_SEED.
fuzz:
	scripts/fuzz.sh

## make chaos: 5,000 cashouts (Camoo, OMT with wrong OTPs, OMNO) through the real API and three
## workers while one worker is kill -9ed every 4 s, the API and Redis (AOF) once each, and a proxy
## before the sandbox resets, drops and delays provider calls; then the audit (see docs/testing.md).
## Exits non-zero when anything is lost, paid twice, failed-or-revoked-but-paid, an OMT account is
## locked, a history is illegal or a secret is in a log. Its own Redis: no with-redis.sh needed.
## CHAOS_N, CHAOS_WORKER_KILL_SECS, CHAOS_RESET/DROP/DELAY, CHAOS_POST_SECS, CHAOS_MIN_FAULT_SECS,
## CHAOS_MANUAL_EVERY, CHAOS_APPENDFSYNC, CHAOS_LOG, CHAOS_DIR, CHAOS_SHORT=1 (see docs/testing.md).
chaos:
	$(CARGO) build -p cashout-cli --bin cashout
	$(CARGO) run -p cashout-chaos --bin cashout-chaos

clean:
	$(CARGO) clean
	rm -rf .cashout
