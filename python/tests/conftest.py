"""Shared fixtures: the repository, the shared reference folder (../shared/reference beside the
repository, or $EFTHF_REFERENCE_DIR), and the reference cases loaded both by pyhf and by efthf."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]


def _reference_dir():
    for candidate in (os.environ.get("EFTHF_REFERENCE_DIR"), REPOSITORY.parent / "shared" / "reference", "/work/shared/reference"):
        if candidate and (Path(candidate) / "make_reference.py").exists():
            return Path(candidate)
    return None


REFERENCE_DIR = _reference_dir()
needs_reference = pytest.mark.skipif(REFERENCE_DIR is None, reason="the shared reference folder (../shared/reference or $EFTHF_REFERENCE_DIR) is absent")

# The reference cases of make_reference.py: (folder, workspace file, (patch file, patch name) or None).
CASES = [
    ("01_pyhf_example", "example_bkgonly.json", ("example_patchset.json", "patch_channel1_signal_syst1")),
    ("02_cms_combine2pyhf_one-bin-stat-full", "workspace.json", None),
    ("03_atlas_susy2018_14_comb", "BkgOnly.json", ("patchset_SYNTHETIC.json", "synthetic_signal")),
    ("04_atlas_susy2018_22_simplified_MB-SSd", "BkgOnly.json", ("patchset_SYNTHETIC.json", "synthetic_signal")),
    ("05_atlas_susy2018_31_sbottom_RegionA", "BkgOnly.json", ("patch.sbottom_1300_205_60.json", None)),
    ("06_atlas_susy2019_08_1Lbb", "BkgOnly.json", ("patchset.json", "C1N2_Wh_hbb_700_150")),
    ("07_atlas_susy2018_16_ewkinos_SR2l", "BkgOnly.json", ("patchset_SYNTHETIC.json", "synthetic_signal")),
    ("08_atlas_susy2019_09_offshell", "BkgOnly.json", ("patchset_SYNTHETIC.json", "synthetic_signal")),
]


def load_pair(case):
    """(pyhf model, pyhf data, efthf model, efthf data) of a reference case, each library applying
    the patch itself: a PatchSet patch by name, or a bare JSON Patch."""
    import efthf
    import pyhf

    name, ws_file, patch = case
    folder = REFERENCE_DIR / "workspaces" / name
    spec = json.loads((folder / ws_file).read_text())
    ws_pyhf, ws_efthf = pyhf.Workspace(spec), efthf.Workspace(spec)
    if patch:
        patch_json = json.loads((folder / patch[0]).read_text())
        if "patches" in patch_json:
            names = [p["metadata"]["name"] for p in patch_json["patches"]]
            pname = patch[1] if patch[1] in names else names[0]
            ws_pyhf = pyhf.PatchSet(patch_json).apply(ws_pyhf, pname)
            ws_efthf = efthf.PatchSet(patch_json).apply(ws_efthf, pname)
        else:
            ws_pyhf = pyhf.Workspace(pyhf.workspace.jsonpatch.apply_patch(spec, patch_json))
            ws_efthf = efthf.apply_patch(ws_efthf, patch_json)
    model_pyhf, model_efthf = ws_pyhf.model(), ws_efthf.model()
    return model_pyhf, ws_pyhf.data(model_pyhf), model_efthf, ws_efthf.data(model_efthf)


@pytest.fixture(scope="session")
def reference_cases():
    """Every reference case, loaded once per session."""
    if REFERENCE_DIR is None:
        pytest.skip("the shared reference folder is absent")
    return {case[0]: load_pair(case) for case in CASES}
