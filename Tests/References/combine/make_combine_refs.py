#!/usr/bin/env python3
"""Reference numbers for efthf's reading of CMS Combine InterferenceModel scaling data (Specs/combine.md).

An independent implementation of Combine's documented formula (docs "Physics models", "Multi-process
interference"; CMSInterferenceFunc): per bin the lower triangle of the symmetric M, row by row, is
filled as numpy.tril_indices(n) orders it (the documentation's suggestion), and s_b = vᵀ M_b v with v
the parameter values. Parameters in RooFit factory syntax are evaluated here by a separate small
evaluator (name[value] constant, name[init,min,max] free, expr::name('@0*@1', args) products).

Writes combine_reference.json:
  vbf_kappa: s_b at Combine's own test points (test/test_interference.py asserts bin 0 at
             kl=kv=k2v=1 is 1.0 and bin 1 at kl=1.1, kv=k2v=1 is 0.8586229062809139, to 1e-14) and
             at 5 random points (random.Random(7), kappas in [0, 2]);
  sqrt_mu:   the documentation's first example on a small pyhf workspace (sample_sm.json: the
             process with a normsys and a background): pyhf 0.7.6's logpdf of the workspace with the
             process's data multiplied by s_b(sqrt_mu), at 6 points (sqrt_mu, the normsys alpha).
Run: python3 Tests/References/combine/make_combine_refs.py   (numpy, pyhf 0.7.6)
"""
import json
import os
import random
import re

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def evaluate_parameter(text, values):
    """Value of one factory expression at `values` (free parameters by name)."""
    m = re.fullmatch(r"\s*expr::\w+\(\s*'([^']*)'\s*,(.*)\)\s*", text)
    if m:
        formula, rest = m.group(1), m.group(2)
        args = re.findall(r"(\w+)(?:\[[^\]]*\])?", rest)
        result = 1.0
        for factor in formula.split("*"):
            factor = factor.strip()
            if factor.startswith("@"):
                result *= values[args[int(factor[1:])]]
            else:
                result *= float(factor)
        return result
    m = re.fullmatch(r"\s*(\w+)\[([^\]]*)\]\s*", text)
    if m:
        numbers = [float(x) for x in m.group(2).split(",")]
        return numbers[0] if len(numbers) == 1 else values[m.group(1)]
    return values[text.strip()]


def scaling(item, values):
    v = np.array([evaluate_parameter(p, values) for p in item["parameters"]])
    n = len(v)
    rows, cols = np.tril_indices(n)
    out = []
    for entries in item["scaling"]:
        M = np.zeros((n, n))
        M[rows, cols] = entries
        M[cols, rows] = entries
        out.append(float(v @ M @ v))
    return out


def main():
    examples = json.load(open(os.path.join(HERE, "interference_docs_examples.json")))
    kappa = examples["vbf_kappa"][0]
    checks = [({"kl": 1.0, "kv": 1.0, "k2v": 1.0}, 0, 1.0), ({"kl": 1.1, "kv": 1.0, "k2v": 1.0}, 1, 0.8586229062809139)]
    for point, b, expected in checks:
        got = scaling(kappa, point)[b]
        assert abs(got - expected) < 1e-14, (point, b, got, expected)
    rng = random.Random(7)
    points = [{"kl": 1.0, "kv": 1.0, "k2v": 1.0}, {"kl": 1.1, "kv": 1.0, "k2v": 1.0}]
    points += [{k: rng.uniform(0, 2) for k in ("kl", "kv", "k2v")} for _ in range(5)]
    kappa_ref = [{"point": p, "scaling": scaling(kappa, p)} for p in points]

    import pyhf
    ws_json = json.load(open(os.path.join(HERE, "sample_sm.json")))
    item = examples["sqrt_mu"][0]
    rng = random.Random(11)
    sqrt_points = [(1.0, 0.0), (0.0, 0.0)] + [(rng.uniform(0, 2), rng.uniform(-1.5, 1.5)) for _ in range(4)]
    sqrt_ref = []
    for sqrt_mu, alpha in sqrt_points:
        s = scaling(item, {"sqrt_mu": sqrt_mu})
        spec = json.loads(json.dumps(ws_json))
        for ch in spec["channels"]:
            for smp in ch["samples"]:
                if ch["name"] == item["channel"] and smp["name"] == item["process"]:
                    smp["data"] = [d * f for d, f in zip(smp["data"], s)]
        ws = pyhf.Workspace(spec)
        model = ws.model()
        pars = model.config.suggested_init()
        pars[model.config.par_slice("sigxs")] = [alpha]
        logpdf = float(model.logpdf(pars, ws.data(model))[0])
        sqrt_ref.append({"sqrt_mu": sqrt_mu, "sigxs": alpha, "scaling": s, "logpdf": logpdf})
    out = {"generator": "Tests/References/combine/make_combine_refs.py", "pyhf": pyhf.__version__, "numpy": np.__version__,
           "vbf_kappa": kappa_ref, "sqrt_mu": sqrt_ref}
    path = os.path.join(HERE, "combine_reference.json")
    with open(path + ".tmp", "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    os.replace(path + ".tmp", path)
    print("wrote", path)


if __name__ == "__main__":
    main()
