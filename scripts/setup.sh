#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build, run and test Agni. Idempotent:
# every step checks before it acts, so the README commands and CI can call it every time.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(runc busybox-static iproute2 iptables socat util-linux docker-registry apache2-utils attr qemu-user-static openssl curl skopeo debootstrap awscli prometheus strace)
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

# The dashboard's end-to-end test (test/dashboard.test.ts) drives Debian's headless Chromium
# through playwright-core, which brings no browser of its own.
if ! dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q 'install ok installed'; then
  echo "setup: installing Debian package chromium"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

# The corn-yield study's Python and R packages: only for its test (and `npm run bench:study`),
# so only in CI, where the full suite runs that test; the test also calls it when run alone.
if [ "${CI:-}" = true ]; then bash scripts/setup-study.sh; fi

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

# The store's contract suites (src/store/*.test.ts) run against PostgreSQL on 127.0.0.1:5432 as
# user postgres without a password (AGNI_TEST_PG_URL overrides). When nothing answers there,
# Debian's postgresql is installed if missing and a cluster started: an existing one on that
# port as it is configured, else a cluster of our own, `agni`, with trust auth for loopback TCP.
PG_PORT="${AGNI_SETUP_PG_PORT:-5432}"
if ! (exec 3<>/dev/tcp/127.0.0.1/"$PG_PORT") 2>/dev/null; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  fresh=""
  if ! command -v pg_createcluster >/dev/null; then
    echo "setup: installing Debian package postgresql"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    fresh=1
  fi
  pgver="$(ls /usr/lib/postgresql | sort -V | tail -1)"
  # "ver cluster port status ...": the cluster configured for our port, if any
  read -r cver cname _ < <(pg_lsclusters -h | awk -v p="$PG_PORT" '$3 == p' | head -1) || true
  if [ -n "${fresh}" ] && [ "${cname:-}" = main ]; then
    # The package just made this cluster: ours to configure like the one below.
    hba="/etc/postgresql/$cver/main/pg_hba.conf"
    grep -q '# agni setup' "$hba" || $SUDO sed -i '1i host all all 127.0.0.1/32 trust # agni setup' "$hba"
    echo "listen_addresses = '127.0.0.1'" | $SUDO tee "/etc/postgresql/$cver/main/conf.d/agni.conf" >/dev/null
  elif [ -z "${cname:-}" ]; then
    echo "setup: creating PostgreSQL $pgver cluster agni on 127.0.0.1:$PG_PORT (trust auth for loopback TCP)"
    $SUDO pg_createcluster "$pgver" agni -p "$PG_PORT" -- --auth-local=peer --auth-host=trust >/dev/null
    echo "listen_addresses = '127.0.0.1'" | $SUDO tee "/etc/postgresql/$pgver/agni/conf.d/agni.conf" >/dev/null
    cver="$pgver"
    cname=agni
  fi
  echo "setup: starting PostgreSQL cluster $cver/$cname on 127.0.0.1:$PG_PORT"
  # A cluster that will not start costs the PostgreSQL runs of the store tests, not the rest.
  $SUDO pg_ctlcluster "$cver" "$cname" start || echo "setup: warning: PostgreSQL $cver/$cname did not start; see its log" >&2
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$PG_PORT") 2>/dev/null && break; sleep 0.1; done
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

# The cluster's OCI registry for a one-machine cluster (README, Cluster mode): Debian's
# docker-registry on 127.0.0.1:5000, loopback only and without auth, started when nothing answers
# there. Tests start registries of their own on free ports; this one is for people.
if ! (exec 3<>/dev/tcp/127.0.0.1/5000) 2>/dev/null && command -v docker-registry >/dev/null; then
  echo "setup: starting docker-registry on 127.0.0.1:5000"
  mkdir -p /var/lib/agni-registry/data
  cat >/var/lib/agni-registry/config.yml <<'YML'
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: /var/lib/agni-registry/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:5000
YML
  start-stop-daemon --start --oknodo --background --exec "$(command -v docker-registry)" \
    -- serve /var/lib/agni-registry/config.yml
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/5000) 2>/dev/null && break; sleep 0.1; done
fi
