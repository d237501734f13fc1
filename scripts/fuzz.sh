#!/usr/bin/env bash
# make fuzz: Schemathesis against the running API's /openapi.json, then an audit of what was
# stored. Everything is private to this run: a redis-server on a free port (empty, no
# persistence), `cashout sandbox`, `cashout api` and `cashout worker` as real processes
# configured by environment variables, and a Python venv with a pinned Schemathesis from PyPI.
#
# Passes only when both runs (producer token, then admin token) end with no failed check (no
# server error, no answer that contradicts the document, every check Schemathesis has) and
# `cashout audit` finds every stored cashout record valid.
#
# FUZZ_EXAMPLES (default 40) bounds the examples per operation and phase, FUZZ_SEED (default
# 20240612) makes a run repeatable. Output and logs go to target/fuzz/.
set -euo pipefail

cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
EXAMPLES="${FUZZ_EXAMPLES:-40}"
SEED="${FUZZ_SEED:-20240612}"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# The binary's path from cargo itself, so that CARGO_TARGET_DIR is honoured.
cargo build -p cashout-cli --bin cashout
target_dir=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
bin="$target_dir/debug/cashout"
out="$target_dir/fuzz"
rm -rf "$out"
mkdir -p "$out"

venv="$target_dir/fuzz-venv"
if ! "$venv/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  echo "installing schemathesis $SCHEMATHESIS_VERSION into $venv…" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >&2
  else
    echo "redis-server is missing: install it (Debian: sudo apt-get install redis-server)" >&2
    exit 1
  fi
fi

pids=()
redis_port=$(free_port)
stop() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
}
trap stop EXIT

redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$out" --logfile "$out/redis.log" --daemonize yes --pidfile "$out/redis.pid" >/dev/null
for _ in $(seq 1 50); do
  redis-cli -p "$redis_port" ping 2>/dev/null | grep -q PONG && break
  sleep 0.1
done

sandbox_port=$(free_port)
api_port=$(free_port)
metrics_port=$(free_port)
producer_token="fuzz-producer-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
admin_token="fuzz-admin-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
sandbox="http://127.0.0.1:$sandbox_port"

export CASHOUT_REDIS__URL="redis://127.0.0.1:$redis_port"
export CASHOUT_REDIS__PREFIX=fuzz
export CASHOUT_API__LISTEN="127.0.0.1:$api_port"
export CASHOUT_API__TOKENS="fuzzer:$producer_token"
export CASHOUT_API__ADMIN_TOKENS="fuzz-ops:$admin_token"
export CASHOUT_SANDBOX__LISTEN="127.0.0.1:$sandbox_port"
export CASHOUT_WORKER__METRICS_LISTEN="127.0.0.1:$metrics_port"
export CASHOUT_PROVIDERS__CAMOO__BASE_URL="$sandbox/camoo/v1/payment"
export CASHOUT_PROVIDERS__CAMOO__API_KEY=sandbox-key
export CASHOUT_PROVIDERS__CAMOO__API_SECRET=sandbox-secret
export CASHOUT_PROVIDERS__OMT__BASE_URL="$sandbox/omt"
export CASHOUT_PROVIDERS__OMT__USERNAME=sandbox-user
export CASHOUT_PROVIDERS__OMT__PASSWORD=sandbox-pass
export CASHOUT_PROVIDERS__OMNO__BASE_URL="$sandbox/omno"
export CASHOUT_PROVIDERS__OMNO__TOKEN=sandbox-omno-token
export RUST_LOG="${RUST_LOG:-info}"

"$bin" sandbox >"$out/sandbox.log" 2>&1 &
pids+=($!)
"$bin" api >"$out/api.log" 2>&1 &
pids+=($!)
"$bin" worker >"$out/worker.log" 2>&1 &
pids+=($!)

for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$api_port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$api_port/readyz" >/dev/null || {
  echo "the API did not become ready; see $out/api.log" >&2
  exit 1
}

status=0
run() {
  local who=$1 token=$2
  echo "== schemathesis as the $who token ==" >&2
  "$venv/bin/st" run "http://127.0.0.1:$api_port/openapi.json" \
    --header "Authorization: Bearer $token" \
    --checks all \
    --max-examples "$EXAMPLES" \
    --seed "$SEED" \
    --workers 1 \
    --no-color \
    --request-timeout 10 \
    --report junit --report-junit-path "$out/$who.junit.xml" \
    2>&1 | tee "$out/$who.txt" || status=1
}
run producer "$producer_token"
run admin "$admin_token"

echo "== audit of the stored records ==" >&2
"$bin" audit 2>&1 | tee "$out/audit.txt" || status=1
for p in "${pids[@]}"; do
  if ! kill -0 "$p" 2>/dev/null; then
    echo "a process of this run died (pid $p); see $out/*.log" >&2
    status=1
  fi
done
if grep -q "panicked" "$out"/*.log; then
  echo "a panic was logged; see $out/*.log" >&2
  status=1
fi
exit "$status"
