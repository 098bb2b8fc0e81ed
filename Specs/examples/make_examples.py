#!/usr/bin/env python3
"""Worked examples of Specs/histfactory.md and Specs/eft-extension.md.

An independent, deliberately plain reference implementation of the efthf specification
(HistFactory core = pyhf 0.7.6, plus the "morphing" modifier of extension 1.0.0+efthf.1), used to
compute every number quoted in the two documents. Run from anywhere:

    python3 Specs/examples/make_examples.py

It writes, next to itself:
    core_example.json                 pyhf 1.0.0 workspace of histfactory.md section 12
    eft_coefficient_absolute.json     example A  (coefficient form, absolute, real ROOT cHq3 pTV templates)
    eft_benchmarks_square.json        example B1 (benchmark form, 3 points)
    eft_benchmarks_overdetermined.json example B2 (benchmark form, 5 points, least squares)
    eft_relative_stxs.json            example C  (relative form, real CMS STXS->SMEFT coefficients)
    eft_parameter_order.json          example D  (parameter order, sharing across channels)
    eft_negative_clip.json            example E  (negative yields, policy "clip")
    eft_truncation_linear.json        example F  (truncation "linear")
    results.json                      every number, full precision (repr of IEEE doubles), including
                                      example G (event database with per-event systematics and a logistic
                                      bin assignment, Specs/event-database.md; events inline, no HDF5)

Checks made (the script stops on the first failure):
  * every extended workspace validates against Specs/schema/efthf-1.0.0+efthf.1/workspace.json
    and the core example against Specs/schema/pyhf-1.0.0/workspace.json (jsonschema, draft-06),
    and a set of invalid documents is rejected;
  * the interpolation codes reproduce pyhf 0.7.6's table (Specs/histfactory.md section 4);
  * the core example's logpdf equals pyhf 0.7.6's (if pyhf is installed) to 1e-12 relative;
  * every extended workspace evaluated at c = 0 equals pyhf's logpdf of the same workspace with the
    morphing modifiers removed (the SM limit), when pyhf is installed;
  * the polynomial of example A reproduces ROOT's RooLagrangianMorphFunc (root_morph_reference_pTV.json)
    when ../shared/reference/eft is present;
  * the benchmark form reproduces the coefficient form given the same information.

Inputs: the real templates of examples A and C are read from ../shared/reference/eft (ROOT's
morphing tutorial, CMS STXS->SMEFT) when that folder exists, and the few numbers used are cached in
_inputs_root_ptv_cHq3.json and _inputs_cms_stxs.json beside this script (used when it is absent).
"""

import copy
import json
import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SPECS = os.path.dirname(HERE)
REFERENCE = os.path.normpath(os.path.join(SPECS, "..", "..", "shared", "reference"))
EXT_VERSION = "1.0.0+efthf.1"
KIND_ORDER = ["histosys", "lumi", "normfactor", "normsys", "shapefactor", "shapesys", "staterror"]

# ---------------------------------------------------------------------------------------------
# Real inputs: read from ../shared/reference/eft when present; the few numbers used are then cached
# beside this script (_inputs_*.json, derived excerpts, committed) so that it also runs without it.

def load_root_ptv():
    """Contents/errors of the three cHq3 folders, bins 0..2 of pTV."""
    path = os.path.join(REFERENCE, "eft", "rf_lagrangianmorph_templates.json")
    cache = os.path.join(HERE, "_inputs_root_ptv_cHq3.json")
    if os.path.exists(path):
        t = json.load(open(path))["folders"]
        out = {}
        for f in ["SM_NPsq0", "cHq3_NPsq1", "cHq3_NPsq2"]:
            h = t[f]["histograms"]["pTV"]
            c = h["contents"] if isinstance(h["contents"], list) else json.loads(h["contents"])
            e = h["errors"] if isinstance(h["errors"], list) else json.loads(h["errors"])
            out[f] = {"contents": [float(x) for x in c[:3]], "errors": [float(x) for x in e[:3]]}
        with open(cache, "w") as fh:
            json.dump({"source": "../shared/reference/eft/rf_lagrangianmorph_templates.json, pTV bins 0-2 "
                                 "(ROOT tutorial input_histos_rf_lagrangianmorph.root, LGPL-2.1, derived excerpt)",
                       "folders": out}, fh, indent=1)
        return out, True
    return json.load(open(cache))["folders"], False


def load_cms_excerpt():
    """CMS STXS->SMEFT (SMEFTsim topU3l): two ggH pTH bins, operators chg and chbox."""
    path = os.path.join(REFERENCE, "eft", "cms_stxs_to_smeft", "prod.json")
    cache = os.path.join(HERE, "_inputs_cms_stxs.json")
    bins = ["GG2H_PTH_200_300", "GG2H_PTH_300_450"]
    keys = ["A_chg", "A_chbox", "B_chg_2", "B_chbox_2", "B_chbox_chg"]
    if os.path.exists(path):
        p = json.load(open(path))
        d = json.load(open(os.path.join(REFERENCE, "eft", "cms_stxs_to_smeft", "decay.json")))
        out = {"prod": {b: {k: p[b].get(k, 0.0) for k in keys} | {"u_" + k: p[b].get("u_" + k, 0.0) for k in keys}
                        for b in bins},
               "decay_gamgam": {k: d["gamgam"].get(k, 0.0) for k in keys}}
        with open(cache, "w") as fh:
            json.dump({"source": "../shared/reference/eft/cms_stxs_to_smeft/{prod,decay}.json (CMS CombinedLimit, "
                                 "Apache-2.0, derived excerpt)", "data": out}, fh, indent=1)
        return out, True
    return json.load(open(cache))["data"], False


# ---------------------------------------------------------------------------------------------
# Interpolation codes (Specs/histfactory.md section 4), pyhf 0.7.6 as implemented.

def code0(alpha, nom, lo, hi):
    return alpha * (hi - nom) if alpha > 0 else alpha * (nom - lo)


def code1(alpha, lo, hi):  # factors (nominal 1)
    return hi ** alpha if alpha > 0 else lo ** (-alpha)


def code2_v076(alpha, nom, lo, hi):
    a = 0.5 * (hi + lo) - nom
    b = 0.5 * (hi - lo)
    if alpha > 1:
        return (b + 2 * a) * (alpha - 1)
    if alpha < -1:
        return (b - 2 * a) * alpha  # pyhf 0.7.6 fast path (quirk): alpha, not (alpha + 1)
    return a * alpha * alpha + b * alpha


CODE4_INV = [
    [15 / 16, -15 / 16, -7 / 16, -7 / 16, 1 / 16, -1 / 16],
    [3 / 2, 3 / 2, -9 / 16, 9 / 16, 1 / 16, 1 / 16],
    [-5 / 8, 5 / 8, 5 / 8, 5 / 8, -1 / 8, 1 / 8],
    [-3 / 2, -3 / 2, 7 / 8, -7 / 8, -1 / 8, -1 / 8],
    [3 / 16, -3 / 16, -3 / 16, -3 / 16, 1 / 16, -1 / 16],
    [1 / 2, 1 / 2, -5 / 16, 5 / 16, 1 / 16, 1 / 16],
]


def code4(alpha, lo, hi):
    if alpha >= 1:
        return hi ** alpha
    if alpha <= -1:
        return lo ** (-alpha)
    lu, ld = math.log(hi), math.log(lo)
    b = [hi - 1, lo - 1, lu * hi, -ld * lo, lu * lu * hi, ld * ld * lo]
    a = [sum(CODE4_INV[i][j] * b[j] for j in range(6)) for i in range(6)]
    return 1 + sum(a[i] * alpha ** (i + 1) for i in range(6))


def code4p(alpha, nom, lo, hi):
    dp, dm = hi - nom, nom - lo
    if alpha > 1:
        return alpha * dp
    if alpha < -1:
        return alpha * dm
    s = 0.5 * (dp + dm)
    a = (dp - dm) / 16.0
    return alpha * s + alpha * alpha * a * (15 - 10 * alpha ** 2 + 3 * alpha ** 4)


