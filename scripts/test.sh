#!/usr/bin/env bash
# The README's test command: set up, build, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift package dump-package | scripts/check-modules.py
swift build --build-tests
swift test --skip-build 2>&1 | tee .build/test-output.txt
# Batch work on a real single-node Slurm (installs slurm-wlm and munge, starts and stops the daemons).
EFTHF_BINARY="$PWD/.build/debug/efthf" scripts/slurm-test.sh
scripts/test-bindings.sh
scripts/test-browser.sh
