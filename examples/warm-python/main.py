import os
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("AGNI_RUNTIMES", "/agni/runtimes"), "python"))
import agni_warm  # noqa: E402

STARTED = time.time()  # paid once per worker, like any imports above
calls = 0


def handle(payload: bytes) -> str:
    global calls
    calls += 1
    print(f"call {calls} for {os.environ['AGNI_INVOCATION_ID']}", file=sys.stderr)
    return f"hello {payload.decode() or 'world'} #{calls} pid={os.getpid()} started={STARTED:.6f}\n"


agni_warm.serve(handle)
