#!/bin/sh
. "${AGNI_RUNTIMES:-/agni/runtimes}/shell/agni-warm.sh"

STARTED=$(date +%s.%N) # paid once per worker
calls=0

handle() {
  calls=$((calls + 1))
  read -r name || true
  echo "call $calls for $AGNI_INVOCATION_ID" >&2
  echo "hello ${name:-world} #$calls pid=$$ started=$STARTED"
}

agni_serve handle