def check_interpolation_table():
    alphas = [-2, -1, -0.5, 0, 0.3, 0.5, 1, 1.5, 2.5]
    table = {  # Specs/histfactory.md section 4 (= ../shared/reference/pyhf-semantics.md section 3)
        "code1": [0.64, 0.8, 0.894427191, 1, 1.081889749, 1.140175425, 1.3, 1.482228053, 1.926896468],
        "code4": [0.64, 0.8, 0.8922758384, 1, 1.079330978, 1.138282599, 1.3, 1.482228053, 1.926896468],
        "code0": [-4, -2, -1, 0, 0.9, 1.5, 3, 4.5, 7.5],
        "code4p": [-4, -2, -1.051757812, 0, 0.8294491875, 1.448242188, 3, 4.5, 7.5],
        "code2": [-3, -2, -1.125, 0, 0.795, 1.375, 3, 1.75, 5.25],
    }
    got = {
        "code1": [code1(a, 0.8, 1.3) for a in alphas],
        "code4": [code4(a, 0.8, 1.3) for a in alphas],
        "code0": [code0(a, 10, 8, 13) for a in alphas],
        "code4p": [code4p(a, 10, 8, 13) for a in alphas],
        "code2": [code2_v076(a, 10, 8, 13) for a in alphas],
    }
    for k in table:
        for x, y in zip(table[k], got[k]):
            assert abs(x - y) <= 1e-9 * max(1, abs(x)), (k, x, y)
    return {"alphas": alphas, **got}


# ---------------------------------------------------------------------------------------------
# Monomials, truncation, benchmark inversion (Specs/eft-extension.md sections 3-6).

def mono_key(powers, coefficients):
    """Canonical key: tuple of (coefficient index, power) sorted by index."""
    for name, p in powers.items():
        if name not in coefficients:
            raise ValueError(f"monomial refers to unknown coefficient {name!r}")
        if isinstance(p, bool) or not (isinstance(p, int) or (isinstance(p, float) and p.is_integer())) or p < 1:
            raise ValueError(f"power of {name!r} must be an integer >= 1")
    return tuple(sorted((coefficients.index(n), int(p)) for n, p in powers.items()))


def mono_degree(key):
    return sum(p for _, p in key)


def mono_value(key, c):
    v = 1.0
    for i, p in key:
        v *= c[i] ** p
    return v


def mono_name(key, coefficients):
    if not key:
        return "1"
    return "*".join(coefficients[i] if p == 1 else f"{coefficients[i]}^{p}" for i, p in key)


def pseudo_inverse(M):
    """M+ = V diag(1/s) U^T from a thin SVD; full column rank required (spec section 5)."""
    M = np.asarray(M, dtype=float)
    N, T = M.shape
    if N < T:
        raise ValueError(f"{N} benchmark points cannot determine {T} terms")
    U, s, Vt = np.linalg.svd(M, full_matrices=False)
    if not s[-1] > max(N, T) * np.finfo(float).eps * s[0]:
        raise ValueError("singular morphing matrix")
    return (Vt.T / s) @ U.T, s


class Morphing:
    """One morphing modifier, compiled (spec sections 3-7)."""

    def __init__(self, name, data, nbins, sample_data, where):
        self.name = name
        self.where = where
        self.coefficients = list(data["coefficients"])
        self.form = data["form"]
        self.policy = data.get("negative_yields", "error")
        C = self.coefficients
        self.inputs_cov = None  # benchmark form: (P, sigma_k) for the exact variance
        if "terms" in data:
            keys, T, S = [], [], []
            have_unc = any("uncertainty" in t for t in data["terms"])
            for t in data["terms"]:
                k = mono_key(t["powers"], C)
                if k in keys:
                    raise ValueError(f"{where}: duplicate term {mono_name(k, C)}")
                if len(t["data"]) != nbins:
                    raise ValueError(f"{where}: term {mono_name(k, C)} has {len(t['data'])} bins, sample has {nbins}")
                keys.append(k)
                T.append([float(x) for x in t["data"]])
                u = t.get("uncertainty", [0.0] * nbins)
                if len(u) != nbins or any(x < 0 or not math.isfinite(x) for x in u):
                    raise ValueError(f"{where}: bad uncertainty of term {mono_name(k, C)}")
                S.append([float(x) for x in u])
            self.keys, self.T = keys, np.array(T)
            self.S = np.array(S) if have_unc else None
            self.report = None
        else:
            bm = data["benchmarks"]
            keys = []
            for p in bm["monomials"]:
                k = mono_key(p, C)
                if k in keys:
                    raise ValueError(f"{where}: duplicate monomial {mono_name(k, C)}")
                keys.append(k)
            pts, Y, SIG = [], [], []
            with_unc = ["uncertainty" in p for p in bm["points"]]
            if any(with_unc) and not all(with_unc):
                raise ValueError(f"{where}: either every benchmark point has an uncertainty or none")
            for p in bm["points"]:
                for n in p["values"]:
                    if n not in C:
                        raise ValueError(f"{where}: benchmark value for unknown coefficient {n!r}")
                pts.append([float(p["values"].get(n, 0.0)) for n in C])
                y = [float(x) for x in p["data"]]
                if len(y) != nbins:
                    raise ValueError(f"{where}: benchmark point has {len(y)} bins, sample has {nbins}")
                if self.form == "relative":
                    y = [x - 1.0 for x in y]
                Y.append(y)
                SIG.append([float(x) for x in p.get("uncertainty", [0.0] * nbins)])
            M = np.array([[mono_value(k, pt) for k in keys] for pt in pts])
            try:
                P, s = pseudo_inverse(M)
            except ValueError as e:
                raise ValueError(f"{where}: {e}")
            self.keys = keys
            self.T = P @ np.array(Y)
            self.P = P
            self.S = None
            if all(with_unc) and with_unc:
                self.inputs_cov = (P, np.array(SIG))
                # per-term standard deviations (reported; not used in the likelihood)
                self.S_report = np.sqrt((P ** 2) @ (np.array(SIG) ** 2))
            self.report = {"condition_number": float(s[0] / s[-1]), "singular_values": [float(x) for x in s],
                           "points": pts, "M": M.tolist(), "P": P.tolist()}
        if self.form == "relative" and any(mono_degree(k) == 0 for k in self.keys):
            raise ValueError(f"{where}: the relative form has no SM term (the constant 1 is implicit)")
        # self-consistency of data (absolute form), before truncation (spec section 3.3)
        if self.form == "absolute":
            sm = np.zeros(nbins)
            scale = np.abs(np.asarray(sample_data, dtype=float))
            for t, k in enumerate(self.keys):
                if mono_degree(k) == 0:
                    sm = self.T[t].copy()
                    scale = np.maximum(scale, np.abs(sm))
                    if self.report is not None:  # benchmark: roundoff scale of the solve
                        scale = np.maximum(scale, np.abs(self.P[t]) @ np.abs(np.array(Y)))
            bad = np.abs(np.asarray(sample_data) - sm) > 1e-9 * scale
            if bad.any():
                raise ValueError(f"{where}: sample data differ from the morphed SM yield in bins {[int(b) for b in np.nonzero(bad)[0]]}: "
                                 f"{list(sample_data)} vs {[float(x) for x in sm]}")
        self.kept = list(range(len(self.keys)))
        self.sm_sigma = None
        if self.form == "absolute" and (self.S is not None or self.inputs_cov is not None):
            self.sm_sigma = np.sqrt(self.variance(np.zeros(len(C))))
        # truncation (after conversion)
        tr = data.get("truncation")
        self.kept = list(range(len(self.keys)))
        if tr is not None:
            if tr == "linear":
                self.kept = [t for t in self.kept if mono_degree(self.keys[t]) <= 1]
            elif tr == "quadratic":
                self.kept = [t for t in self.kept if mono_degree(self.keys[t]) <= 2]
            else:
                sel = [mono_key(p, C) for p in tr["terms"]]
                for k in sel:
                    if k not in self.keys:
                        raise ValueError(f"{where}: truncation names {mono_name(k, C)}, which is not a term")
                if self.form == "absolute" and any(mono_degree(k) == 0 for k in self.keys) and () not in sel:
                    raise ValueError(f"{where}: an explicit truncation must keep the SM term")
                self.kept = [t for t in self.kept if self.keys[t] in sel]
            # recompute the SM sigma? no: sigma at c = 0 only involves degree-0 terms, which are kept.

    def monomials(self, c):
        return np.array([mono_value(k, c) if t in self.kept else 0.0 for t, k in enumerate(self.keys)])

    def polynomial(self, c):
        """sum_t T_tb m_t(c) over kept terms (absolute), or 1 + that (relative)."""
        v = self.monomials(c) @ self.T
        return v + 1.0 if self.form == "relative" else v

    def variance(self, c):
        """Variance of the polynomial at c (section 7.1); None when the modifier has no uncertainties."""
        m = self.monomials(c)
        if self.S is not None:
            return (m[:, None] ** 2 * self.S ** 2).sum(axis=0)
        if self.inputs_cov is not None:
            P, SIG = self.inputs_cov
            w = m @ P
            return (w[:, None] ** 2 * SIG ** 2).sum(axis=0)
        return None

    def weights(self, c):
        return self.monomials(c) @ self.P

    def has_uncertainties(self):
        return self.S is not None or self.inputs_cov is not None


