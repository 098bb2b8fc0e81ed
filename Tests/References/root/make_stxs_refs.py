#!/usr/bin/env python3
"""Independent Python evaluation of the CMS STXS -> SMEFT parametrisation (reference for efthf).

Inputs (read only): /work/shared/reference/eft/cms_stxs_to_smeft/{prod.json, decay.json, pois.yaml}
(cms-analysis/HiggsAnalysis-CombinedLimit, data/eft/STXStoSMEFT/
CMS-prelim-SMEFT-topU3l_22_05_05_AccCorr_0p01/, SMEFTsim topU3l).

Term keys in prod.json ({STXS bin: {key: value}}) and decay.json ({channel: {key: value}}, "tot" =
total width):
    A_<op>          coefficient of c_op                      (linear / interference)
    B_<op>_2        coefficient of c_op^2                    (square)
    B_<op1>_<op2>   coefficient of c_op1 * c_op2, op1 != op2 (cross term, NOT doubled; each unordered pair
                    appears at most once per bin, in either order)
    u_<term key>    MC uncertainty of that term (not used here)
    missing key  -> 0.
Operator names contain no "_", so splitting a key on "_" is unambiguous.

Scaling of one bin / channel:  s(c) = 1 + sum_i A_i c_i + sum_i B_ii c_i^2 + sum_{i<j} B_ij c_i c_j.

"exponent" convention (as in CombinedLimit python/STXStoSMEFTModel.py, makeScalingFunction): the fit
parameter (POI) p_op lives in [min, max] from pois.yaml (POI name op, or opXE<e> / opXEm<|e|> when
exponent != 0); the Wilson coefficient that multiplies the JSON terms is c_op = p_op * 10^(-exponent_op),
e.g. chg (exponent 3): p in [-5, 5] -> c in [-0.005, 0.005]; cht (exponent -2): c in [-500, 500].
Equivalently combine multiplies A_i by 10^-e_i and B_ij by 10^-(e_i+e_j) and evaluates in p.

Points (seed numpy.random.default_rng(20240611)): "SM" (all 0); 5 random points "random0".."random4" with
every one of the 57 pois.yaml operators drawn p_op ~ Uniform[min_op, max_op] in pois.yaml order (one
rng.uniform call per point with the vectors of mins and maxes); then 3 extra points "small0".."small2"
drawn the same way from 0.1*[min, max] (scalings of order 1, a more physical regime).

Outputs per point: mu_prod[bin] (64 bins), mu_prod_linear[bin] (A terms only), gamma[channel] (all decay
entries incl. "tot"), gamma_linear[channel], br_scaling[channel] = gamma[channel]/gamma["tot"]. The
signal-strength for (bin, channel) in combine's full (non-expanded) model is mu_prod[bin]*br_scaling[ch].
Each value is computed twice (sparse term loop over keys, and a dense numpy c.A + c^T U c with an upper
triangular U) and the largest relative disagreement is recorded.

Writes cms_stxs_reference.json next to this script (tmp file, then os.replace).
Usage: python3 make_stxs_refs.py          (needs numpy and PyYAML)
"""
import hashlib
import json
import os
import sys
import time

import numpy as np
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = "/work/shared/reference/eft/cms_stxs_to_smeft"
SEED = 20240611
N_RANDOM = 5
N_SMALL = 3
SMALL_SCALE = 0.1
OUT = os.path.join(HERE, "cms_stxs_reference.json")


def sha256(path):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def parse_key(key):
    """-> ('A', op, None) | ('B2', op, op) | ('BX', op1, op2) | ('u', ...) ; raises on anything else."""
    parts = key.split("_")
    if parts[0] == "u":
        return ("u", None, None)
    if parts[0] == "A" and len(parts) == 2:
        return ("A", parts[1], None)
    if parts[0] == "B" and len(parts) == 3:
        if parts[2] == "2":
            return ("B2", parts[1], parts[1])
        if parts[1] != parts[2]:
            return ("BX", parts[1], parts[2])
    raise ValueError("unexpected key %r" % key)


