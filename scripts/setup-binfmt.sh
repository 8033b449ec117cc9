#!/usr/bin/env bash
# Lets this machine run arm64 (and 32-bit arm) binaries through qemu-user-static, so a node can
# run images of those platforms by emulation (src/image/oci/node-platforms.ts reads the entries).
# Idempotent. Needs root and the Debian package qemu-user-static (setup.sh installs it).
#
# The entries get the F (fix-binary) flag: the kernel opens the interpreter once, at registration,
# instead of looking its path up at each exec. Without F an exec inside a sandbox would search
# /usr/libexec/qemu-binfmt/... in the sandbox's own root (runc's mount namespace), where it is not.
set -euo pipefail

BINFMT=/proc/sys/fs/binfmt_misc
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

if [ ! -e "$BINFMT/register" ]; then
  echo "setup-binfmt: mounting binfmt_misc at $BINFMT"
  $SUDO mount -t binfmt_misc binfmt_misc "$BINFMT"
fi
if [ "$(cat "$BINFMT/status")" != enabled ]; then
  echo 1 | $SUDO tee "$BINFMT/status" >/dev/null
fi

for name in qemu-aarch64 qemu-arm; do
  conf="/usr/lib/binfmt.d/$name.conf"
  if [ ! -r "$conf" ]; then
    echo "setup-binfmt: $conf is missing; install the Debian package qemu-user-static" >&2
    exit 1
  fi
  entry="$BINFMT/$name"
  if [ -e "$entry" ]; then
    flags=$(sed -n 's/^flags: *//p' "$entry")
    if [ "$(head -n1 "$entry")" = enabled ] && [[ "$flags" == *F* ]]; then
      continue
    fi
    echo "setup-binfmt: replacing $name (flags '$flags', $(head -n1 "$entry")) with one that has F"
    echo -1 | $SUDO tee "$entry" >/dev/null
  fi
  # One line ":name:type:offset:magic:mask:interpreter:flags"; the kernel decodes the \x escapes.
  line=$(grep -m1 "^:$name:" "$conf")
  flags="${line##*:}"
  [[ "$flags" == *F* ]] || line="${line}F"
  echo "setup-binfmt: registering $name (flags ${line##*:})"
  printf '%s' "$line" | $SUDO tee "$BINFMT/register" >/dev/null
done
