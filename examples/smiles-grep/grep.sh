#!/bin/sh
# Filter protocol: a shard of SMILES on stdin, the count of lines matching $PATTERN on stdout.
: "${PATTERN:?set PATTERN in agni.yaml env}"
grep -c -E -e "$PATTERN"
status=$?
# grep exits 1 when no line matched: for a shard that is a result (0), not a failure.
# 2 and above are real errors (a malformed PATTERN, a read error) and fail the invocation.
[ "$status" -le 1 ] && exit 0
exit "$status"
