"""Make sample_yields.json: pyhf 0.7.6's per-sample expected yields at the points of points.json.

Rerun (needs pyhf==0.7.6, numpy; reads /work/shared/reference or $EFTHF_REFERENCE_DIR):

    python3 make_sample_yields.py      # writes sample_yields.json next to this script (~20 s)

For each case of make_reference.py's CASES (patch applied by make_reference.load) and the first
four points of that case in points.json with a finite logpdf (random and wide draws): `pars` copied from points.json and, per channel
(model.config.channels) and sample (model.config.samples) where the sample is defined in that
channel, the yields of model.main_model.expected_data(pars, return_by_sample=True), restricted to
the channel's bins (model.config.channel_slices). Samples absent from a channel are left out
(pyhf gives them zero rows).
"""
import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import pyhf  # noqa: E402

import _common as C  # noqa: E402


def main():
    mr = C.load_make_reference()
    points = json.load(open(os.path.join(C.HERE, "points.json")))
    by_case = {c["name"]: c for c in points["cases"]}
    out = {"description": __doc__.strip().splitlines()[0], "versions": {"pyhf": pyhf.__version__}, "cases": []}
    for case in mr.CASES:
        ws, _ = mr.load(case)
        model = ws.model()
        entry = by_case[case[0]]
        defined = {(c["name"], s["name"]) for c in ws["channels"] for s in c["samples"]}
        records = []
        for point in entry["points"]:
            if not isinstance(point["logpdf"], float) or len(records) == 4:
                continue
            x = C.from_name(model, point["pars"])
            by_sample = np.asarray(model.main_model.expected_data(x, return_by_sample=True))
            samples = []
            for channel in model.config.channels:
                sl = model.config.channel_slices[channel]
                for k, sample in enumerate(model.config.samples):
                    if (channel, sample) in defined:
                        samples.append({"channel": channel, "sample": sample, "yields": C.floats(by_sample[k][sl])})
            records.append({"kind": point["kind"], "pars": point["pars"], "samples": samples})
        out["cases"].append({"name": case[0], "points": records})
    with open(os.path.join(C.HERE, "sample_yields.json"), "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
