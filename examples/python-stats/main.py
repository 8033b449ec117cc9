import json
import os
import statistics
import sys

numbers = [float(tok) for tok in sys.stdin.read().split()]
if not numbers:
    print("python-stats: no numbers on stdin", file=sys.stderr)
    sys.exit(2)
p = int(os.environ.get("PRECISION", "4"))
print(json.dumps({
    "count": len(numbers),
    "mean": round(statistics.fmean(numbers), p),
    "median": round(statistics.median(numbers), p),
    "stdev": round(statistics.stdev(numbers), p) if len(numbers) > 1 else 0.0,
    "min": min(numbers),
    "max": max(numbers),
}))
