"""Model build on large workspaces: time and peak memory of `efthf eval` and `efthf inspect` on
generated workspaces of about 5, 20 and 50 MB (Benchmarks/large_workspace.py: 100-bin channels,
each with a staterror, a normsys and the shared normfactor "mu").

    swift build -c release --product efthf
    python3 Benchmarks/build_scaling.py [--bin PATH] [--sizes 5,20,50] [--no-pyhf] [--keep DIR]

For each size: the workspace's bytes and parameters, the wall time and peak resident memory
(GNU time's "Maximum resident set size") of `efthf eval WS` (read, build, one log L with its gradient,
the JSON written) and `efthf inspect WS`. Checks the result: eval's logpdf of the 5 MB case
equals pyhf 0.7.6's `model.logpdf` at the suggested inits (relative 1e-10; pyhf takes about a
minute there; --no-pyhf skips it), and every size's logpdf is finite with a gradient of the
model's length. `--bin` names another efthf (e.g. an older build, for before/after figures).
"""
import json, math, os, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
from large_workspace import workspace  # noqa: E402

BIN = sys.argv[sys.argv.index("--bin") + 1] if "--bin" in sys.argv else os.path.join(ROOT, ".build", "release", "efthf")
SIZES = [int(s) for s in (sys.argv[sys.argv.index("--sizes") + 1] if "--sizes" in sys.argv else "5,20,50").split(",")]
PYHF = "--no-pyhf" not in sys.argv
KEEP = sys.argv[sys.argv.index("--keep") + 1] if "--keep" in sys.argv else None
CHANNELS_PER_MB = 120  # about 8.4 kB per 100-bin channel


def timed(arguments):
    """Runs arguments under GNU time -v; returns (wall seconds, peak RSS in MB, exit status, stdout)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        t0 = time.perf_counter()
        run = subprocess.run(["/usr/bin/time", "-v", "-o", report.name] + arguments, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        rss = next((int(line.split(":")[1]) for line in report.read().splitlines() if "Maximum resident set size" in line), 0)
    return wall, rss / 1024, run.returncode, run.stdout, run.stderr


def main():
    directory = KEEP or tempfile.mkdtemp(prefix="efthf-build-scaling-")
    os.makedirs(directory, exist_ok=True)
    print(f"efthf: {BIN}")
    print(f"{'size':>8} {'channels':>8} {'parameters':>10} | {'eval s':>8} {'eval MB':>8} | {'inspect s':>9} {'inspect MB':>10} | logpdf")
    failures = []
    for mb in SIZES:
        channels = mb * CHANNELS_PER_MB
        path = os.path.join(directory, f"workspace_{mb}MB.json")
        spec = workspace(channels)
        if not os.path.exists(path):
            with open(path, "w") as f:
                json.dump(spec, f, separators=(",", ":"))
        size = os.path.getsize(path) / 1e6
        parameters = channels * 100 + channels + 1
        ew, erss, estatus, eout, eerr = timed([BIN, "eval", path])
        iw, irss, istatus, _, ierr = timed([BIN, "inspect", path])
        logpdf = math.nan
        if estatus == 0:
            result = json.loads(eout)
            logpdf = result["logpdf"]
            if not math.isfinite(logpdf) or len(result["gradient"]) != parameters:
                failures.append(f"{mb} MB: logpdf {logpdf}, gradient of {len(result['gradient'])} for {parameters} parameters")
        else:
            failures.append(f"{mb} MB: eval exit {estatus}: {eerr.strip()[:300]}")
        if istatus != 0:
            failures.append(f"{mb} MB: inspect exit {istatus}: {ierr.strip()[:300]}")
        print(f"{size:7.1f}M {channels:8d} {parameters:10d} | {ew:8.2f} {erss:8.0f} | {iw:9.2f} {irss:10.0f} | {logpdf!r}", flush=True)
        if PYHF and mb == min(SIZES) and estatus == 0:
            import pyhf
            t0 = time.process_time()
            ws = pyhf.Workspace(spec)
            model = ws.model()
            expected = float(model.logpdf(model.config.suggested_init(), ws.data(model))[0])
            print(f"         pyhf 0.7.6 logpdf {expected!r} ({time.process_time() - t0:.1f} s CPU)", flush=True)
            if abs(logpdf - expected) > 1e-10 * abs(expected):
                failures.append(f"{mb} MB: logpdf {logpdf!r}, pyhf {expected!r}")
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("ok: every eval finite, with a gradient of the model's length" + (", the smallest equal to pyhf's" if PYHF else ""))


if __name__ == "__main__":
    main()
