"""Agni warm-worker helper for Python (docs/warm-protocol.md).

    import sys; sys.path.insert(0, '/agni/runtimes/python')
    import agni_warm
    agni_warm.serve(lambda payload: b'hello ' + payload)

The handler gets the payload (bytes) and returns bytes, str or None; what it prints goes to this
invocation's stdout/stderr. A handler that takes two arguments also gets the HTTP request that
started the call (webhooks, HTTP invokes), as a dict {"method", "path", "query", "headers"} (header
names in lower case), or None for calls without one (cron, pipes, jobs). During the call the same
is in os.environ as AGNI_HTTP_METHOD, AGNI_HTTP_PATH, AGNI_HTTP_QUERY, AGNI_HTTP_HEADERS (JSON)
and AGNI_HTTP_HEADER_<NAME>, as for a cold function. An exception fails only this invocation (traceback on stderr);
sys.exit() or a crash ends the worker and the platform starts a fresh one.
Output written before this module is imported is not attributed to any invocation.
"""

import inspect
import io
import json
import os
import sys
import traceback

__all__ = ["serve"]


class _Counted(io.RawIOBase):
    """fd 1 or 2, counting every byte written through Python's sys.stdout/sys.stderr."""

    def __init__(self, fd):
        super().__init__()
        self.fd = fd
        self.n = 0

    def writable(self):
        return True

    def write(self, b):
        view = memoryview(b)
        done = 0
        while done < len(view):
            done += os.write(self.fd, view[done:])
        self.n += done
        return done


for _s in (sys.stdout, sys.stderr):
    if _s is not None:
        _s.flush()
_out = _Counted(1)
_err = _Counted(2)
sys.stdout = io.TextIOWrapper(io.BufferedWriter(_out), encoding="utf-8", line_buffering=True)
sys.stderr = io.TextIOWrapper(
    io.BufferedWriter(_err), encoding="utf-8", errors="backslashreplace", line_buffering=True
)


def _flush():
    sys.stdout.flush()
    sys.stderr.flush()


def _wants_request(handler):
    try:
        params = inspect.signature(handler).parameters.values()
    except (TypeError, ValueError):
        return False
    P = inspect.Parameter
    if any(p.kind == P.VAR_POSITIONAL for p in params):
        return True
    return sum(1 for p in params if p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)) >= 2


def _set_call_env(block, previous):
    """Sets this call's variables (KEY=VALUE lines), after removing the previous call's."""
    for k in previous:
        os.environ.pop(k, None)
    env = {}
    for line in block.decode("utf-8", "surrogateescape").split("\n"):
        if "=" in line:
            k, v = line.split("=", 1)
            os.environ[k] = env[k] = v
    return env


def _request_of(env):
    if "AGNI_HTTP_METHOD" not in env:
        return None
    return {
        "method": env["AGNI_HTTP_METHOD"],
        "path": env.get("AGNI_HTTP_PATH", ""),
        "query": env.get("AGNI_HTTP_QUERY", ""),
        "headers": json.loads(env.get("AGNI_HTTP_HEADERS", "{}")),
    }


def serve(handler, requests_fd=3, completions_fd=4):
    """Serves requests until the platform closes fd 3. Never returns normally before that."""
    requests = os.fdopen(requests_fd, "rb", buffering=65536)
    two = _wants_request(handler)
    call_env = {}

    def complete(line):
        data = line.encode()
        while data:
            data = data[os.write(completions_fd, data):]

    _flush()
    # "env": each request carries the call's environment (the HTTP request's AGNI_HTTP_*).
    complete("ready %d %d env\n" % (_out.n, _err.n))
    while True:
        header = requests.readline()
        if not header:
            return
        rid, deadline, length, env_length = header.decode().split()
        call_env = _set_call_env(requests.read(int(env_length)), call_env)
        payload = requests.read(int(length))
        os.environ["AGNI_INVOCATION_ID"] = rid
        os.environ["AGNI_DEADLINE_MS"] = deadline
        out0, err0 = _out.n, _err.n
        status = 0
        try:
            result = handler(payload, _request_of(call_env)) if two else handler(payload)
            if result is not None:
                if isinstance(result, str):
                    result = result.encode()
                sys.stdout.flush()
                sys.stdout.buffer.write(result)
        except Exception:  # a failed invocation, not a failed worker
            traceback.print_exc()
            status = 1
        _flush()
        complete("%s %d %d %d\n" % (rid, status, _out.n - out0, _err.n - err0))