# ---------------------------------------------------------------------------------------------
# Reference model (Specs/histfactory.md + Specs/eft-extension.md).

class EvaluationError(Exception):
    pass


def clip_floor(nu, eps):
    return nu if nu >= eps else eps * math.exp((nu - eps) / eps)


class Model:
    def __init__(self, ws, measurement=None):
        if ws["version"] not in ("1.0.0", EXT_VERSION):
            raise ValueError("unknown version")
        self.extended = ws["version"] == EXT_VERSION
        meas = ws["measurements"][0] if measurement is None else [m for m in ws["measurements"] if m["name"] == measurement][0]
        self.poi = meas["config"]["poi"]
        cfg = {p["name"]: p for p in meas["config"]["parameters"]}
        chans = sorted(ws["channels"], key=lambda c: c["name"])
        self.channels = [c["name"] for c in chans]
        self.nbins = [len(c["samples"][0]["data"]) for c in chans]
        self.offsets = np.cumsum([0] + self.nbins)[:-1].tolist()
        self.samples = sorted({s["name"] for c in chans for s in c["samples"]})
        self.obs = {o["name"]: o["data"] for o in ws["observations"]}
        pairs = sorted({(m["name"], m["type"]) for c in chans for s in c["samples"] for m in s["modifiers"]})
        self.pairs = pairs
        # entries: (channel index, sample name) -> sample spec with mods dict keyed by (name, type)
        self.entries = []
        for ci, c in enumerate(chans):
            bysample = {s["name"]: s for s in c["samples"]}
            for sn in self.samples:
                if sn in bysample:
                    s = bysample[sn]
                    mods = {}
                    for m in s["modifiers"]:
                        if m["type"] == "morphing" and not self.extended:
                            raise ValueError("morphing modifier in a 1.0.0 workspace")
                        if m["type"] == "morphing" and (m["name"], "morphing") in mods:
                            raise ValueError("duplicate morphing modifier name on one sample")
                        mods[(m["name"], m["type"])] = m
                    self.entries.append((ci, sn, s, mods))
        # ---- parameter sets: requirements by kind in first-appearance order
        req = {k: [] for k in KIND_ORDER + ["morphing"]}
        names_by_kind = {k: [] for k in req}
        std_names = set()
        for ci, sn, s, mods in self.entries:
            for key in pairs:
                if key not in mods:
                    continue
                name, kind = key
                if kind == "morphing":
                    for coef in mods[key]["data"]["coefficients"]:
                        if coef not in names_by_kind["morphing"]:
                            names_by_kind["morphing"].append(coef)
                    continue
                std_names.add(name)
                if kind == "staterror":
                    continue
                if name not in names_by_kind[kind]:
                    names_by_kind[kind].append(name)
                    m = mods[key]
                    n = len(s["data"])
                    if kind in ("histosys", "normsys"):
                        r = dict(type="normal", n=1, inits=[0.0], bounds=[[-5.0, 5.0]], aux=[0.0], sigmas=[1.0], fixed=[False])
                    elif kind == "lumi":
                        r = dict(type="normal", n=1, inits=None, bounds=None, aux=None, sigmas=None, fixed=[False])
                    elif kind == "normfactor":
                        r = dict(type="free", n=1, inits=[1.0], bounds=[[0.0, 10.0]], fixed=[False])
                    elif kind == "shapefactor":
                        r = dict(type="free", n=n, inits=[1.0] * n, bounds=[[0.0, 10.0]] * n, fixed=[False] * n)
                    elif kind == "shapesys":
                        valid = [d > 0 and u > 0 for d, u in zip(s["data"], m["data"])]
                        tau = [(d / u) ** 2 if v else 1.0 for d, u, v in zip(s["data"], m["data"], valid)]
                        r = dict(type="poisson", n=n, inits=[1.0] * n, bounds=[[1e-10, 10.0]] * n, aux=tau, factors=tau,
                                 fixed=[not v for v in valid])
                    req[kind].append((name, r))
        for coef in names_by_kind["morphing"]:
            if coef in std_names:
                raise ValueError(f"Wilson coefficient {coef!r} is also the name of a standard modifier")
        for name, kind in pairs:
            if kind == "morphing" and (name in std_names or name in names_by_kind["morphing"]):
                raise ValueError(f"morphing modifier name {name!r} is also the name of a parameter")
        # ---- morphing modifiers compiled per entry
        self.morph = {}
        for idx, (ci, sn, s, mods) in enumerate(self.entries):
            ms = []
            for key in pairs:
                if key in mods and key[1] == "morphing":
                    where = f"channel {self.channels[ci]!r} sample {sn!r} modifier {key[0]!r}"
                    ms.append(Morphing(key[0], mods[key]["data"], len(s["data"]), s["data"], where))
            if sum(m.form == "absolute" for m in ms) > 1:
                raise ValueError("at most one absolute-form morphing modifier per sample")
            if len({m.policy for m in ms}) > 1:
                raise ValueError("morphing modifiers of one sample must declare the same negative_yields policy")
            self.morph[idx] = ms
            # SM-limit consistency of the MC-statistical uncertainty (eft-extension.md section 7.2)
            for m in ms:
                if m.sm_sigma is None:
                    continue
                for (name, kind), mod in mods.items():
                    if kind != "staterror":
                        continue
                    d = np.asarray(mod["data"], dtype=float)
                    bad = np.abs(d - m.sm_sigma) > 1e-9 * np.maximum(np.abs(d), np.abs(m.sm_sigma))
                    if bad.any():
                        raise ValueError(f"{m.where}: SM-term uncertainty {[float(x) for x in m.sm_sigma]} differs from staterror "
                                         f"{name!r} data {list(d)}")
        # ---- staterror: one set per name (name order)
        self.staterror = {}
        for name, kind in pairs:
            if kind != "staterror":
                continue
            tot = sum(self.nbins)
            carriers = []  # per sample: (entry indices by channel)
            mask = None
            for sn in self.samples:
                smask = [False] * tot
                idxs = []
                for idx, (ci, sn2, s, mods) in enumerate(self.entries):
                    if sn2 != sn:
                        continue
                    if (name, "staterror") in mods:
                        for b in range(self.nbins[ci]):
                            smask[self.offsets[ci] + b] = True
                        idxs.append(idx)
                if not any(smask):
                    continue
                assert mask is None or mask == smask, "staterror masks differ"
                mask = smask
                carriers.append((sn, idxs))
            bins = [g for g in range(tot) if mask[g]]
            # static sigma (pyhf) == sigma at c = 0 (spec section 7.3)
            sig0 = self._staterror_sigmas(name, bins, carriers, None)
            fixed = [bool(x == 0) for x in sig0]
            sig_static = [1.0 if x == 0 else x for x in sig0]
            morphed = any(self._in_M(idx, name) for _, idxs in carriers for idx in idxs)
            override = cfg.get(name, {}).get("sigmas")
            self.staterror[name] = dict(bins=bins, carriers=carriers, fixed=fixed, sigmas=override or sig_static,
                                        dynamic=morphed and override is None)
            req["staterror"].append((name, dict(type="normal", n=len(bins), inits=[1.0] * len(bins),
                                                bounds=[[1e-10, 10.0]] * len(bins), aux=[1.0] * len(bins),
                                                sigmas=override or sig_static, fixed=fixed)))
        for coef in names_by_kind["morphing"]:
            req["morphing"].append((coef, dict(type="free", n=1, inits=[0.0], bounds=[[-10.0, 10.0]], fixed=[False])))
        # ---- assemble in kind order, apply measurement config
        self.sets = []
        off = 0
        seen = set()
        for kind in KIND_ORDER + ["morphing"]:
            for name, r in req[kind]:
                if name in seen:
                    continue  # shared name (e.g. normsys + histosys): same set
                seen.add(name)
                r = dict(r)
                u = cfg.get(name, {})
                for f_json, f in (("inits", "inits"), ("bounds", "bounds"), ("auxdata", "aux"), ("sigmas", "sigmas"),
                                  ("factors", "factors")):
                    if f_json in u:
                        if r["type"] == "free" and f_json in ("auxdata", "sigmas", "factors"):
                            raise ValueError(f"parameter {name!r} does not use {f_json}")
                        assert len(u[f_json]) == r["n"]
                        r[f] = [float(x) if not isinstance(x, list) else [float(y) for y in x] for x in u[f_json]]
                if "fixed" in u:
                    r["fixed"] = [u["fixed"]] * r["n"]
                if r["inits"] is None or r["bounds"] is None or (r["type"] == "normal" and r.get("aux") is None):
                    raise ValueError(f"parameter {name!r} needs inits, bounds and auxdata in the measurement")
                if r["type"] == "normal" and r.get("sigmas") is None:
                    r["sigmas"] = [1.0] * r["n"]
                r.update(name=name, kind=kind, offset=off)
                off += r["n"]
                self.sets.append(r)
        self.npars = off
        self.by_name = {r["name"]: r for r in self.sets}
        self.par_order = [r["name"] for r in self.sets]
        names = []
        for r in self.sets:
            scalar = r["kind"] in ("histosys", "lumi", "normfactor", "normsys", "morphing")
            names += [r["name"]] if scalar else [f"{r['name']}[{i}]" for i in range(r["n"])]
        self.names = names
        self.inits = [x for r in self.sets for x in r["inits"]]
        self.aux = [x for r in self.sets if r["type"] in ("normal", "poisson") for x in r["aux"]]
        self.coefs = names_by_kind["morphing"]

    # -- helpers
    def _in_M(self, idx, name):
        return (name, "staterror") in self.entries[idx][3] and any(m.has_uncertainties() for m in self.morph[idx])

    def coef_vector(self, m, pars):
        return [pars[self.by_name[n]["offset"]] for n in m.coefficients]

    def morphed(self, idx, pars):
        """(raw nu0, var or None, per-factor values) of entry idx (section 6-7)."""
        ci, sn, s, mods = self.entries[idx]
        data = np.asarray(s["data"], dtype=float)
        ms = self.morph[idx]
        if not ms:
            return data.copy(), None
        factors = []  # (value per bin, variance per bin)
        absolute = [m for m in ms if m.form == "absolute"]
        if absolute:
            m = absolute[0]
            c = self.coef_vector(m, pars)
            v = m.variance(c)
            factors.append((m.polynomial(c), v if v is not None else np.zeros(len(data))))
        else:
            d = self.staterror_delta(idx)
            factors.append((data, d ** 2))
        for m in ms:
            if m.form == "relative":
                c = self.coef_vector(m, pars)
                v = m.variance(c)
                factors.append((m.polynomial(c), v if v is not None else np.zeros(len(data))))
        nu0 = np.prod([f[0] for f in factors], axis=0)
        var = np.zeros(len(data))
        for i, (val, V) in enumerate(factors):
            others = np.prod([f[0] ** 2 for j, f in enumerate(factors) if j != i], axis=0) if len(factors) > 1 else 1.0
            var = var + V * others
        return nu0, var

    def staterror_delta(self, idx):
        ci, sn, s, mods = self.entries[idx]
        for (name, kind), m in mods.items():
            if kind == "staterror":
                return np.asarray(m["data"], dtype=float)
        return np.zeros(len(s["data"]))

    def nu0_after_policy(self, idx, pars, diagnostics):
        ci, sn, s, mods = self.entries[idx]
        raw, var = self.morphed(idx, pars)
        ms = self.morph[idx]
        if not ms:
            return raw, raw, var
        policy = ms[0].policy
        data = np.asarray(s["data"], dtype=float)
        out = raw.copy()
        neg = [b for b in range(len(raw)) if raw[b] < 0]
        if policy == "error" and neg:
            diagnostics.append({"channel": self.channels[ci], "sample": sn, "bins": neg,
                                "values": [float(raw[b]) for b in neg]})
        elif policy == "clip":
            for b in range(len(raw)):
                eps = max(1e-6 * abs(data[b]), 1e-9)
                out[b] = clip_floor(raw[b], eps)
        return raw, out, var

    def _staterror_sigmas(self, name, bins, carriers, pars):
        """sigma_b for the masked global bins; pars None: static (pyhf) values."""
        num = {g: 0.0 for g in bins}
        den = {g: 0.0 for g in bins}
        for sn, idxs in carriers:
            for idx in idxs:
                ci, _, s, mods = self.entries[idx]
                delta = np.asarray(mods[(name, "staterror")]["data"], dtype=float)
                nom = np.asarray(s["data"], dtype=float)
                var = delta ** 2
                if pars is not None and self._in_M(idx, name):
                    _, nom, var = self.nu0_after_policy(idx, pars, [])
                for b in range(self.nbins[ci]):
                    g = self.offsets[ci] + b
                    num[g] += var[b]
                    den[g] += nom[b]
        # pyhf: sigma = sqrt(sum delta^2)/sum nom when sum nom > 0, else 0
        return [math.sqrt(num[g]) / den[g] if den[g] > 0 else 0.0 for g in bins]

    def staterror_sigmas_at(self, name, pars):
        st = self.staterror[name]
        if not st["dynamic"]:
            return list(st["sigmas"])
        sig = self._staterror_sigmas(name, st["bins"], st["carriers"], pars)
        out = []
        for i, x in enumerate(sig):
            if st["fixed"][i]:
                out.append(1.0)
            elif not (x > 0 and math.isfinite(x)):
                raise EvaluationError(f"staterror {name!r}: sigma of masked bin {i} is {x} at the current point")
            else:
                out.append(x)
        return out

    def expected(self, pars, detail=None):
        pars = list(pars)
        nu = np.zeros(sum(self.nbins))
        diagnostics = []
        for idx, (ci, sn, s, mods) in enumerate(self.entries):
            data = np.asarray(s["data"], dtype=float)
            n = len(data)
            raw, nu0, var = self.nu0_after_policy(idx, pars, diagnostics)
            r = np.array([nu0[b] / data[b] if data[b] != 0 else 1.0 for b in range(n)]) if self.morph[idx] else np.ones(n)
            base = nu0.copy()
            scal = 1.0
            perbin = np.ones(n)
            for key in self.pairs:
                if key not in mods:
                    continue
                name, kind = key
                m = mods[key]
                if kind == "morphing":
                    continue
                st = self.by_name[name]
                if kind == "histosys":
                    a = pars[st["offset"]]
                    base = base + np.array([code4p(a, data[b], m["data"]["lo_data"][b], m["data"]["hi_data"][b])
                                            for b in range(n)]) * r
                elif kind == "normsys":
                    scal *= code4(pars[st["offset"]], m["data"]["lo"], m["data"]["hi"])
                elif kind in ("normfactor", "lumi"):
                    scal *= pars[st["offset"]]
                elif kind == "shapesys":
                    perbin = perbin * np.array(pars[st["offset"]:st["offset"] + n])
                elif kind == "shapefactor":
                    perbin = perbin * np.array(pars[st["offset"]:st["offset"] + n])
                elif kind == "staterror":
                    stt = self.staterror[name]
                    first = stt["bins"].index(self.offsets[ci])
                    perbin = perbin * np.array(pars[st["offset"] + first:st["offset"] + first + n])
            v = scal * perbin * base
            nu[self.offsets[ci]:self.offsets[ci] + n] += v
            if detail is not None:
                detail.append({"channel": self.channels[ci], "sample": sn, "raw_nu0": raw.tolist(), "nu0": nu0.tolist(),
                               "var": None if var is None else var.tolist(), "r": r.tolist(), "nu": v.tolist()})
        if diagnostics:
            c = {n: pars[self.by_name[n]["offset"]] for n in self.coefs}
            raise EvaluationError(json.dumps({"negative morphed yields": diagnostics, "coefficients": c}))
        if (nu < 0).any():
            c = {n: pars[self.by_name[n]["offset"]] for n in self.coefs}
            raise EvaluationError(json.dumps({"negative expected yields": [int(b) for b in np.nonzero(nu < 0)[0]],
                                              "coefficients": c}))
        return nu

    def main_data(self):
        return [x for c in self.channels for x in self.obs[c]]

    def logpdf(self, pars, main=None, aux=None, terms=None):
        main = self.main_data() if main is None else main
        aux = self.aux if aux is None else aux
        nu = self.expected(pars)
        ll_main = 0.0
        for n, v in zip(main, nu):
            ll_main += (n * math.log(v) if n != 0 else 0.0) - v - math.lgamma(n + 1)
        ll_c = 0.0
        k = 0
        for r in self.sets:
            if r["type"] == "free":
                continue
            if r["type"] == "normal":
                sig = self.staterror_sigmas_at(r["name"], pars) if r["kind"] == "staterror" else r["sigmas"]
                for i in range(r["n"]):
                    th = pars[r["offset"] + i]
                    a = aux[k + i]
                    # Normalisation with the static width sigma(0), exponent with sigma(c) (spec 8.2).
                    ll_c += -math.log(r["sigmas"][i] * math.sqrt(2 * math.pi)) - (a - th) ** 2 / (2 * sig[i] ** 2)
            else:
                for i in range(r["n"]):
                    g = pars[r["offset"] + i]
                    a = aux[k + i]
                    rate = g * r["factors"][i]
                    ll_c += (a * math.log(rate) if a != 0 else 0.0) - rate - math.lgamma(a + 1)
            k += r["n"]
        if terms is not None:
            terms.update(main=ll_main, constraints=ll_c)
        return ll_main + ll_c

    def point(self, **named):
        p = list(self.inits)
        for k, v in named.items():
            if k in self.names:
                p[self.names.index(k)] = v
            else:
                r = self.by_name[k]
                assert len(v) == r["n"]
                p[r["offset"]:r["offset"] + r["n"]] = v
        return p


