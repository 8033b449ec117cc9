#!/usr/bin/env bash
# Makes a Debian minbase root filesystem of the local release with debootstrap and caches it as
# /var/cache/agni/debian-<suite>-minbase-<arch>.tar.gz, for the test that imports a real rootfs
# (`agni image import debian ...`). Idempotent: a cached tarball that gzip reads whole is kept, so
# everything after the first run works offline. Only Debian's mirror is used; debootstrap checks
# the Release signature with the machine's debian-archive-keyring.
#
# Documentation, man pages, locales and apt's lists are left out to keep the tarball small; the
# rest is the minbase as debootstrap made it (hundreds of absolute symlinks included).
set -euo pipefail

CACHE=${AGNI_DEB_CACHE:-/var/cache/agni}
MIRROR=${AGNI_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# shellcheck disable=SC1091
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
arch=$(dpkg --print-architecture)
OUT="$CACHE/debian-$suite-minbase-$arch.tar.gz"

if [ -s "$OUT" ] && gzip -t "$OUT" 2>/dev/null; then
  exit 0
fi
if ! command -v debootstrap >/dev/null && [ ! -x /usr/sbin/debootstrap ]; then
  echo "setup: installing Debian package debootstrap"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi
mkdir -p "$CACHE"
work=$(mktemp -d "$CACHE/debootstrap.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "setup: debootstrap --variant=minbase $suite from $MIRROR (once; cached in $OUT)"
start=$SECONDS
PATH="$PATH:/usr/sbin:/sbin" debootstrap --variant=minbase --arch="$arch" "$suite" "$work/root" "$MIRROR" \
  >"$work/debootstrap.log" 2>&1 || {
  tail -n 20 "$work/debootstrap.log" >&2
  echo "setup: debootstrap failed (log above)" >&2
  exit 1
}
rm -rf "$work"/root/usr/share/{doc,man,info,locale}/* "$work"/root/var/lib/apt/lists/* \
  "$work"/root/var/cache/apt/*.bin "$work"/root/var/cache/apt/archives/*.deb "$work"/root/var/log/*.log
tar -C "$work/root" --numeric-owner -czf "$OUT.tmp" .
mv "$OUT.tmp" "$OUT"
echo "setup: $OUT ($(du -h "$OUT" | cut -f1)) in $((SECONDS - start))s"
