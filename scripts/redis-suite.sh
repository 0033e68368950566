#!/usr/bin/env bash
# Runs Redis 7.0.15's own test suite (BSD-licensed, from Debian's source package) against a
# ringkv node: the string, incr, expire, keyspace, bitops and bitfield units, the malformed-input tests of
# unit/protocol and the keyspace SCAN tests of unit/scan. Tests that need other data types (lists, sets, hashes, zsets, streams), MEMORY
# USAGE, or server internals are skipped by name in test/redis-suite/skiplist.txt, each with its
# reason. Exits non-zero if any test fails; the server is always killed by PID at the end.
#
# Usage: scripts/redis-suite.sh [memory|rocksdb] [extra runtest args...]
#   REDIS_SUITE_SERVER=launcher runs test/redis-suite/launcher.ts (the node's
#     composition plus shims for harness-only commands ringkv lacks, e.g. FUNCTION FLUSH);
#   REDIS_SUITE_SERVER=cli (default) builds (`npm run build`) and runs `node dist/cli/main.js start`.
#   REDIS_SUITE_NO_BUILD=1  with cli: skip the build (use the existing dist/)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENGINE="${1:-memory}"
shift || true
SRC_DIR="$ROOT/.redis-src"
SUITE_DIR="$ROOT/test/redis-suite"

fetch_source() {
  if ls -d "$SRC_DIR"/redis-7.0.*/tests >/dev/null 2>&1; then return; fi
  echo "redis-suite: fetching the Redis source package (apt-get source redis)"
  local sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  # Mirror the machine's binary sources as deb-src (deb822 or one-line format).
  if ! grep -rqs '^Types:.*deb-src\|^deb-src ' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
      sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
        | $sudo tee /etc/apt/sources.list.d/debian-src.sources >/dev/null
    elif [ -f /etc/apt/sources.list ]; then
      grep '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' \
        | $sudo tee /etc/apt/sources.list.d/debian-src.list >/dev/null
    else
      echo "redis-suite: no apt sources found to mirror" >&2
      exit 2
    fi
  fi
  $sudo apt-get update -qq
  mkdir -p "$SRC_DIR"
  (cd "$SRC_DIR" && apt-get source -qq redis)
}

ensure_tclsh() {
  if command -v tclsh >/dev/null 2>&1; then return; fi
  local sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  $sudo apt-get install -y -qq tcl
}

fetch_source
ensure_tclsh
TESTS_DIR="$(ls -d "$SRC_DIR"/redis-7.0.*/ | head -n1)"

SERVER_KIND="${REDIS_SUITE_SERVER:-cli}"
if [ "$SERVER_KIND" = cli ] && [ "${REDIS_SUITE_NO_BUILD:-0}" != 1 ]; then
  (cd "$ROOT" && npm run build --silent)
fi

# A free high port on loopback.
PORT="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

if [ "$SERVER_KIND" = cli ]; then
  node "$ROOT/dist/cli/main.js" start --engine "$ENGINE" --host 127.0.0.1 --resp-port "$PORT" --http-port 0 \
    --data-dir "$WORK/data" --log-level warn >"$WORK/server.log" 2>&1 &
else
  (cd "$ROOT" && exec node --import tsx test/redis-suite/launcher.ts --engine "$ENGINE" --port "$PORT" \
    --data-dir "$WORK/data") >"$WORK/server.log" 2>&1 &
fi
SERVER_PID=$!

for _ in $(seq 1 100); do
  if redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null | grep -q PONG; then break; fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "redis-suite: server exited early:" >&2
    cat "$WORK/server.log" >&2
    exit 2
  fi
  sleep 0.1
done

# The skip list carries a reason after each name ("name  # reason"); runtest wants bare names.
SKIPFILE="$WORK/skipfile.txt"
sed -e 's/[[:space:]]*#.*$//' -e '/^[[:space:]]*$/d' "$SUITE_DIR/skiplist.txt" >"$SKIPFILE"

TAGS="-needs:repl -needs:debug -needs:save -needs:config-maxmemory -needs:reset -needs:config-resetstat -needs:pfdebug"
COMMON=(--host 127.0.0.1 --port "$PORT" --singledb --ignore-encoding --ignore-digest --clients 1 --timeout 600 --tags "$TAGS")

# Run 1: the data units, everything except the skip list (bitops and bitfield go beyond the
# required set).
UNITS=(--single unit/type/string --single unit/type/incr --single unit/expire --single unit/keyspace
  --single unit/bitops --single unit/bitfield)
# Run 2: the malformed-input tests of unit/protocol (the rest of that unit exercises sets,
# MULTI and DEBUG protocol replies).
PROTOCOL_ONLY=(
  "Handle an empty query" "Negative multibulk length" "Out of range multibulk length"
  "Wrong multibulk payload header" "Negative multibulk payload length"
  "Out of range multibulk payload length" "Non-number multibulk payload length"
  "Multi bulk request not followed by bulk arguments" "Generic wrong number of args"
  "Unbalanced number of quotes" "/^Protocol desync regression test" "test large number of args"
)
ONLY_ARGS=()
for t in "${PROTOCOL_ONLY[@]}"; do ONLY_ARGS+=(--only "$t"); done
# Run 3: the keyspace SCAN tests of unit/scan (the rest of that unit is SSCAN/HSCAN/ZSCAN).
SCAN_ONLY=(--only "SCAN basic" --only "SCAN COUNT" --only "SCAN MATCH" --only "SCAN TYPE"
  --only "SCAN guarantees check under write load")

set +e
(cd "$TESTS_DIR" && ./runtest "${COMMON[@]}" --skipfile "$SKIPFILE" "${UNITS[@]}" "$@") 2>&1 | tee "$WORK/runtest.log"
STATUS=${PIPESTATUS[0]}
(cd "$TESTS_DIR" && ./runtest "${COMMON[@]}" --single unit/protocol "${ONLY_ARGS[@]}" "$@") 2>&1 | tee -a "$WORK/runtest.log"
STATUS2=${PIPESTATUS[0]}
(cd "$TESTS_DIR" && ./runtest "${COMMON[@]}" --single unit/scan "${SCAN_ONLY[@]}" "$@") 2>&1 | tee -a "$WORK/runtest.log"
STATUS3=${PIPESTATUS[0]}
set -e
if [ "$STATUS2" != 0 ]; then STATUS=$STATUS2; fi
if [ "$STATUS3" != 0 ]; then STATUS=$STATUS3; fi

if grep -q '\[err\]\|\[exception\]' "$WORK/runtest.log"; then STATUS=1; fi
if [ "$STATUS" != 0 ]; then
  echo "redis-suite: FAILED (engine $ENGINE); server log tail:" >&2
  tail -n 30 "$WORK/server.log" >&2
fi
exit "$STATUS"