def strip_morphing(ws):
    """The 1.0.0 workspace of the SM limit: morphing modifiers removed."""
    w = copy.deepcopy(ws)
    w["version"] = "1.0.0"
    coefs = set()
    for c in w["channels"]:
        for s in c["samples"]:
            for m in s["modifiers"]:
                if m["type"] == "morphing":
                    coefs.update(m["data"]["coefficients"])
            s["modifiers"] = [m for m in s["modifiers"] if m["type"] != "morphing"]
    for m in w["measurements"]:
        m["config"]["parameters"] = [p for p in m["config"]["parameters"] if p["name"] not in coefs]
        if m["config"]["poi"] in coefs:
            m["config"]["poi"] = ""
    return w


def gradient_fd(model, pars, names, h=1e-4):
    """Central differences with one Richardson step (error ~h^4): test values, not the definition."""
    out = {}
    for n in names:
        i = model.names.index(n)

        def f(x):
            p = list(pars)
            p[i] = x
            return model.logpdf(p)
        d1 = (f(pars[i] + h) - f(pars[i] - h)) / (2 * h)
        d2 = (f(pars[i] + h / 2) - f(pars[i] - h / 2)) / h
        out[n] = (4 * d2 - d1) / 3
    return out


# ---------------------------------------------------------------------------------------------
# Schemas

