#!/usr/bin/env bash
# The fault harness's CI entry: installs the Debian packages it needs when missing (nftables for
# partitions and packet loss, faketime for clock skew, redis-server/redis-tools for the control
# subject and the reachability checks), then runs `npm run test:chaos` (every fault kind checked
# on the wire, the Redis control run, and a 60 s ringkv fault schedule that must lose nothing).
# Needs root (network namespaces, nftables); runs unattended.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
cd "$(dirname "$0")/.."

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  if sudo -n true 2>/dev/null; then sudo_cmd=(sudo -n); else
    echo "chaos: needs root (network namespaces and nftables); run as root or with passwordless sudo" >&2
    exit 3
  fi
fi

need=()
for pkg in nftables faketime iproute2 redis-server redis-tools; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if ((${#need[@]} > 0)); then
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" </dev/null
fi

# Namespaces left by a harness run that was killed outright (only ones whose owner is gone).
"${sudo_cmd[@]}" node --import tsx test/chaos/cli.ts --sweep

exec "${sudo_cmd[@]}" node --import tsx --test --test-reporter=spec test/chaos/harness.chaos.ts
