"""The global minima behind interpcode_validation.json's hypotests, found with pyhf's own logpdf.

Every validation case has two parameters (mu and one alpha). Several settings make the likelihood
multimodal in alpha (code0's kink at 0, code2's quadratic-then-linear pieces, code4p's polynomial
inside |alpha| <= 1), and pyhf's local fits (Minuit from alpha = 0, mu = 1; scipy likewise) then
stop in a local minimum for some of the five fits of the asymptotic CLs test (free and mu = 1 fits
to the data, the mu = 0 fit that makes the Asimov data, free and mu = 1 fits to the Asimov data).
For each fit this takes the lowest of:
  - a grid over the bounds (mu: 201 points in [0, 10], alpha: 2001 points in [-5, 5]; fixed-mu
    fits: alpha only), each grid local minimum refined with scipy's bounded minimisers inside the
    piece of the interpolation that holds it (the function is smooth there; a minimum on a piece
    boundary is found from both sides);
  - Minuit's minimum (pyhf.infer.mle with minuit_optimizer(tolerance=1e-7, strategy=2)),
and records `hypotest_global`: the 2NLL and parameters of each fit, CLs from the global minima with
pyhf's asymptotic formulae for test_stat "q" (CLs+b = Phi(-(x + sqrt(q_A))), CLb = Phi(-x),
x = sqrt(q) - sqrt(q_A), expected CLs = Phi(-(n + sqrt(q_A))) / Phi(-n) for n = 2 .. -2), and
`minuit_is_global`: whether each of pyhf's Minuit fits reached the global minimum (2NLL within 1e-6).
The same formulae on Minuit's own minima reproduce `hypotest` to 1e-7 (checked below), so a
difference between `hypotest` and `hypotest_global` comes from the minima only.

make_interpcode_validation.py calls `add_global_minima`; alone, this rewrites the stored JSON:

    python3 interpcode_global_minima.py        # ~1 min
"""
import json
import logging
import math
import os

import numpy as np
import pyhf
import scipy.optimize
from scipy.stats import norm

logging.getLogger("pyhf").setLevel(logging.ERROR)
HERE = os.path.dirname(os.path.abspath(__file__))
BREAKS = {"code0": [0.0], "code1": [0.0], "code2": [-1.0, 1.0], "code4": [-1.0, 1.0], "code4p": [-1.0, 1.0]}


def model_for(ws, settings, batch_size=None):
    kwargs = {"batch_size": batch_size} if batch_size else {}
    return ws.model(modifier_settings=settings, **kwargs) if settings is not None else ws.model(**kwargs)