def sparse_eval(terms, c):
    lin = 1.0
    quad = 0.0
    for key, v in terms.items():
        kind, a, b = parse_key(key)
        if kind == "A":
            lin += v * c[a]
        elif kind in ("B2", "BX"):
            quad += v * c[a] * c[b]
    return lin + quad, lin


def dense_tables(terms, idx):
    n = len(idx)
    A = np.zeros(n)
    U = np.zeros((n, n))
    for key, v in terms.items():
        kind, a, b = parse_key(key)
        if kind == "A":
            A[idx[a]] += v
        elif kind in ("B2", "BX"):
            i, j = sorted((idx[a], idx[b]))
            U[i, j] += v
    return A, U


def count_terms(table, ops):
    out = {"A_nonzero": 0, "B_square_nonzero": 0, "B_cross_nonzero": 0, "u_keys": 0,
           "A_explicit_zero": 0, "B_explicit_zero": 0, "per_entry": {}}
    ops_seen, ops_lin = set(), set()
    for name, terms in table.items():
        pe = {"A": 0, "B_square": 0, "B_cross": 0}
        pairs = set()
        for key, v in terms.items():
            kind, a, b = parse_key(key)
            if kind == "u":
                out["u_keys"] += 1
                continue
            for o in (a, b):
                if o is not None:
                    if o not in ops:
                        raise ValueError("operator %s of %s not in pois.yaml" % (o, key))
                    ops_seen.add(o)
            if kind == "A":
                ops_lin.add(a)
                if v != 0:
                    out["A_nonzero"] += 1; pe["A"] += 1
                else:
                    out["A_explicit_zero"] += 1
            else:
                pair = frozenset((a, b))
                if pair in pairs:
                    raise ValueError("duplicate monomial %s in %s" % (key, name))
                pairs.add(pair)
                if v != 0:
                    if kind == "B2":
                        out["B_square_nonzero"] += 1; pe["B_square"] += 1
                    else:
                        out["B_cross_nonzero"] += 1; pe["B_cross"] += 1
                else:
                    out["B_explicit_zero"] += 1
        out["per_entry"][name] = pe
    out["B_nonzero"] = out["B_square_nonzero"] + out["B_cross_nonzero"]
    out["operators_in_any_term"] = [o for o in ops if o in ops_seen]
    out["n_operators_in_any_term"] = len(out["operators_in_any_term"])
    out["operators_with_A_term"] = [o for o in ops if o in ops_lin]
    out["n_operators_with_A_term"] = len(out["operators_with_A_term"])
    return out


