# Agni warm-worker helper for POSIX sh (docs/warm-protocol.md).
#
#   . "${AGNI_RUNTIMES:-/agni/runtimes}/shell/agni-warm.sh"
#   handle() { read -r name; echo "hello $name"; }
#   agni_serve handle
#
# agni_serve runs its arguments (a shell function or a command) once per request in this shell,
# with the payload on stdin; its stdout and stderr go to that invocation. Shell variables persist
# between requests; `exit` ends the worker (the platform starts a fresh one). Output goes straight
# to the platform, closed by the end mark it sent with the request (no program is started to count
# it); from a platform that sends no mark, it goes through temp files in /tmp and is counted with
# `wc -c`. During a call started by an HTTP request
# (webhooks, HTTP invokes) AGNI_HTTP_METHOD, AGNI_HTTP_PATH, AGNI_HTTP_QUERY, AGNI_HTTP_HEADERS
# (JSON) and AGNI_HTTP_HEADER_<NAME> are exported, as for a cold function; the next call does not
# see them.

agni_serve() {
  _agni_dir=$(mktemp -d /tmp/agni-warm.XXXXXX) || return 1
  _agni_vars=
  # "env": each request carries the call's environment (the HTTP request's AGNI_HTTP_*); "mark":
  # and an end mark for its output.
  printf 'ready 0 0 env mark\n' >&4
  while IFS=' ' read -r _agni_id _agni_deadline _agni_len _agni_envlen _agni_mark <&3; do
    for _agni_v in $_agni_vars; do unset "$_agni_v"; done
    _agni_vars=
    if [ "$_agni_envlen" -gt 0 ]; then
      # The block is whole lines (no value holds a newline): a shell whose ${#} counts bytes (dash;
      # bash and busybox in the C locale) reads them itself, without a program started per call.
      # One that counts characters (a UTF-8 locale, which a call may even set) copies the bytes out
      # first, with a `dd` that reads one byte at a time: busybox's `head` reads ahead, and took
      # the payload that follows with it.
      _agni_t='é'
      if [ "${#_agni_t}" -eq 2 ]; then
        _agni_n=0
        while [ "$_agni_n" -lt "$_agni_envlen" ] && IFS= read -r _agni_l <&3; do
          _agni_n=$((_agni_n + ${#_agni_l} + 1))
          case $_agni_l in *=*) export "$_agni_l"; _agni_vars="$_agni_vars ${_agni_l%%=*}" ;; esac
        done
      else
        dd bs=1 count="$_agni_envlen" <&3 >"$_agni_dir/env" 2>/dev/null
        while IFS= read -r _agni_l; do
          case $_agni_l in *=*) export "$_agni_l"; _agni_vars="$_agni_vars ${_agni_l%%=*}" ;; esac
        done <"$_agni_dir/env"
      fi
    fi
    if [ "$_agni_len" -gt 0 ]; then
      head -c "$_agni_len" <&3 >"$_agni_dir/in"
    else
      : >"$_agni_dir/in"
    fi
    AGNI_INVOCATION_ID=$_agni_id
    AGNI_DEADLINE_MS=$_agni_deadline
    export AGNI_INVOCATION_ID AGNI_DEADLINE_MS
    if [ -n "$_agni_mark" ]; then
      # The handler shares this shell: the mark waits in a file, so a handler that prints the
      # shell's variables (`set`) does not end its own output early.
      printf '%s\n' "$_agni_mark" >"$_agni_dir/mark"
      _agni_mark=
      "$@" <"$_agni_dir/in"
      _agni_status=$?
      IFS= read -r _agni_mark <"$_agni_dir/mark"
      printf '%s' "$_agni_mark"
      printf '%s' "$_agni_mark" >&2
      printf '%s %s - -\n' "$_agni_id" "$_agni_status" >&4
      continue
    fi
    "$@" <"$_agni_dir/in" >"$_agni_dir/out" 2>"$_agni_dir/err"
    _agni_status=$?
    # One `wc` for both counts: each program started costs a fork and an exec per request.
    { read -r _agni_o _; read -r _agni_e _; } <<_agni_counts
$(wc -c "$_agni_dir/out" "$_agni_dir/err")
_agni_counts
    [ "$_agni_o" -gt 0 ] && cat "$_agni_dir/out"
    [ "$_agni_e" -gt 0 ] && cat "$_agni_dir/err" >&2
    printf '%s %s %s %s\n' "$_agni_id" "$_agni_status" "$_agni_o" "$_agni_e" >&4
  done
  rm -rf "$_agni_dir"
}
