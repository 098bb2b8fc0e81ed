#!/usr/bin/env bash
# The workspace explorer end to end (run by scripts/test.sh after the Swift tests): a real
# `efthf serve` from the built binary on a free loopback port, driven in headless Chromium
# (Debian's chromium + chromium-driver, through selenium; installed by scripts/setup.sh).
# Screenshots are written to .build/explorer-screenshots (EFTHF_SCREENSHOTS to change it).
set -euo pipefail
cd "$(dirname "$0")/.."
config=${EFTHF_BUILD_CONFIGURATION:-debug}
binary="$PWD/.build/$config/efthf"
[ -x "$binary" ] || swift build -c "$config" --product efthf
for tool in /usr/bin/chromium /usr/bin/chromedriver; do
    [ -x "$tool" ] || { echo "$tool is missing: apt-get install -y chromium chromium-driver (scripts/setup.sh does)" >&2; exit 1; }
done
python3 -c "import selenium" 2>/dev/null || { echo "selenium is missing: pip install selenium (scripts/setup.sh does)" >&2; exit 1; }
EFTHF_BINARY="$binary" python3 -m pytest -q -p no:cacheprovider Tests/Browser "$@"
