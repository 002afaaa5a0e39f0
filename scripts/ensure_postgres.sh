#!/usr/bin/env bash
# The lake and Dagster-on-PostgreSQL tests start a PostgreSQL server of their own: make
# sure its binaries (initdb, pg_ctl) exist, installing Debian's package where they don't.
set -euo pipefail
for dir in "$(pg_config --bindir 2>/dev/null || true)" /usr/lib/postgresql/*/bin; do
  if [[ -n "$dir" && -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then exit 0; fi
done
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
  echo "PostgreSQL server binaries missing: install the postgresql package (Debian: apt-get install postgresql)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq postgresql-15 >/dev/null 2>&1 || apt-get install -y -qq postgresql >/dev/null
