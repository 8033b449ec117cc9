#!/usr/bin/env bash
# Fetches Debian's busybox-static for arm64 (the multi-arch test runs it under qemu) into
# /var/cache/agni/busybox-static_arm64.deb. Idempotent: a cached .deb that dpkg-deb reads is kept.
#
# apt does the fetch with a private state dir and one arm64 source, so the machine's own apt
# setup is untouched (no `dpkg --add-architecture`) and apt checks the index signature and the
# .deb's hash as for any install. Only Debian's mirror is used.
set -euo pipefail

CACHE=${AGNI_DEB_CACHE:-/var/cache/agni}
DEB="$CACHE/busybox-static_arm64.deb"
MIRROR=${AGNI_DEBIAN_MIRROR:-http://deb.debian.org/debian}

if [ -s "$DEB" ] && dpkg-deb -f "$DEB" Architecture 2>/dev/null | grep -qx arm64; then
  exit 0
fi
mkdir -p "$CACHE"
work=$(mktemp -d "$CACHE/apt-arm64.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/dl"
# shellcheck disable=SC1091
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
echo "deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $suite main" \
  >"$work/sources.list"
opts=(
  -q -o APT::Architecture=arm64 -o APT::Architectures::=arm64
  -o Dir::Etc::SourceList="$work/sources.list" -o Dir::Etc::SourceParts=/nonexistent
  -o Dir::State::Lists="$work/lists" -o Dir::Cache="$work/cache" -o Dir::State::status=/dev/null
  -o APT::Sandbox::User=root
)
echo "setup: fetching Debian's busybox-static for arm64 (for the multi-arch test)"
apt-get "${opts[@]}" update >/dev/null
(cd "$work/dl" && apt-get "${opts[@]}" download busybox-static:arm64 >/dev/null)
got=$(find "$work/dl" -name 'busybox-static_*_arm64.deb' | head -n1)
[ -n "$got" ] || { echo "setup: apt-get download left no busybox-static arm64 .deb" >&2; exit 1; }
mv "$got" "$DEB.tmp"
mv "$DEB.tmp" "$DEB"
echo "setup: $(dpkg-deb -f "$DEB" Package Version Architecture | tr '\n' ' ')-> $DEB"
