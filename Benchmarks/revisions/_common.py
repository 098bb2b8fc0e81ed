"""Shared by the revision benchmarks: the median and the command line of two builds."""
import sys


def median(v):
    s = sorted(v)
    return s[len(s) // 2]


def arguments():
    """(old binary, new binary, rounds, --only text)."""
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 5
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else ""
    return sys.argv[1], sys.argv[2], rounds, only
