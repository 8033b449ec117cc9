#!/usr/bin/env bash
# The quick-start demo: starts `agni up` on embedded defaults, deploys the examples and invokes
# them, then keeps the server running until Ctrl-C. With --once it stops after the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
agni() { node dist/src/cli/main.js "$@"; }
port=${AGNI_PORT:-8780}
export AGNI_URL="http://127.0.0.1:${port}"

# node directly, not the shell function: $! must be the server itself for the trap to stop it.
node dist/src/cli/main.js up --port "$port" &
server=$!
trap 'kill -TERM $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -fsS "$AGNI_URL/healthz" >/dev/null 2>&1 && break
  kill -0 $server 2>/dev/null || { echo "demo: agni up failed to start (is port $port taken? set AGNI_PORT)" >&2; exit 1; }
  sleep 0.1
done

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
step agni deploy examples/wordcount;     agni deploy examples/wordcount
step agni deploy examples/python-stats;  agni deploy examples/python-stats
step agni deploy examples/fail;          agni deploy examples/fail
step 'echo "to be or not to be" | agni invoke wordcount'
echo "to be or not to be" | agni invoke wordcount
step 'seq 1 100 | agni invoke python-stats'
seq 1 100 | agni invoke python-stats
step 'agni invoke fail   # fails on purpose'
agni invoke fail </dev/null || echo "(exit code $?)"
step agni logs;                          agni logs
id=$(agni logs wordcount --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[0].id))')
step agni inspect "$id";                 agni inspect "$id"

if [ "${1:-}" = "--once" ]; then exit 0; fi
printf '\nAgni is running at %s; try `node dist/src/cli/main.js --help` in another terminal (or `npm link` for `agni`). Ctrl-C stops it.\n' "$AGNI_URL"
wait $server
