"""The corn-yield replicate as a warm worker (lifecycle: warm): the interpreter starts and numpy,
pandas, scikit-learn and psycopg2 are imported once per worker, then each call runs one replicate
of study.py on its payload. Not what python/agni.yaml deploys (that is one process per call, as the
published study ran it); `npm run bench:study` deploys this beside it to show what a warm worker
saves. To deploy it yourself: agni.yaml with `command: ["/usr/bin/python3", "/fn/warm.py"]` and
`lifecycle: warm`.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.environ.get("AGNI_RUNTIMES", "/agni/runtimes"), "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agni_warm  # noqa: E402
import study  # noqa: E402  (its imports are the ones paid once)

agni_warm.serve(lambda payload: study.replicate(payload.decode()) + "\n")