def main():
    t_start = time.perf_counter()
    pois = yaml.safe_load(open(os.path.join(SRC, "pois.yaml")))
    prod = json.load(open(os.path.join(SRC, "prod.json")))
    decay = json.load(open(os.path.join(SRC, "decay.json")))
    ops = list(pois)  # pois.yaml order
    idx = {o: i for i, o in enumerate(ops)}
    expo = np.array([pois[o]["exponent"] for o in ops], dtype=float)
    lo = np.array([pois[o]["min"] for o in ops], dtype=float)
    hi = np.array([pois[o]["max"] for o in ops], dtype=float)

    counts = {"prod": count_terms(prod, ops), "decay": count_terms(decay, ops)}
    ops_any = [o for o in ops if o in set(counts["prod"]["operators_in_any_term"]) | set(counts["decay"]["operators_in_any_term"])]

    rng = np.random.default_rng(SEED)
    pts = [("SM", np.zeros(len(ops)))]
    for k in range(N_RANDOM):
        pts.append(("random%d" % k, rng.uniform(lo, hi)))
    # extra points in a more physical regime (drawn after the 5 above, so those are unchanged)
    for k in range(N_SMALL):
        pts.append(("small%d" % k, rng.uniform(SMALL_SCALE * lo, SMALL_SCALE * hi)))

    dense = {("prod", n): dense_tables(t, idx) for n, t in prod.items()}
    dense.update({("decay", n): dense_tables(t, idx) for n, t in decay.items()})

    t_eval = time.perf_counter()
    points = []
    worst = 0.0
    for label, p in pts:
        c = p * 10.0 ** (-expo)
        cd = {o: float(c[i]) for i, o in enumerate(ops)}
        rec = {"label": label,
               "poi": {o: float(p[i]) for i, o in enumerate(ops)},
               "c": cd,
               "mu_prod": {}, "mu_prod_linear": {}, "gamma": {}, "gamma_linear": {}, "br_scaling": {}}
        for kind, table, key_full, key_lin in (("prod", prod, "mu_prod", "mu_prod_linear"),
                                               ("decay", decay, "gamma", "gamma_linear")):
            for name, terms in table.items():
                full, lin = sparse_eval(terms, cd)
                A, U = dense[(kind, name)]
                full2 = 1.0 + A @ c + c @ U @ c
                lin2 = 1.0 + A @ c
                worst = max(worst, abs(full - full2) / max(1.0, abs(full)), abs(lin - lin2) / max(1.0, abs(lin)))
                rec[key_full][name] = full
                rec[key_lin][name] = lin
        for ch in decay:
            if ch != "tot":
                rec["br_scaling"][ch] = rec["gamma"][ch] / rec["gamma"]["tot"]
        points.append(rec)
    t_eval = time.perf_counter() - t_eval

    doc = {
        "description": "Independent numpy evaluation of the CMS STXS->SMEFT (SMEFTsim topU3l) quadratic scaling "
                       "functions at fixed points; reference for an efthf sparse-polynomial loader/evaluator.",
        "source": {
            "repo": "cms-analysis/HiggsAnalysis-CombinedLimit (Apache-2.0)",
            "commit": "da0a2f49a8c438b10c84d06eff616e8842303590",
            "path": "data/eft/STXStoSMEFT/CMS-prelim-SMEFT-topU3l_22_05_05_AccCorr_0p01/",
            "local_copy": SRC,
            "sha256": {f: sha256(os.path.join(SRC, f)) for f in ("prod.json", "decay.json", "pois.yaml")},
        },
        "key_conventions": {
            "prod.json": "object {STXS production bin name: {term key: float}}",
            "decay.json": "object {decay channel: {term key: float}}; channel 'tot' is the total width",
            "A_<op>": "coefficient of c_op (linear/interference term)",
            "B_<op>_2": "coefficient of c_op^2 (square term); the literal suffix '2' is never an operator name",
            "B_<op1>_<op2>": "coefficient of c_op1*c_op2 for op1 != op2, taken once (not doubled, no 1/2); each "
                             "unordered pair appears at most once per bin; order is NOT canonical (not pois.yaml "
                             "order in %d prod and %d decay keys), so a loader must accept both orders"
                             % tuple(sum(1 for t in tab.values() for k in t if k.startswith("B_") and not k.endswith("_2")
                                         and idx[k.split("_")[1]] > idx[k.split("_")[2]]) for tab in (prod, decay)),
            "u_<term key>": "MC statistical uncertainty of that term (e.g. u_A_chg, u_B_chg_2); ignored here",
            "missing key": "coefficient 0 (the files contain no explicit zero A/B values)",
            "splitting": "operator names contain no '_': key.split('_') gives ['A',op] | ['B',op,'2'] | ['B',op1,op2] | ['u',...]",
            "scaling": "s(c) = 1 + sum_i A_i c_i + sum_i B_ii c_i^2 + sum_{i<j} B_ij c_i c_j  (same formula for prod bins and decay widths)",
        },
        "exponent_convention": {
            "rule": "c_op = p_op * 10^(-exponent_op); p_op is the combine POI with range [min,max] from pois.yaml; "
                    "the JSON A/B terms multiply c (equivalently A_i*10^-e_i and B_ij*10^-(e_i+e_j) multiply p)",
            "reference": "CombinedLimit python/STXStoSMEFTModel.py makeScalingFunction: e_jpoi = 10**(-exponent); "
                         "coeffs = e_j*A_j, e_j^2*B_jj, e_j*e_k*B_jk; POI names op / opXE<e> / opXEm<|e|>",
            "example": "chg exponent 3: p in [-5,5] -> c in [-0.005,0.005]; cht exponent -2: c in [-500,500]",
        },
        "points_convention": "points[k].poi = p (sampled uniform in [min,max] for all 57 pois.yaml operators, seed %d, "
                             "one rng.uniform(mins, maxs) call per random point, pois.yaml order; labels random0-4), then 3 points "
                             "'small0-2' drawn the same way from 0.1*[min,max]; points[k].c = Wilson "
                             "coefficients actually inserted in the polynomial. Point 'SM' is all zero (every scaling = 1)." % SEED,
        "outputs_convention": {
            "mu_prod": "s(c) for every prod.json bin",
            "mu_prod_linear": "1 + sum_i A_i c_i only",
            "gamma": "s(c) for every decay.json entry incl. 'tot' (partial-width scaling Gamma/Gamma_SM)",
            "gamma_linear": "1 + sum_i A_i c_i only",
            "br_scaling": "gamma[ch]/gamma['tot'] for ch != 'tot'; combine's full model: mu(bin,ch) = mu_prod[bin]*br_scaling[ch]",
        },
        "operators": [{"name": o, "exponent": pois[o]["exponent"], "min": pois[o]["min"], "max": pois[o]["max"],
                       "val": pois[o]["val"], "in_prod": o in counts["prod"]["operators_in_any_term"],
                       "in_decay": o in counts["decay"]["operators_in_any_term"],
                       "has_A_in_prod": o in counts["prod"]["operators_with_A_term"]} for o in ops],
        "n_operators_pois_yaml": len(ops),
        "n_operators_in_any_term": len(ops_any),
        "prod_bins": list(prod),
        "decay_channels": list(decay),
        "term_counts": counts,
        "points": points,
        "self_check_max_rel_diff_sparse_vs_dense": worst,
        "generator": "Tests/References/root/make_stxs_refs.py",
        "python": sys.version.split()[0], "numpy": np.__version__, "pyyaml": yaml.__version__,
        "timing_s": {"evaluate_all_points": t_eval, "total": time.perf_counter() - t_start},
    }
    tmp = OUT + ".tmp.%d" % os.getpid()
    with open(tmp, "w") as fh:
        json.dump(doc, fh, indent=1)
        fh.write("\n")
    os.replace(tmp, OUT)
    cp, cd = counts["prod"], counts["decay"]
    print("prod: %d bins, A %d, B %d (square %d, cross %d); decay: %d entries, A %d, B %d (square %d, cross %d)"
          % (len(prod), cp["A_nonzero"], cp["B_nonzero"], cp["B_square_nonzero"], cp["B_cross_nonzero"],
             len(decay), cd["A_nonzero"], cd["B_nonzero"], cd["B_square_nonzero"], cd["B_cross_nonzero"]))
    print("operators: pois.yaml %d, in any term %d, with A in prod %d" % (len(ops), len(ops_any), cp["n_operators_with_A_term"]))
    for rec in points:
        mp = np.array(list(rec["mu_prod"].values()))
        print("%-8s mu_prod range [%.4g, %.4g]  gamma_tot %.6g" % (rec["label"], mp.min(), mp.max(), rec["gamma"]["tot"]))
    print("sparse vs dense max rel diff %.3g; eval %.3fs total %.3fs; wrote %s (%d bytes)"
          % (worst, t_eval, time.perf_counter() - t_start, OUT, os.path.getsize(OUT)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
