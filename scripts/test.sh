#!/usr/bin/env bash
# Set up (first time) and run the whole test suite, browser journey included.
# Installs Debian's chromium and CJK fonts when they are missing (needs root or sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi "noto.*cjk" || ! fc-list 2>/dev/null | grep -qi "color emoji"; then
  SUDO=""; [ "$(id -u)" = "0" ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    chromium chromium-driver fonts-noto-cjk fonts-noto-color-emoji fontconfig >/dev/null
fi
bash scripts/setup.sh dev
# Two workers (pytest-xdist), each running whole test files (module fixtures are built once); most
# tests wait on subprocesses, servers or a browser, so two workers gain even on two cores.
# KB_TEST_WORKERS=0 runs everything in this one process (needed for -s or a debugger).
exec .venv/bin/python -m pytest -q -n "${KB_TEST_WORKERS:-2}" --dist loadfile "$@"
