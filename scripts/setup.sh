#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build, run and test Agni. Idempotent:
# every step checks before it acts, so the README commands and CI can call it every time.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(runc busybox-static iproute2 util-linux docker-registry apache2-utils attr qemu-user-static openssl curl skopeo debootstrap)
missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# arm64 (and arm) binaries run through qemu-user-static, and the multi-arch test's arm64 busybox.
bash scripts/setup-binfmt.sh
bash scripts/fetch-arm64-busybox.sh
# A Debian minbase root filesystem (debootstrap, once; cached) for the test that imports a real rootfs.
bash scripts/fetch-debian-rootfs.sh

# node_modules is rebuilt when missing or older than the lock file.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies"
  # Not `npm ci`: npm 11 leaves other platforms' optional packages (biome's binaries) out of
  # the lock it writes and then `npm ci` refuses that same lock. `npm install` keeps the
  # locked versions and leaves the lock untouched.
  npm install --no-audit --no-fund --loglevel=error
fi
# better-sqlite3 has no reachable prebuilt binary here; make sure the source build exists.
if ! node -e "require('better-sqlite3')" 2>/dev/null; then
  echo "setup: building better-sqlite3 from source"
  npm rebuild better-sqlite3 --loglevel=error
fi

# Subject triggers and their tests talk to NATS (with JetStream) on 127.0.0.1:4222. Debian's
# nats-server is installed and started here when nothing answers on that port.
if ! (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; then
  if ! command -v nats-server >/dev/null && [ ! -x /usr/sbin/nats-server ]; then
    echo "setup: installing Debian package nats-server"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nats-server >/dev/null
  fi
  echo "setup: starting nats-server on 127.0.0.1:4222"
  mkdir -p /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec "$(command -v nats-server || echo /usr/sbin/nats-server)" \
    -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null && break; sleep 0.1; done
fi
