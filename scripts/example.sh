#!/usr/bin/env bash
# The README's first command: set up, build, and run efthf on the bundled example.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product efthf
exec .build/release/efthf eval Data/example/workspace.json --at mu=1.2
