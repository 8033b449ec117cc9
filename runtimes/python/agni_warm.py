"""Agni warm-worker helper for Python (docs/warm-protocol.md).

    import sys; sys.path.insert(0, '/agni/runtimes/python')
    import agni_warm
    agni_warm.serve(lambda payload: b'hello ' + payload)

The handler gets the payload (bytes) and returns bytes, str or None; what it prints goes to this
invocation's stdout/stderr. An exception fails only this invocation (traceback on stderr);
sys.exit() or a crash ends the worker and the platform starts a fresh one.
Output written before this module is imported is not attributed to any invocation.
"""

import io
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


def serve(handler, requests_fd=3, completions_fd=4):
    """Serves requests until the platform closes fd 3. Never returns normally before that."""
    requests = os.fdopen(requests_fd, "rb", buffering=65536)

    def complete(line):
        data = line.encode()
        while data:
            data = data[os.write(completions_fd, data):]

    _flush()
    complete("ready %d %d\n" % (_out.n, _err.n))
    while True:
        header = requests.readline()
        if not header:
            return
        rid, deadline, length = header.decode().split()
        payload = requests.read(int(length))
        os.environ["AGNI_INVOCATION_ID"] = rid
        os.environ["AGNI_DEADLINE_MS"] = deadline
        out0, err0 = _out.n, _err.n
        status = 0
        try:
            result = handler(payload)
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
