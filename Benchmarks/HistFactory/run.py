"""HistFactory core: efthf against pyhf 0.7.6 (numpy backend) in one run.

    python3 -m pip install pyhf==0.7.6
    swift build -c release --product HistFactoryBenchmark
    python3 Benchmarks/HistFactory/run.py [--repeat N] [--rounds R] [--bin PATH]

Times (medians; evaluations in CPU time, on both sides) on workspace 07 (218 parameters): pyhf's `Model.logpdf` alone against efthf's
log-likelihood *with* its gradient; on workspace 06 (1Lbb, 1.2 MB workspace + 14 MB patch set): reading both files, verifying the
patch set's digest, applying the patch and building the model. Checks that both give the same log-likelihood before printing the ratios.
Also times pyhf and efthf at a point off the inits (θ_i = init_i + 0.3·sin(i + 1)), where every interpolation
takes its general branch. `--bin` names another build of the benchmark (default .build/release).

Evaluations are timed in R rounds (default 5), each timing pyhf and then efthf right after it, so that both
sides of a round see the same state of a shared machine; the ratios printed are the medians of the R per-round
ratios, with their range.
"""
import json, math, os, statistics, subprocess, sys, time

import pyhf

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
REF = os.path.abspath(os.path.join(ROOT, "..", "shared", "reference", "workspaces"))
BIN = sys.argv[sys.argv.index("--bin") + 1] if "--bin" in sys.argv else os.path.join(ROOT, ".build", "release", "HistFactoryBenchmark")
REPEAT = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 5
ROUNDS = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 5

CASES = {
    "07": ("07_atlas_susy2018_16_ewkinos_SR2l/BkgOnly.json", "07_atlas_susy2018_16_ewkinos_SR2l/patchset_SYNTHETIC.json", "synthetic_signal"),
    "06": ("06_atlas_susy2019_08_1Lbb/BkgOnly.json", "06_atlas_susy2019_08_1Lbb/patchset.json", "C1N2_Wh_hbb_700_150"),
}


def pyhf_case(ws_file, patch_file, patch_name):
    """Builds pyhf's model REPEAT times; returns the median build time and a function timing one round."""
    times = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        ws = pyhf.Workspace(json.load(open(os.path.join(REF, ws_file))))
        ps = pyhf.PatchSet(json.load(open(os.path.join(REF, patch_file))))
        ws = ps.apply(ws, patch_name)
        model = ws.model()
        times.append(time.perf_counter() - t0)
    data = ws.data(model)
    init = pyhf.tensorlib.astensor(model.config.suggested_init())
    shifted = pyhf.tensorlib.astensor([x + 0.3 * math.sin(i + 1) for i, x in enumerate(model.config.suggested_init())])

    def timed(pars):
        n = 20
        samples = []
        for _ in range(7):
            t0 = time.process_time()  # CPU time, as the efthf side: insensitive to other jobs on the machine
            for _ in range(n):
                model.logpdf(pars, data)
            samples.append((time.process_time() - t0) / n)
        return statistics.median(samples)

    def round_():
        return {"logpdf": timed(init), "logpdf_shifted": timed(shifted)}

    return {"build": statistics.median(times), "value": float(model.logpdf(init, data)[0]),
            "value_shifted": float(model.logpdf(shifted, data)[0]), "round": round_}


def efthf_case(ws_file, patch_file, patch_name, repeat):
    out = subprocess.run([BIN, os.path.join(REF, ws_file), os.path.join(REF, patch_file) + ":" + patch_name, "--repeat", str(repeat)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    if not os.path.exists(BIN):
        sys.exit(f"build the benchmark first: swift build -c release --product HistFactoryBenchmark ({BIN} missing)")
    pyhf.set_backend("numpy")
    print(f"pyhf {pyhf.__version__} (numpy backend) vs efthf, medians of {ROUNDS} rounds; machine: {os.cpu_count()} cores")
    for key, case in CASES.items():
        p = pyhf_case(*case)
        rounds = []
        for r in range(ROUNDS):
            pr = p["round"]()
            e = efthf_case(*case, REPEAT if r == 0 else 1)
            if r == 0:
                first = e
            rounds.append((pr, e))
        e = first
        rel = abs(p["value"] - e["logpdf_at_init"]) / abs(p["value"])
        assert rel < 1e-9, f"log-likelihoods differ on {key}: pyhf {p['value']} efthf {e['logpdf_at_init']}"
        rel_shifted = abs(p["value_shifted"] - e["logpdf_at_shifted"]) / abs(p["value_shifted"])
        assert rel_shifted < 1e-9, f"log-likelihoods differ on {key} off the inits: pyhf {p['value_shifted']} efthf {e['logpdf_at_shifted']}"
        print(f"workspace {key}: {e['parameters']} parameters, {e['bins']} bins; log L agrees to {rel:.1e} relative")
        print(f"  build (read workspace + patch set, verify digest, patch, build model): pyhf {p['build']*1e3:9.2f} ms   efthf {e['build_seconds_median']*1e3:9.3f} ms   ratio {p['build']/e['build_seconds_median']:8.1f}x")

        def line(label, pyhf_key, efthf_key, alone_key):
            med = lambda xs: statistics.median(xs)
            pt = [pr[pyhf_key] for pr, _ in rounds]
            et = [er[efthf_key] for _, er in rounds]
            ratios = sorted(a / b for a, b in zip(pt, et))
            alone = med([er[alone_key] for _, er in rounds])
            print(f"  {label}pyhf logpdf alone {med(pt)*1e6:9.1f} us   efthf logpdf+gradient {med(et)*1e6:8.2f} us   ratio {med(ratios):8.1f}x"
                  f" (rounds {ratios[0]:.0f}-{ratios[-1]:.0f}x)   (efthf logpdf alone {alone*1e6:.2f} us)")

        line("", "logpdf", "logpdf_grad_seconds_median", "logpdf_seconds_median")
        line("off the inits: ", "logpdf_shifted", "logpdf_grad_shifted_seconds_median", "logpdf_shifted_seconds_median")


if __name__ == "__main__":
    main()