def validators():
    from jsonschema import Draft6Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT6
    reg = Registry()
    docs = {}
    for d in ("pyhf-1.0.0", "efthf-1.0.0+efthf.1"):
        folder = os.path.join(SPECS, "schema", d)
        for f in sorted(os.listdir(folder)):
            if f.endswith(".json"):
                doc = json.load(open(os.path.join(folder, f)))
                reg = reg.with_resource(doc["$id"], Resource.from_contents(doc, default_specification=DRAFT6))
                docs[(d, f)] = doc
    # Look the entry points up by $id, so that their relative $refs resolve against it (in draft-06 a
    # $id beside a $ref is ignored, as in pyhf's own workspace.json).
    ext = Draft6Validator({"$ref": docs[("efthf-1.0.0+efthf.1", "workspace.json")]["$id"]}, registry=reg)
    core = Draft6Validator({"$ref": docs[("pyhf-1.0.0", "workspace.json")]["$id"]}, registry=reg)
    return core, ext


def validate(ws, core, ext):
    """Dispatch on version (Specs/README.md): 1.0.0 -> pyhf schema, 1.0.0+efthf.1 -> efthf schema."""
    v = {"1.0.0": core, EXT_VERSION: ext}.get(ws.get("version"))
    if v is None:
        raise ValueError(f"unknown version {ws.get('version')!r}")
    errors = sorted(v.iter_errors(ws), key=lambda e: list(e.path))
    if errors:
        raise ValueError("; ".join(f"{'/'.join(map(str, e.path))}: {e.message[:200]}" for e in errors[:3]))


# ---------------------------------------------------------------------------------------------
# The examples

def lumi_cfg():
    return {"name": "lumi", "auxdata": [1.0], "sigmas": [0.017], "bounds": [[0.915, 1.085]], "inits": [1.0]}


def core_example():
    return {
        "version": "1.0.0",
        "channels": [
            {"name": "SR", "samples": [
                {"name": "signal", "data": [5.0, 10.0], "modifiers": [
                    {"name": "mu", "type": "normfactor", "data": None},
                    {"name": "lumi", "type": "lumi", "data": None}]},
                {"name": "bkg", "data": [50.0, 60.0], "modifiers": [
                    {"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}},
                    {"name": "jes", "type": "histosys", "data": {"hi_data": [53.0, 64.0], "lo_data": [48.0, 57.0]}},
                    {"name": "jes", "type": "normsys", "data": {"hi": 1.02, "lo": 0.97}},
                    {"name": "staterror_SR", "type": "staterror", "data": [3.0, 4.0]},
                    {"name": "lumi", "type": "lumi", "data": None}]}]},
            {"name": "CR", "samples": [
                {"name": "bkg", "data": [100.0, 0.0], "modifiers": [
                    {"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}},
                    {"name": "cr_shape", "type": "shapesys", "data": [10.0, 1.0]},
                    {"name": "staterror_CR", "type": "staterror", "data": [5.0, 0.0]},
                    {"name": "lumi", "type": "lumi", "data": None}]}]},
        ],
        "observations": [{"name": "SR", "data": [58.0, 71.0]}, {"name": "CR", "data": [103.0, 0.0]}],
        "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": [lumi_cfg()]}}],
    }


