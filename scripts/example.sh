#!/usr/bin/env bash
# The README's first command: set up, build, and fit two Wilson coefficients on the bundled VH example.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product efthf
exec .build/release/efthf fit --ops cHW,cHq3
