#!/bin/sh
# Filter protocol: payload on stdin, result on stdout, logs on stderr.
set -eu
input=$(cat; echo x)
input=${input%x}
set -- $(printf '%s' "$input" | wc -l -w -c)
echo "{\"lines\": $1, \"words\": $2, \"bytes\": $3}"
echo "wordcount: counted $2 words for $AGNI_INVOCATION_ID" >&2
