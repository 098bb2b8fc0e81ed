"""pyhf 0.7.6 reference for the large generated workspace (Tests/HistFactoryTests/LargeWorkspaceTests.swift).

    python3 Tests/References/pyhf/make_large_workspace.py   # ~15 s of CPU; writes large_workspace.json

The workspace is Benchmarks/large_workspace.py's with 250 channels of 100 bins (about 2 MB, 25 251
parameters: 25 000 staterror, 250 normsys, 1 normfactor). Records the parameter count, the first and
last names of par_order and par_names, the offset of a few staterror sets, and logpdf at the suggested
inits and at a point where mu, a normsys and some staterror gammas move.
"""
import json, os, sys

import numpy as np
import pyhf

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "Benchmarks"))
from large_workspace import workspace  # noqa: E402

CHANNELS = 250


def moved(model):
    """mu = 1.3, bkg_norm_ch00007 = 0.5, stat_ch00003[k] = 1 + 0.01·(k − 50)."""
    pars = np.array(model.config.suggested_init(), dtype=float)
    pars[model.config.par_slice("mu")] = 1.3
    pars[model.config.par_slice("bkg_norm_ch00007")] = 0.5
    s = model.config.par_slice("stat_ch00003")
    pars[s] = [1 + 0.01 * (k - 50) for k in range(s.stop - s.start)]
    return pars


def main():
    ws = pyhf.Workspace(workspace(CHANNELS))
    model = ws.model()
    data = ws.data(model)
    init = np.array(model.config.suggested_init(), dtype=float)
    out = {
        "pyhf": pyhf.__version__, "numpy": np.__version__, "channels": CHANNELS,
        "parameter_count": model.config.npars,
        "par_order_head": model.config.par_order[:3], "par_order_tail": model.config.par_order[-3:],
        "par_names_head": model.config.par_names[:3], "par_names_tail": model.config.par_names[-3:],
        "offsets": {name: model.config.par_slice(name).start for name in ["mu", "bkg_norm_ch00000", "stat_ch00000", "stat_ch00003", "stat_ch00249"]},
        "logpdf_init": float(model.logpdf(init, data)[0]),
        "logpdf_moved": float(model.logpdf(moved(model), data)[0]),
    }
    with open(os.path.join(HERE, "large_workspace.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
