#!/usr/bin/env bash
# Installs what d2po needs on Debian 12 / Ubuntu and builds it: libtorch (PyTorch's C++ core),
# a fast BLAS (without libopenblas0-pthread Debian's torch falls back to the ~50x slower
# reference BLAS), a C++ toolchain for the addon, a font for charts, Chromium (the report.html test
# opens the report in it headless, through playwright-core), then the npm dependencies.
# --system-only: the apt part alone (CI runs npm ci itself).
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends libtorch-dev libopenblas0-pthread g++ make python3 fonts-dejavu-core chromium
[ "${1:-}" = "--system-only" ] || npm ci
