"""A Python Lambda handler, as it would run on AWS: handler(event, context).
The event picks a behaviour, so the tests can show every path of the Runtime API."""
import os
import time

STARTED = time.time()
calls = 0


def handler(event, context):
    global calls
    calls += 1
    print(f"request {context.aws_request_id} call {calls}")
    if "stream" in event:
        return chunks(int(event["stream"]), float(event.get("gap", 0.3)))
    if "fail" in event:
        raise ValueError(event["fail"])
    if event.get("crash"):
        os._exit(3)
    if "hog_mb" in event:
        hog = bytearray(int(event["hog_mb"]) * 1024 * 1024)
        return {"allocated": len(hog)}
    if "sleep" in event:
        time.sleep(float(event["sleep"]))
    return {
        "hello": event.get("name", "world"),
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "calls": calls,
        "pid": os.getpid(),
        "started": STARTED,
    }


def chunks(n, gap):
    """A streamed response: each line carries when it was made (Unix ms)."""
    for i in range(n):
        if i:
            time.sleep(gap)
        yield f"chunk {i} at {int(time.time() * 1000)}\n"
