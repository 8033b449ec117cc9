#!/usr/bin/env bash
# Optional: a Docker engine for the `docker run --rm` baseline of `agni bench cold`.
# Idempotent. The engine creates no network on a private range: no bridge, no iptables, and
# the benchmark runs containers with --network none.
set -euo pipefail
if ! command -v dockerd >/dev/null 2>&1; then
  echo "setup-docker: installing docker.io"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends docker.io >/dev/null
fi
if docker info >/dev/null 2>&1; then exit 0; fi
echo "setup-docker: starting dockerd (--bridge=none --iptables=false)"
mkdir -p /var/log
nohup dockerd --bridge=none --iptables=false --ip6tables=false >/var/log/agni-dockerd.log 2>&1 &
for _ in $(seq 100); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 0.2
done
echo "setup-docker: dockerd did not start; see /var/log/agni-dockerd.log" >&2
exit 1
