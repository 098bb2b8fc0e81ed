"""A large, valid pyhf workspace for the model-build benchmark (Benchmarks/build_scaling.py).

    python3 Benchmarks/large_workspace.py CHANNELS OUTPUT.json [--bins 100]

Every channel has BINS bins and two samples: "signal" (the shared normfactor "mu") and
"background" (a normsys per channel), both carrying the channel's staterror "stat_chN", so the
model has CHANNELS·BINS staterror parameters, CHANNELS normsys parameters and one normfactor.
The numbers are deterministic (no random generator) and written with full double precision, as
exported workspaces are; about 10 kB per 100-bin channel (5 000 channels ≈ 50 MB).
"""
import json, math, sys


def workspace(channels, bins=100):
    chans, obs = [], []
    for c in range(channels):
        sig = [2.0 + 1.5 * math.sin(0.1 * b + c) for b in range(bins)]
        bkg = [50.0 + 20.0 * math.cos(0.07 * b + 0.3 * c) for b in range(bins)]
        name = f"ch{c:05d}"
        chans.append({"name": name, "samples": [
            {"name": "signal", "data": sig, "modifiers": [
                {"name": "mu", "type": "normfactor", "data": None},
                {"name": f"stat_{name}", "type": "staterror", "data": [0.1 * s for s in sig]}]},
            {"name": "background", "data": bkg, "modifiers": [
                {"name": f"bkg_norm_{name}", "type": "normsys", "data": {"hi": 1.05, "lo": 0.95}},
                {"name": f"stat_{name}", "type": "staterror", "data": [0.05 * x for x in bkg]}]}]})
        obs.append({"name": name, "data": [float(round(s + x + 3 * math.sin(0.37 * b + 1.3 * c))) for b, (s, x) in enumerate(zip(sig, bkg))]})
    return {"channels": chans, "observations": obs, "version": "1.0.0",
            "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": []}}]}


if __name__ == "__main__":
    bins = int(sys.argv[sys.argv.index("--bins") + 1]) if "--bins" in sys.argv else 100
    with open(sys.argv[2], "w") as f:
        json.dump(workspace(int(sys.argv[1]), bins), f, separators=(",", ":"))
