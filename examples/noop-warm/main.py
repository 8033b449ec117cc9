import os
import sys

sys.path.insert(0, os.path.join(os.environ.get("AGNI_RUNTIMES", "/agni/runtimes"), "python"))
import agni_warm  # noqa: E402

agni_warm.serve(lambda payload: b"")
