#!/usr/bin/env bash
# What the corn-yield study (examples/corn-yield, test/corn-yield.test.ts, `npm run bench:study`)
# needs beyond Agni itself: Python's scikit-learn, pandas and psycopg2, and R with randomForest,
# RSQLite and RPostgreSQL, all from Debian (nothing from pip or CRAN). Idempotent: installs only
# what is missing, so the study's test and bench call it every time. Not part of the quick start;
# scripts/setup.sh calls it only under CI (CI=true), where the full suite runs the study's test.
set -euo pipefail

DEBS=(python3 python3-numpy python3-sklearn python3-pandas python3-psycopg2
  r-base-core r-cran-dbi r-cran-randomforest r-cran-rsqlite r-cran-rpostgresql)
missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup-study: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
