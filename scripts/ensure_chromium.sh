#!/usr/bin/env bash
# Debian's chromium for the dashboard's browser test (make dashboard-setup). Installs it with
# apt-get when missing (as root, or through passwordless sudo); when that is impossible it
# says so loudly and exits 0: clv_assets_tests/test_dashboard.py then skips with the reason.
set -uo pipefail
for bin in chromium /usr/bin/chromium; do
  if command -v "$bin" > /dev/null 2>&1; then exit 0; fi
done
if [ "$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2> /dev/null; then SUDO="sudo -n"; else
  echo "!!! chromium is not installed and apt-get needs root: the dashboard browser test will be SKIPPED" >&2
  echo "!!! install it with: sudo apt-get install -y chromium" >&2
  exit 0
fi
echo "installing Debian's chromium (apt-get) for the dashboard browser test"
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y -q chromium > /tmp/ensure_chromium.log 2>&1; then
  $SUDO apt-get update -q > /tmp/ensure_chromium.log 2>&1
  if ! $SUDO apt-get install -y -q chromium >> /tmp/ensure_chromium.log 2>&1; then
    tail -5 /tmp/ensure_chromium.log >&2
    echo "!!! apt-get could not install chromium: the dashboard browser test will be SKIPPED" >&2
  fi
fi
exit 0
