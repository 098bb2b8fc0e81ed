#!/usr/bin/env bash
# The C interface and the Python package, tested as their users would (run by scripts/test.sh
# after the Swift tests, on the debug build): a C program compiled against include/efthf.h and
# libEFTHFC checked against pyhf, the C example, and `pip install ./python` with its pytest suite
# (pyhf parity, errors, EFT exports read by stock pyhf, the spey backend, the examples).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
config=${EFTHF_BUILD_CONFIGURATION:-debug}
lib="$root/.build/$config/libEFTHFC.so"
[ -f "$lib" ] || swift build -c "$config" --product EFTHFC
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

reference=${EFTHF_REFERENCE_DIR:-$root/../shared/reference}
[ -d "$reference" ] || reference=/work/shared/reference
echo "== C interface (include/efthf.h, $lib)"
cc -Wall -Wextra -Werror -std=c11 Tests/C/check_c_interface.c -I include -L "$(dirname "$lib")" -lEFTHFC -lpthread -lm \
    -Wl,-rpath,"$(dirname "$lib")" -o "$work/check_c_interface"
cc -Wall -Wextra -Werror -std=c11 examples/c/evaluate.c -I include -L "$(dirname "$lib")" -lEFTHFC \
    -Wl,-rpath,"$(dirname "$lib")" -o "$work/evaluate"
if [ -d "$reference/workspaces/01_pyhf_example" ]; then
    w="$reference/workspaces/01_pyhf_example"
    expected=$(python3 - "$w" 2>/dev/null <<'PY'
import json, sys, pyhf
w = sys.argv[1]
ws = pyhf.Workspace(json.load(open(f"{w}/example_bkgonly.json")))
ws = pyhf.PatchSet(json.load(open(f"{w}/example_patchset.json"))).apply(ws, "patch_channel1_signal_syst1")
m = ws.model()
print(repr(float(m.logpdf(m.config.suggested_init(), ws.data(m))[0])))
PY
)
    (cd "$work" && ./check_c_interface "$w/example_bkgonly.json" "$w/example_patchset.json" patch_channel1_signal_syst1 "$expected")
    (cd "$work" && ./evaluate "$reference/workspaces/02_cms_combine2pyhf_one-bin-stat-full/workspace.json")
else
    echo "the shared reference folder is absent: the C check against pyhf is skipped" >&2
fi

echo "== Python package (pip install ./python, then pytest)"
if ! EFTHF_LIBRARY="$lib" python3 -m pip install -q ./python > "$work/pip.log" 2>&1; then
    cat "$work/pip.log" >&2
    echo "pip install ./python failed" >&2
    exit 1
fi
python3 -c "import efthf, os, sys; sys.exit(0 if os.path.getsize(os.path.join(os.path.dirname(efthf.__file__), '_lib', 'libEFTHFC.so')) > 0 else 1)" \
    || { echo "the efthf package did not install its library" >&2; exit 1; }
# From another directory, as a user: the tests find the repository from their own location.
(cd "$work" && python3 -m pytest -q -p no:cacheprovider "$root/python/tests")
