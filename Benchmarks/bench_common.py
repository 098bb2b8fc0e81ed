"""What Benchmarks/run.py, its workers and its report share: the reference cases, the EFT rows, the
tolerances and the benchmark point."""
from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
CASES = {
    "01": ("01_pyhf_example", "example_bkgonly.json", "example_patchset.json", "patch_channel1_signal_syst1"),
    "02": ("02_cms_combine2pyhf_one-bin-stat-full", "workspace.json", None, None),
    "03": ("03_atlas_susy2018_14_comb", "BkgOnly.json", "patchset_SYNTHETIC.json", "synthetic_signal"),
    "04": ("04_atlas_susy2018_22_simplified_MB-SSd", "BkgOnly.json", "patchset_SYNTHETIC.json", "synthetic_signal"),
    "05": ("05_atlas_susy2018_31_sbottom_RegionA", "BkgOnly.json", "patch.sbottom_1300_205_60.json", None),
    "06": ("06_atlas_susy2019_08_1Lbb", "BkgOnly.json", "patchset.json", "C1N2_Wh_hbb_700_150"),
    "07": ("07_atlas_susy2018_16_ewkinos_SR2l", "BkgOnly.json", "patchset_SYNTHETIC.json", "synthetic_signal"),
    "08": ("08_atlas_susy2019_09_offshell", "BkgOnly.json", "patchset_SYNTHETIC.json", "synthetic_signal"),
}
VH = REPOSITORY / "Data" / "vh"
SIX = "cHq3,cHl3,cHDD,cHbox,cHW,cll1"
EFT_ROWS = [
    ("VH morphing, 2 coefficients", VH / "workspace_morphing.json", "cHW,cHq3"),
    ("VH morphing, 6 coefficients", VH / "workspace_morphing.json", SIX),
    ("VH event database, 2 coefficients", VH / "workspace_events.json", "cHW,cHq3"),
    ("VH event database + per-event systematics, 2 coefficients", VH / "workspace_events_syst.json", "cHW,cHq3"),
]
SCAN_ROW = ("VH morphing, 41 × 41 scan", VH / "workspace_morphing.json", ["--par", "cHW=-1:1:41", "--par", "cHq3=-0.3:0.3:41"])
PEERS = ("pyhf-numpy", "pyhf-jax", "root")
TASKS = ("eval", "fit", "hypotest", "limit", "eft", "scan")
DEFAULT_TASKS = ("eval", "fit", "hypotest", "limit", "eft")
# eft_twice_nll_abs: ROOT minimises the HS3 model, whose MC-statistics widths are static (Specs/hs3.md §2.1),
# and migrad stops at its default EDM (1e-3) along the 6-coefficient fit's flat directions.
TOLERANCE = {"logpdf_rel": 1e-9, "grad_rel": 1e-6, "twice_nll_abs": 1e-3, "cls_abs": 1e-4, "limit_rel": 1e-3, "eft_twice_nll_abs": 1e-2}


def reference_dir() -> Path:
    for candidate in (os.environ.get("EFTHF_REFERENCE_DIR"), REPOSITORY.parent / "shared" / "reference", "/work/shared/reference"):
        if candidate and (Path(candidate) / "make_reference.py").exists():
            return Path(candidate)
    sys.exit("the shared reference folder (../shared/reference beside the repository, or $EFTHF_REFERENCE_DIR) is absent")


def shifted(inits):
    """The benchmark point off the inits, θ_i = init_i + 0.3·sin(i + 1): every interpolation takes its general branch."""
    return [x + 0.3 * math.sin(i + 1) for i, x in enumerate(inits)]


def load_json(path):
    with open(path) as f:
        return json.load(f)
