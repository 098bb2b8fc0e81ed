#!/usr/bin/env bash
# Installs what efthf needs on a Debian machine with Swift 6 (run as root; idempotent):
# HDF5 and NLopt from Debian, rsvg-convert for rendering plots in tests, chromium and its
# driver for the explorer's browser tests (with selenium from PyPI), and pyhf for the
# cross-checks that compare against it.
set -euo pipefail
need=()
for pkg in libhdf5-dev libnlopt-dev librsvg2-bin pkg-config zlib1g-dev chromium chromium-driver; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "efthf setup: installing ${need[*]} with apt" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi
# Stock pyhf 0.7.6 is the source of truth for the HistFactory core and for every export
# (Tests/References/pyhf); without it those comparisons are skipped, so it is installed here.
if command -v python3 >/dev/null 2>&1 && ! python3 -c "import pyhf; assert pyhf.__version__ == '0.7.6'" >/dev/null 2>&1; then
    echo "efthf setup: installing pyhf 0.7.6 with pip" >&2
    python3 -m pip install -q "pyhf==0.7.6" >/dev/null 2>&1 || { echo "efthf setup: pip install pyhf==0.7.6 failed" >&2; exit 1; }
fi
# popxf-validator checks the POPxf export (Tests/HistFactoryTests/POPxfTests.swift).
if command -v python3 >/dev/null 2>&1 && ! python3 -c "import popxf.validator" >/dev/null 2>&1; then
    echo "efthf setup: installing popxf-validator with pip" >&2
    python3 -m pip install -q popxf-validator >/dev/null 2>&1 || echo "efthf setup: pip install popxf-validator failed; its test will be skipped" >&2
fi
# ROOT 6.40 (the PyPI wheel "root", ~250 MB) checks the HS3 export (Tests/CLITests/HS3ROOTTests.swift,
# Tests/References/root/check_hs3.py).
if command -v python3 >/dev/null 2>&1 && ! python3 -c "import ROOT" >/dev/null 2>&1; then
    echo "efthf setup: installing ROOT (PyPI wheel root) with pip" >&2
    python3 -m pip install -q root >/dev/null 2>&1 || { echo "efthf setup: pip install root failed (the HS3 test compares with ROOT)" >&2; exit 1; }
fi
# The Python package's tests and the explorer's browser tests: pytest, selenium, iminuit (the global-fit example), spey and its pyhf backend
# (the spey backend is compared with it), setuptools/wheel to install ./python, h5py (the event statistics are compared with it).
if command -v python3 >/dev/null 2>&1; then
    missing=()
    for spec in "pytest:pytest" "selenium:selenium" "iminuit:iminuit" "spey:spey>=0.2,<0.3" "spey_pyhf:spey-pyhf" "setuptools:setuptools>=64" "wheel:wheel" "scipy:scipy" "h5py:h5py"; do
        python3 -c "import ${spec%%:*}" >/dev/null 2>&1 || missing+=("${spec#*:}")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "efthf setup: installing ${missing[*]} with pip" >&2
        python3 -m pip install -q "${missing[@]}" >/dev/null 2>&1 || { echo "efthf setup: pip install ${missing[*]} failed" >&2; exit 1; }
    fi
fi
if ! command -v swift >/dev/null 2>&1; then
    echo "efthf setup: no 'swift' on PATH; install the Swift 6 toolchain first (swift.org)" >&2
    exit 1
fi