class Fits:
    def __init__(self, ws, setting):
        pyhf.set_backend("numpy")
        self.model = model_for(ws, setting["modifier_settings"])
        self.ws, self.setting = ws, setting
        self.names = self.model.config.par_order
        self.im = self.names.index("mu")
        self.ia = 1 - self.im
        eff = setting["effective"]
        kind = next(m["type"] for c in ws["channels"] for s in c["samples"] for m in s["modifiers"] if m["type"] in ("normsys", "histosys"))
        self.breaks = BREAKS[eff[kind]]
        self.batches = {}

    def pars(self, mu, a):
        p = [0.0, 0.0]
        p[self.im], p[self.ia] = mu, a
        return p

    def twice_nll(self, mu, a, data):
        v = -2 * float(self.model.logpdf(np.array(self.pars(mu, a)), data)[0])
        return v if math.isfinite(v) else math.inf

    def grid(self, mus, alphas, data):
        """2NLL on the grid (rows mu, columns alpha), pyhf's logpdf in batches."""
        n = len(alphas)
        if n not in self.batches:
            self.batches[n] = model_for(self.ws, self.setting["modifier_settings"], batch_size=n)
        m = self.batches[n]
        out = np.empty((len(mus), n))
        for r, mu in enumerate(mus):
            p = np.zeros((n, 2))
            p[:, self.im], p[:, self.ia] = mu, alphas
            v = -2 * np.asarray(m.logpdf(p, data), dtype=float)
            out[r] = np.where(np.isfinite(v), v, np.inf)
        return out

    def pieces(self):
        edges = [-5.0] + self.breaks + [5.0]
        return list(zip(edges[:-1], edges[1:]))

    def refine(self, mu0, a0, data, fixed_mu):
        """Local minima from (mu0, a0) inside the interpolation piece(s) holding a0."""
        results = []
        for lo, hi in self.pieces():
            if not (lo - 1e-9 <= a0 <= hi + 1e-9):
                continue
            if fixed_mu is not None:
                r = scipy.optimize.minimize_scalar(lambda a: self.twice_nll(fixed_mu, a, data), bounds=(lo, hi), method="bounded",
                                                   options={"xatol": 1e-12, "maxiter": 2000})
                results.append((r.fun, fixed_mu, float(r.x)))
            else:
                f = lambda x: self.twice_nll(x[0], x[1], data)
                x0 = [mu0, min(max(a0, lo), hi)]
                r = scipy.optimize.minimize(f, x0, method="Nelder-Mead", bounds=[(0, 10), (lo, hi)],
                                            options={"xatol": 1e-11, "fatol": 1e-13, "maxiter": 20000, "maxfev": 40000})
                r = scipy.optimize.minimize(f, r.x, method="L-BFGS-B", bounds=[(0, 10), (lo, hi)], options={"ftol": 1e-15, "gtol": 1e-10})
                results.append((float(r.fun), float(r.x[0]), float(r.x[1])))
        return results

    def global_fit(self, data, fixed_mu=None):
        alphas = np.linspace(-5, 5, 2001)
        mus = np.array([fixed_mu]) if fixed_mu is not None else np.linspace(0, 10, 201)
        v = self.grid(mus, alphas, data)
        cands = []
        for r in range(v.shape[0]):
            for c in range(v.shape[1]):
                if not math.isfinite(v[r, c]):
                    continue
                nb = v[max(r - 1, 0):r + 2, max(c - 1, 0):c + 2]
                if v[r, c] <= nb.min():
                    cands.append((mus[r], alphas[c]))
        best = []
        for mu0, a0 in cands:
            best += self.refine(mu0, a0, data, fixed_mu)
        # Minuit's own minimum is a candidate too.
        pyhf.set_backend("numpy", pyhf.optimize.minuit_optimizer(tolerance=1e-7, strategy=2))
        if fixed_mu is None:
            p, f = pyhf.infer.mle.fit(data, self.model, return_fitted_val=True)
        else:
            p, f = pyhf.infer.mle.fixed_poi_fit(fixed_mu, data, self.model, return_fitted_val=True)
        pyhf.set_backend("numpy")
        minuit = (float(f), float(p[self.im]), float(p[self.ia]))
        best.append(minuit)
        lowest = min(best)
        return {"twice_nll": lowest[0], "mu": lowest[1], "alpha": lowest[2]}, minuit

    def hypotest(self, data):
        fits, minuit = {}, {}
        fits["free"], minuit["free"] = self.global_fit(data)
        fits["mu1"], minuit["mu1"] = self.global_fit(data, 1.0)
        fits["asimov_mu0"], minuit["asimov_mu0"] = self.global_fit(data, 0.0)

        def asimov(alpha):
            a = self.model.expected_data(np.array(self.pars(0.0, alpha)))
            return a

        asimov_global = asimov(fits["asimov_mu0"]["alpha"])
        fits["asimov_free"], _ = self.global_fit(asimov_global)
        fits["asimov_mu1"], _ = self.global_fit(asimov_global, 1.0)
        return fits, minuit


def cls(q, q_a):
    """pyhf's asymptotic CLs for test_stat 'q' (AsymptoticCalculator, arXiv:1007.1727 Eqs. 52-66)."""
    sq, sqa = math.sqrt(q), math.sqrt(q_a)
    x = sq - sqa
    clsb, clb = norm.cdf(-(x + sqa)), norm.cdf(-x)
    return {"cls_obs": clsb / clb, "clsb": clsb, "clb": clb,
            "cls_exp": [norm.cdf(-(n + sqa)) / norm.cdf(-n) for n in (2, 1, 0, -1, -2)]}


def statistic(free, mu1):
    return 0.0 if free["mu"] > 1.0 else max(0.0, mu1["twice_nll"] - free["twice_nll"])


def add_global_minima(out):
    for case in out["cases"]:
        ws = pyhf.Workspace(case["workspace"])
        for setting in case["settings"]:
            f = Fits(ws, setting)
            data = ws.data(f.model)
            fits, minuit = f.hypotest(data)
            g = cls(statistic(fits["free"], fits["mu1"]), statistic(fits["asimov_free"], fits["asimov_mu1"]))
            g["fits"] = fits
            g["minuit_is_global"] = {k: bool(abs(minuit[k][0] - fits[k]["twice_nll"]) <= 1e-6) for k in minuit}
            setting["hypotest_global"] = g
            # The formulae reproduce pyhf's hypotest where Minuit's fits are the global minima.
            if all(g["minuit_is_global"].values()):
                ref = setting["hypotest"]
                assert abs(g["cls_obs"] / ref["cls_obs"] - 1) < 1e-6, (case["key"], setting["key"], g["cls_obs"], ref["cls_obs"])
            print(case["key"], setting["key"], "Minuit global:", g["minuit_is_global"], "CLs global %.8g, Minuit %.8g" % (g["cls_obs"], setting["hypotest"]["cls_obs"]))
    return out


if __name__ == "__main__":
    path = os.path.join(HERE, "interpcode_validation.json")
    with open(path, encoding="utf-8") as fh:
        out = json.load(fh)
    add_global_minima(out)
    text = json.dumps(out, indent=1, allow_nan=False) + "\n"
    with open(path + ".tmp", "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(path + ".tmp", path)
    print(f"wrote {path}")