def example_A(root):
    sm, l1, q2 = root["SM_NPsq0"], root["cHq3_NPsq1"], root["cHq3_NPsq2"]
    smd = sm["contents"]
    return {
        "version": EXT_VERSION,
        "channels": [{"name": "SR_pTV", "samples": [
            {"name": "VH", "data": smd, "modifiers": [
                {"name": "vh_smeft", "type": "morphing", "data": {
                    "coefficients": ["cHq3"], "form": "absolute",
                    "terms": [
                        {"powers": {}, "data": list(smd), "uncertainty": list(sm["errors"])},
                        {"powers": {"cHq3": 1}, "data": l1["contents"], "uncertainty": l1["errors"]},
                        {"powers": {"cHq3": 2}, "data": q2["contents"], "uncertainty": q2["errors"]}],
                    "negative_yields": "error"}},
                {"name": "jes", "type": "histosys", "data": {
                    "hi_data": [round(x * 1.04, 6) for x in smd], "lo_data": [round(x * 0.97, 6) for x in smd]}},
                {"name": "vh_xsec", "type": "normsys", "data": {"hi": 1.03, "lo": 0.97}},
                {"name": "staterror_SR", "type": "staterror", "data": sm["errors"]},
                {"name": "lumi", "type": "lumi", "data": None}]},
            {"name": "bkg", "data": [60.0, 120.0, 300.0], "modifiers": [
                {"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}},
                {"name": "staterror_SR", "type": "staterror", "data": [4.0, 6.0, 10.0]},
                {"name": "lumi", "type": "lumi", "data": None}]}]}],
        "observations": [{"name": "SR_pTV", "data": [62.0, 290.0, 1090.0]}],
        "measurements": [{"name": "eft", "config": {"poi": "cHq3", "parameters": [
            lumi_cfg(), {"name": "cHq3", "bounds": [[-2.0, 2.0]]}]}}],
    }


def example_B(root, overdetermined):
    sm, l1, q2 = (np.array(root[f]["contents"]) for f in ("SM_NPsq0", "cHq3_NPsq1", "cHq3_NPsq2"))
    pts = [0.0, 1.0, -1.0] + ([2.0, -2.0] if overdetermined else [])
    points = []
    for k, c in enumerate(pts):
        y = sm + c * l1 + c * c * q2
        if overdetermined:  # deterministic "statistical" scatter so that the fit is not exact
            y = y * (1 + 0.01 * np.sin(np.arange(3) + 1.7 * k + 0.3))
        unc = 0.02 * np.abs(y) + 0.5
        points.append({"values": {"cHq3": c}, "data": [float(x) for x in y], "uncertainty": [float(x) for x in unc]})
    monos = [{}, {"cHq3": 1}, {"cHq3": 2}]
    # data = the derived SM term (section 5.4); computed with the same pseudo-inverse
    M = np.array([[1.0, c, c * c] for c in pts])
    P, _ = pseudo_inverse(M)
    T = P @ np.array([p["data"] for p in points])
    sigma_sm = np.sqrt(((P[0][:, None] ** 2) * np.array([p["uncertainty"] for p in points]) ** 2).sum(axis=0))
    return {
        "version": EXT_VERSION,
        "channels": [{"name": "SR_pTV", "samples": [
            {"name": "VH", "data": [float(x) for x in T[0]], "modifiers": [
                {"name": "vh_smeft", "type": "morphing", "data": {
                    "coefficients": ["cHq3"], "form": "absolute",
                    "benchmarks": {"monomials": monos, "points": points}}},
                {"name": "staterror_SR", "type": "staterror", "data": [float(x) for x in sigma_sm]}]},
            {"name": "bkg", "data": [60.0, 120.0, 300.0], "modifiers": [
                {"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}},
                {"name": "staterror_SR", "type": "staterror", "data": [4.0, 6.0, 10.0]}]}]}],
        "observations": [{"name": "SR_pTV", "data": [62.0, 290.0, 1090.0]}],
        "measurements": [{"name": "eft", "config": {"poi": "cHq3", "parameters": [{"name": "cHq3", "bounds": [[-2.0, 2.0]]}]}}],
    }


def example_C(cms):
    bins = ["GG2H_PTH_200_300", "GG2H_PTH_300_450"]
    p = cms["prod"]
    terms = []
    for key, powers in (("A_chg", {"chg": 1}), ("A_chbox", {"chbox": 1}), ("B_chg_2", {"chg": 2}),
                        ("B_chbox_2", {"chbox": 2}), ("B_chbox_chg", {"chbox": 1, "chg": 1})):
        vals = [p[b][key] for b in bins]
        if all(v == 0 for v in vals):
            continue  # sparse: absent terms are simply not listed
        terms.append({"powers": powers, "data": vals, "uncertainty": [p[b]["u_" + key] for b in bins]})
    dec = cms["decay_gamgam"]
    dterms = [{"powers": {"chbox": 1}, "data": [dec["A_chbox"]] * 2}]
    return {
        "version": EXT_VERSION,
        "channels": [{"name": "ggH_highpt", "samples": [
            {"name": "ggH_hgg", "data": [30.0, 12.0], "modifiers": [
                {"name": "ggH_prod", "type": "morphing", "data": {
                    "coefficients": ["chg", "chbox"], "form": "relative", "terms": terms}},
                {"name": "hgg_partial_width", "type": "morphing", "data": {
                    "coefficients": ["chbox"], "form": "relative", "terms": dterms}},
                {"name": "staterror_ggH_highpt", "type": "staterror", "data": [1.5, 0.9]}]},
            {"name": "bkg", "data": [200.0, 80.0], "modifiers": [
                {"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.05, "lo": 0.95}},
                {"name": "staterror_ggH_highpt", "type": "staterror", "data": [5.0, 3.0]}]}]}],
        "observations": [{"name": "ggH_highpt", "data": [236.0, 95.0]}],
        "measurements": [{"name": "stxs", "config": {"poi": "chg", "parameters": [
            {"name": "chg", "bounds": [[-0.01, 0.01]]}, {"name": "chbox", "bounds": [[-5.0, 5.0]]}]}}],
    }


def example_D():
    def morph(name, coefs, terms):
        return {"name": name, "type": "morphing", "data": {"coefficients": coefs, "form": "absolute", "terms": terms}}
    return {
        "version": EXT_VERSION,
        "channels": [
            {"name": "SR", "samples": [
                {"name": "WH", "data": [10.0, 4.0], "modifiers": [
                    morph("wh_eft", ["cHW", "cHq3"], [
                        {"powers": {}, "data": [10.0, 4.0]},
                        {"powers": {"cHW": 1}, "data": [1.5, 1.2]},
                        {"powers": {"cHq3": 1}, "data": [3.0, 4.0]},
                        {"powers": {"cHW": 1, "cHq3": 1}, "data": [0.4, 0.9]},
                        {"powers": {"cHq3": 2}, "data": [0.8, 2.5]}]),
                    {"name": "mu_WH", "type": "normfactor", "data": None}]},
                {"name": "ttbar", "data": [40.0, 20.0], "modifiers": [
                    {"name": "ttbar_norm", "type": "normfactor", "data": None},
                    {"name": "jes", "type": "histosys", "data": {"hi_data": [42.0, 21.5], "lo_data": [39.0, 19.0]}}]}]},
            {"name": "CR", "samples": [
                {"name": "ZH", "data": [6.0], "modifiers": [
                    morph("zh_eft", ["cW", "cHW"], [
                        {"powers": {}, "data": [6.0]},
                        {"powers": {"cW": 1}, "data": [-0.6]},
                        {"powers": {"cHW": 1}, "data": [0.9]},
                        {"powers": {"cW": 2}, "data": [0.2]}])]},
                {"name": "ttbar", "data": [100.0], "modifiers": [
                    {"name": "ttbar_norm", "type": "normfactor", "data": None},
                    {"name": "jes", "type": "normsys", "data": {"hi": 1.05, "lo": 0.96}}]}]}],
        "observations": [{"name": "SR", "data": [52.0, 25.0]}, {"name": "CR", "data": [108.0]}],
        "measurements": [{"name": "m", "config": {"poi": "cHW", "parameters": [
            {"name": "mu_WH", "fixed": True}, {"name": "cW", "inits": [0.5], "bounds": [[-3.0, 3.0]]}]}}],
    }


def fmt(x):
    return float(f"{x:.10g}")


def example_G_event_systematics():
    """Specs/event-database.md, "Systematics as nuisance parameters": a six-event database with two
    Wilson coefficients, a weight variation and an observable shift, smoothed with h = 5, evaluated
    at one (c, theta) from the formulae, plainly (every edge, no truncation); the Jacobian by
    five-point central differences."""
    names = ["cA", "cB"]
    exponents = [[0, 0], [1, 0], [0, 1], [2, 0], [1, 1], [0, 2]]
    events = {
        "x": [12.0, 27.5, 39.0, 41.0, 58.0, 80.0],
        "a": [[1.0, 0.3, -0.2, 0.05, 0.01, 0.02], [0.8, -0.1, 0.4, 0.03, -0.02, 0.06], [1.2, 0.5, 0.1, 0.09, 0.03, 0.01],
              [-0.3, 0.2, 0.2, 0.04, 0.02, 0.02], [0.9, 0.7, -0.6, 0.2, -0.1, 0.15], [0.5, 0.9, 0.3, 0.4, 0.2, 0.05]],
        "weight_up": [1.05, 1.02, 1.08, 1.01, 1.10, 1.03], "weight_down": [0.97, 0.99, 0.95, 0.98, 0.92, 0.96],
        "shift_up": [0.6, 1.375, 1.95, 2.05, 2.9, 4.0], "shift_down": [-0.3, -0.6, -1.2, -1.0, -1.5, -2.5],
    }
    edges, h, n = [10.0, 30.0, 45.0, 70.0], 5.0, 1.5
    c0, theta0 = [0.3, -0.5], [0.6, -1.4]   # theta = (shift, weight)

    def I(t, up, down):   # I(θ; δ₊, δ₋): code4p with nominal 0, +1 variation δ₊, −1 variation −δ₋
        return code4p(t, 0.0, -down, up)

    def F(z):
        return 1.0 / (1.0 + math.exp(-z))

    def evaluate(c, theta):
        B = len(edges) - 1
        nu, var = [0.0] * B, [0.0] * B
        for e in range(len(events["x"])):
            w = sum(a * c[0] ** p[0] * c[1] ** p[1] for a, p in zip(events["a"][e], exponents))
            f = 1 + I(theta[1], events["weight_up"][e] - 1, 1 - events["weight_down"][e])
            x = events["x"][e] + I(theta[0], events["shift_up"][e], -events["shift_down"][e])
            for b in range(B):
                p = F((edges[b + 1] - x) / h) - F((edges[b] - x) / h)
                nu[b] += n * w * f * p
                var[b] += (n * w * f * p) ** 2
        return nu, var

    nu, var = evaluate(c0, theta0)
    q0 = c0 + theta0
    jn, jv = [], []
    step = 1e-4
    for j in range(4):
        def at(k):
            q = list(q0); q[j] += k * step
            return evaluate(q[:2], q[2:])
        p1, m1, p2, m2 = at(1), at(-1), at(2), at(-2)
        jn.append([(8 * (p1[0][b] - m1[0][b]) - (p2[0][b] - m2[0][b])) / (12 * step) for b in range(len(nu))])
        jv.append([(8 * (p1[1][b] - m1[1][b]) - (p2[1][b] - m2[1][b])) / (12 * step) for b in range(len(nu))])
    return {"coefficients": names, "monomial_exponents": exponents, "events": events, "edges": edges, "flow": "drop",
            "smoothing_width": h, "normalisation": n,
            "systematics": [{"name": "JES", "type": "shift"}, {"name": "btag", "type": "weight"}],
            "c": c0, "theta": theta0, "nu": nu, "sumw2": var,
            "jacobian_nu_fd": jn, "jacobian_sumw2_fd": jv, "jacobian_order": "cA, cB, theta_JES, theta_btag; [parameter][bin]"}


def main():
    core_v, ext_v = validators()
    results = {"generated_by": "Specs/examples/make_examples.py", "spec_version": EXT_VERSION}
    have_pyhf = True
    try:
        import pyhf
        results["pyhf_version"] = pyhf.__version__
    except ImportError:
        have_pyhf = False
        print("pyhf not installed: the pyhf cross-checks are skipped", file=sys.stderr)

    def pyhf_logpdf(ws, named):
        w = pyhf.Workspace(ws)
        m = w.model()
        d = w.data(m)
        p = list(m.config.suggested_init())
        for k, v in named.items():
            sl = m.config.par_slice(k)
            if isinstance(v, list):
                p[sl] = v
            else:
                p[sl.start] = v
        return float(m.logpdf(p, d)[0]), m

    def write(name, ws):
        validate(ws, core_v, ext_v)
        with open(os.path.join(HERE, name), "w") as fh:
            json.dump(ws, fh, indent=1)
            fh.write("\n")

    # ---- interpolation
    results["interpolation"] = check_interpolation_table()

    # ---- core example
    ws0 = core_example()
    write("core_example.json", ws0)
    m0 = Model(ws0)
    named0 = dict(mu=1.2, lumi=1.01, bkg_norm=0.5, jes=-0.3)
    p0 = m0.point(**named0, staterror_SR=[1.02, 0.97], cr_shape=[0.95, 1.0], staterror_CR=[1.03, 1.0])
    terms = {}
    ll0 = m0.logpdf(p0, terms=terms)
    r0 = {"par_order": m0.par_order, "par_names": m0.names, "inits": m0.inits, "aux": m0.aux,
          "fixed": [x for r in m0.sets for x in r["fixed"]],
          "staterror_sigmas": {n: m0.staterror[n]["sigmas"] for n in m0.staterror},
          "shapesys_tau": m0.by_name["cr_shape"]["factors"],
          "point": p0, "nu": m0.expected(p0).tolist(), "logpdf": ll0, "logpdf_terms": terms}
    if have_pyhf:
        llp, mp = pyhf_logpdf(ws0, {**named0, "staterror_SR": [1.02, 0.97], "cr_shape": [0.95, 1.0],
                                     "staterror_CR": [1.03, 1.0]})
        assert mp.config.par_order == m0.par_order, (mp.config.par_order, m0.par_order)
        assert abs(llp - ll0) <= 1e-12 * abs(ll0), (llp, ll0)
        r0["pyhf_logpdf"] = llp
    results["core"] = r0

    # ---- example A
    root, root_src = load_root_ptv()
    results["inputs_from_reference"] = root_src
    wsA = example_A(root)
    write("eft_coefficient_absolute.json", wsA)
    mA = Model(wsA)
    namedA = dict(cHq3=0.3, lumi=1.01, jes=0.4, vh_xsec=-0.2, bkg_norm=0.1)
    pA = mA.point(**namedA, staterror_SR=[1.01, 0.99, 1.0])
    det = []
    mA.expected(pA, det)
    termsA = {}
    llA = mA.logpdf(pA, terms=termsA)
    sig_c = mA.staterror_sigmas_at("staterror_SR", pA)
    sig_0 = mA.staterror["staterror_SR"]["sigmas"]
    rA = {"par_order": mA.par_order, "par_names": mA.names, "inits": mA.inits, "point": pA, "samples": det,
          "nu": mA.expected(pA).tolist(), "staterror_sigma_at_point": sig_c, "staterror_sigma_static": sig_0,
          "logpdf": llA, "logpdf_terms": termsA,
          "gradient_fd": gradient_fd(mA, pA, ["cHq3", "jes", "lumi"])}
    # same point with a static staterror sigma (what ignoring the point dependence would give)
    # SM limit vs pyhf
    p_sm = mA.point(**{**namedA, "cHq3": 0.0}, staterror_SR=[1.01, 0.99, 1.0])
    rA["logpdf_at_c0"] = mA.logpdf(p_sm)
    if have_pyhf:
        llp, _ = pyhf_logpdf(strip_morphing(wsA), {k: v for k, v in namedA.items() if k != "cHq3"}
                             | {"staterror_SR": [1.01, 0.99, 1.0]})
        assert abs(llp - rA["logpdf_at_c0"]) <= 1e-12 * abs(llp), (llp, rA["logpdf_at_c0"])
        rA["pyhf_logpdf_sm_limit"] = llp
    # ROOT cross-check of the polynomial
    ref_path = os.path.join(REFERENCE, "eft", "root_morph_reference_pTV.json")
    if os.path.exists(ref_path):
        cfg = [c for c in json.load(open(ref_path))["configs"] if c["ops"] == ["cHq3"]][0]
        worst = 0.0
        rows = []
        for chk in cfg["checks"]:
            c = chk["point"]["cHq3"]
            mine = mA.morph[0][0].polynomial([c])
            rel = max(abs(a - b) / max(abs(b), 1e-300) for a, b in zip(mine, chk["root"][:3]))
            worst = max(worst, rel)
            rows.append({"cHq3": c, "efthf_poly": mine.tolist(), "root": chk["root"][:3], "max_rel_diff": rel})
        assert worst < 1e-6, worst
        rA["root_check"] = {"max_rel_diff": worst, "points": rows}
    results["A_coefficient_absolute"] = rA

    # ---- example E: negative yields (A at ROOT's point cHq3 = -1.0906559101313213)
    cneg = -1.0906559101313213
    pE = mA.point(cHq3=cneg)
    rE = {"cHq3": cneg, "raw_nu0": mA.morphed(0, pE)[0].tolist()}
    try:
        mA.logpdf(pE)
        raise AssertionError("policy error should fail")
    except EvaluationError as e:
        rE["error_policy_diagnostic"] = json.loads(str(e))
    wsE = copy.deepcopy(wsA)
    wsE["channels"][0]["samples"][0]["modifiers"][0]["data"]["negative_yields"] = "clip"
    write("eft_negative_clip.json", wsE)
    mE = Model(wsE)
    detE = []
    mE.expected(pE, detE)
    rE["clip"] = {"samples": detE, "logpdf": mE.logpdf(pE), "eps_bin0": max(1e-6 * root["SM_NPsq0"]["contents"][0], 1e-9)}
    wsAllow = copy.deepcopy(wsA)
    wsAllow["channels"][0]["samples"][0]["modifiers"][0]["data"]["negative_yields"] = "allow"
    mAl = Model(wsAllow)
    detAl = []
    mAl.expected(pE, detAl)
    rE["allow"] = {"samples": detAl, "nu": mAl.expected(pE).tolist(), "logpdf": mAl.logpdf(pE)}
    eps = rE["clip"]["eps_bin0"]
    rE["floor_examples"] = {"eps": eps, "raw": [2 * eps, eps, 0.5 * eps, 0.0, -eps, -1e-3],
                            "clipped": [clip_floor(x, eps) for x in [2 * eps, eps, 0.5 * eps, 0.0, -eps, -1e-3]]}
    results["E_negative_yields"] = rE

    # ---- example F: truncation
    wsF = copy.deepcopy(wsA)
    wsF["channels"][0]["samples"][0]["modifiers"][0]["data"]["truncation"] = "linear"
    write("eft_truncation_linear.json", wsF)
    mF = Model(wsF)
    detF = []
    mF.expected(pA, detF)
    results["F_truncation_linear"] = {"point": pA, "nu0": detF[0]["nu0"], "var": detF[0]["var"],
                                      "nu0_quadratic": det[0]["nu0"], "logpdf": mF.logpdf(pA),
                                      "first_negative_bin0_cHq3": -root["SM_NPsq0"]["contents"][0] / root["cHq3_NPsq1"]["contents"][0]}

    # ---- example B: benchmarks
    rB = {}
    for label, over, fname in (("square", False, "eft_benchmarks_square.json"),
                               ("overdetermined", True, "eft_benchmarks_overdetermined.json")):
        wsB = example_B(root, over)
        if not over:
            wsB_square = wsB
        write(fname, wsB)
        mB = Model(wsB)
        mo = mB.morph[0][0]
        c = [0.3]
        pB = mB.point(cHq3=0.3)
        detB = []
        mB.expected(pB, detB)
        exact_var = mo.variance(c)
        indep_var = ((mo.monomials(c)[:, None] ** 2) * mo.S_report ** 2).sum(axis=0)
        entry = {"report": mo.report, "T": mo.T.tolist(), "term_sigma_reported": mo.S_report.tolist(),
                 "weights_at_0.3": mo.weights(c).tolist(),
                 "amplification": {str(x): float(np.sqrt((mo.weights([x]) ** 2).sum())) for x in (0.0, 0.3, 1.0, 2.0)},
                 "nu0_at_0.3": detB[0]["nu0"], "var_exact_at_0.3": exact_var.tolist(),
                 "var_independent_terms_at_0.3": indep_var.tolist(), "logpdf_at_0.3": mB.logpdf(pB),
                 "data_SM": wsB["channels"][0]["samples"][0]["data"]}
        if not over:
            diff = np.max(np.abs(mo.T - mA.morph[0][0].T) / np.abs(mA.morph[0][0].T))
            assert diff < 1e-12, diff
            entry["max_rel_diff_vs_coefficient_form"] = float(diff)
        else:
            Y = np.array([p["data"] for p in wsB["channels"][0]["samples"][0]["modifiers"][0]["data"]["benchmarks"]["points"]])
            M = np.array(mo.report["M"])
            entry["residuals"] = (Y - M @ mo.T).tolist()
        if have_pyhf:
            llp, _ = pyhf_logpdf(strip_morphing(wsB), {})
            assert abs(llp - mB.logpdf(mB.point(cHq3=0.0))) <= 1e-12 * abs(llp)
            entry["pyhf_logpdf_sm_limit"] = llp
        rB[label] = entry
    results["B_benchmarks"] = rB

    # ---- example C: relative (CMS)
    cms, _ = load_cms_excerpt()
    wsC = example_C(cms)
    write("eft_relative_stxs.json", wsC)
    mC = Model(wsC)
    pC = mC.point(chg=0.002, chbox=1.0)
    detC = []
    mC.expected(pC, detC)
    ie = [i for i, e in enumerate(mC.entries) if e[1] == "ggH_hgg"][0]
    prod = [m for m in mC.morph[ie] if m.name == "ggH_prod"][0]
    dec = [m for m in mC.morph[ie] if m.name == "hgg_partial_width"][0]
    # direct evaluation of the JSON formula mu = 1 + A c + B c c
    direct = []
    for b in ["GG2H_PTH_200_300", "GG2H_PTH_300_450"]:
        q = cms["prod"][b]
        direct.append(1 + q["A_chg"] * 0.002 + q["A_chbox"] * 1.0 + q["B_chg_2"] * 0.002 ** 2
                      + q["B_chbox_2"] * 1.0 + q["B_chbox_chg"] * 0.002 * 1.0)
    mu_prod = prod.polynomial(mC.coef_vector(prod, pC))
    assert np.allclose(mu_prod, direct, rtol=1e-15, atol=0)
    termsC = {}
    rC = {"par_order": mC.par_order, "point": pC, "mu_prod": mu_prod.tolist(), "mu_prod_direct": direct,
          "var_prod": prod.variance(mC.coef_vector(prod, pC)).tolist(),
          "mu_decay": dec.polynomial(mC.coef_vector(dec, pC)).tolist(), "samples": detC,
          "staterror_sigma_at_point": mC.staterror_sigmas_at("staterror_ggH_highpt", pC),
          "staterror_sigma_static": mC.staterror["staterror_ggH_highpt"]["sigmas"],
          "logpdf": mC.logpdf(pC, terms=termsC), "logpdf_terms": termsC,
          "gradient_fd": gradient_fd(mC, pC, ["chg", "chbox"], h=1e-6)}
    if have_pyhf:
        llp, _ = pyhf_logpdf(strip_morphing(wsC), {})
        assert abs(llp - mC.logpdf(mC.point(chg=0.0, chbox=0.0))) <= 1e-12 * abs(llp)
        rC["pyhf_logpdf_sm_limit"] = llp
    results["C_relative_stxs"] = rC

    # ---- example D: order
    wsD = example_D()
    write("eft_parameter_order.json", wsD)
    mD = Model(wsD)
    pD = mD.point(cHW=0.2, cHq3=-0.1, cW=0.5, jes=0.5)
    detD = []
    mD.expected(pD, detD)
    results["D_parameter_order"] = {
        "par_order": mD.par_order, "par_names": mD.names, "inits": mD.inits,
        "bounds": [b for r in mD.sets for b in r["bounds"]], "fixed": [f for r in mD.sets for f in r["fixed"]],
        "point": pD, "samples": detD, "nu": mD.expected(pD).tolist(), "logpdf": mD.logpdf(pD)}

    # ---- invalid documents must be rejected (schema or semantic rules)
    bad = {}

    def expect_reject(label, ws):
        try:
            validate(ws, core_v, ext_v)
            Model(ws)
        except (ValueError, AssertionError) as e:
            bad[label] = str(e)[:300]
            return
        raise AssertionError(f"{label} was accepted")

    w = copy.deepcopy(wsA); w["version"] = "1.0.0"
    expect_reject("morphing in a 1.0.0 workspace", w)
    w = copy.deepcopy(wsA); w["channels"][0]["samples"][0]["modifiers"][0]["data"]["form"] = "multiplicative"
    expect_reject("unknown form", w)
    w = copy.deepcopy(wsB); w["channels"][0]["samples"][0]["modifiers"][0]["data"]["terms"] = wsA["channels"][0]["samples"][0]["modifiers"][0]["data"]["terms"]
    expect_reject("both terms and benchmarks", w)
    w = copy.deepcopy(wsA); w["channels"][0]["samples"][0]["modifiers"][0]["data"]["terms"][1]["powers"] = {"cHq3": 0}
    expect_reject("power 0", w)
    w = copy.deepcopy(wsA); w["channels"][0]["samples"][0]["data"][1] += 1e-3
    expect_reject("data differ from the SM term", w)
    w = copy.deepcopy(wsC); w["channels"][0]["samples"][0]["modifiers"][0]["data"]["terms"].append({"powers": {}, "data": [1.0, 1.0]})
    expect_reject("SM term in the relative form", w)
    w = copy.deepcopy(wsD); w["channels"][0]["samples"][1]["modifiers"][0]["name"] = "cHq3"
    expect_reject("coefficient name used by a standard modifier", w)
    w = copy.deepcopy(wsA); w["channels"][0]["samples"][0]["modifiers"][0]["data"]["terms"][2]["uncertainty"][0] = -1.0
    expect_reject("negative term uncertainty", w)
    w = copy.deepcopy(wsA); w["channels"][0]["samples"][0]["modifiers"][0]["data"]["truncation"] = {"terms": [{"cHq3": 3}]}
    expect_reject("truncation names an absent term", w)
    w = copy.deepcopy(wsA); w["channels"][0]["samples"][0]["modifiers"][0]["data"]["truncation"] = {"terms": [{"cHq3": 1}]}
    expect_reject("explicit truncation drops the SM term", w)
    w = copy.deepcopy(wsA); w["channels"][0]["samples"][0]["modifiers"][3]["data"][1] = 3.0
    expect_reject("staterror data differ from the SM-term uncertainty", w)
    w = copy.deepcopy(wsA); w["channels"][0]["samples"][0]["modifiers"][0]["name"] = "cHq3"
    expect_reject("morphing modifier named like a parameter", w)
    w = copy.deepcopy(wsC); w["channels"][0]["samples"][0]["modifiers"][1]["data"]["negative_yields"] = "clip"
    expect_reject("different negative_yields policies on one sample", w)
    w = copy.deepcopy(wsD); second = copy.deepcopy(w["channels"][0]["samples"][0]["modifiers"][0])
    second["name"] = "wh_eft_copy"; w["channels"][0]["samples"][0]["modifiers"].append(second)
    expect_reject("two absolute-form modifiers on one sample", w)
    w = copy.deepcopy(wsB_square)
    pts = w["channels"][0]["samples"][0]["modifiers"][0]["data"]["benchmarks"]["points"]
    pts[2]["values"]["cHq3"] = 1.0
    expect_reject("singular morphing matrix (repeated point)", w)
    w = copy.deepcopy(wsB_square)
    del w["channels"][0]["samples"][0]["modifiers"][0]["data"]["benchmarks"]["points"][2]
    expect_reject("fewer points than monomials", w)
    results["rejected"] = bad
    results["G_event_systematics"] = example_G_event_systematics()

    with open(os.path.join(HERE, "results.json"), "w") as fh:
        json.dump(results, fh, indent=1, default=float)
        fh.write("\n")
    print("ok: all checks passed; wrote", ", ".join(sorted(f for f in os.listdir(HERE) if f.endswith(".json"))))


if __name__ == "__main__":
    main()
