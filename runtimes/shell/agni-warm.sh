# Agni warm-worker helper for POSIX sh (docs/warm-protocol.md).
#
#   . "${AGNI_RUNTIMES:-/agni/runtimes}/shell/agni-warm.sh"
#   handle() { read -r name; echo "hello $name"; }
#   agni_serve handle
#
# agni_serve runs its arguments (a shell function or a command) once per request in this shell,
# with the payload on stdin; its stdout and stderr go to that invocation. Shell variables persist
# between requests; `exit` ends the worker (the platform starts a fresh one). Output goes
# through temp files in /tmp and is counted with `wc -c`.

agni_serve() {
  _agni_dir=$(mktemp -d /tmp/agni-warm.XXXXXX) || return 1
  printf 'ready 0 0\n' >&4
  while IFS=' ' read -r _agni_id _agni_deadline _agni_len <&3; do
    if [ "$_agni_len" -gt 0 ]; then
      head -c "$_agni_len" <&3 >"$_agni_dir/in"
    else
      : >"$_agni_dir/in"
    fi
    AGNI_INVOCATION_ID=$_agni_id
    AGNI_DEADLINE_MS=$_agni_deadline
    export AGNI_INVOCATION_ID AGNI_DEADLINE_MS
    "$@" <"$_agni_dir/in" >"$_agni_dir/out" 2>"$_agni_dir/err"
    _agni_status=$?
    _agni_o=$(wc -c <"$_agni_dir/out")
    _agni_e=$(wc -c <"$_agni_dir/err")
    [ "$_agni_o" -gt 0 ] && cat "$_agni_dir/out"
    [ "$_agni_e" -gt 0 ] && cat "$_agni_dir/err" >&2
    printf '%s %s %s %s\n' "$_agni_id" "$_agni_status" "$_agni_o" "$_agni_e" >&4
  done
  rm -rf "$_agni_dir"
}
