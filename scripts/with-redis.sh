#!/usr/bin/env bash
# Runs a command with CASHOUT_REDIS__URL pointing at a Redis that answers.
# - CASHOUT_REDIS__URL set and reachable: used as is.
# - otherwise: a private redis-server on a free loopback port, data under .cashout/redis,
#   stopped when the command ends. redis-server is installed with apt-get when missing and we
#   are root; otherwise we say what to install.
set -euo pipefail

cd "$(dirname "$0")/.."

ping_url() {
  command -v redis-cli >/dev/null 2>&1 && redis-cli -u "$1" ping 2>/dev/null | grep -q PONG
}

if [ -n "${CASHOUT_REDIS__URL:-}" ] && ping_url "$CASHOUT_REDIS__URL"; then
  echo "using Redis at ${CASHOUT_REDIS__URL%%@*}…" | sed 's#//[^:]*:[^@]*@#//***@#' >&2
  exec "$@"
fi
if [ -n "${CASHOUT_REDIS__URL:-}" ]; then
  echo "CASHOUT_REDIS__URL does not answer; starting a private redis-server" >&2
fi

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing redis-server with apt-get…" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >&2
  else
    echo "redis-server is missing: install it (Debian: sudo apt-get install redis-server)" >&2
    echo "or set CASHOUT_REDIS__URL to a Redis that answers" >&2
    exit 1
  fi
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
  || shuf -i 20000-60000 -n 1)
dir="$PWD/.cashout/redis-$port"
mkdir -p "$dir"
redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --dir "$dir" \
  --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
  --save "" --appendonly yes --appendfsync everysec >/dev/null
stop() {
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT
for _ in $(seq 1 50); do
  redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break
  sleep 0.1
done
export CASHOUT_REDIS__URL="redis://127.0.0.1:$port"
echo "started a private redis-server at $CASHOUT_REDIS__URL" >&2
"$@"
