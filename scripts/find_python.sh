#!/usr/bin/env bash
# Prints the first Python >= 3.12 found (pymc-marketing 1.x needs it). pyenv shims
# answer "command not found" for versions that are installed but not selected, so
# the pyenv version folders are tried as well.
set -u
for candidate in "${PYTHON:-}" python3.12 python3.13 python3 \
    "$HOME"/.pyenv/versions/3.12*/bin/python3 "$HOME"/.pyenv/versions/3.13*/bin/python3 \
    /usr/local/bin/python3.1[2-9] /usr/bin/python3.1[2-9]; do
  [ -n "$candidate" ] || continue
  if "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
    command -v "$candidate" 2>/dev/null || echo "$candidate"
    exit 0
  fi
done
echo "no Python >= 3.12 found; install one or set PYTHON=/path/to/python3.12" >&2
exit 1
