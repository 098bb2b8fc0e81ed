"""efthf: HistFactory likelihoods (pyhf 0.7.6, exactly) with EFT extensions, from Python.

Code written for pyhf runs by changing the import::

    import efthf as pyhf
    model = pyhf.simplemodels.uncorrelated_background(signal=[12.0, 11.0], bkg=[50.0, 52.0], bkg_uncertainty=[3.0, 7.0])
    data = [51, 48] + model.config.auxdata
    CLs_obs, CLs_exp = pyhf.infer.hypotest(1.0, data, model, test_stat="qtilde", return_expected=True)

The likelihood, its exact gradient and every fit run in efthf's Swift library (libEFTHFC)
without the GIL; ``efthf.eft`` holds the Wilson-coefficient tasks.
"""
from __future__ import annotations

import warnings

from . import _native, eft, exceptions, infer, simplemodels
from .model import Model, ModelConfig, Workspace
from .patchset import Patch, PatchSet, apply_patch

__version__ = _native.version()

__all__ = ["Model", "ModelConfig", "Patch", "PatchSet", "Workspace", "apply_patch", "eft", "exceptions", "get_backend", "infer",
           "set_backend", "simplemodels", "__version__"]


def set_backend(backend: str = "numpy", custom_optimizer: object = None, precision: object = None, default: bool = False) -> None:
    """Accepted for pyhf compatibility: efthf computes in its own library (double precision,
    exact gradients) and returns numpy arrays whatever the backend named."""
    name = backend if isinstance(backend, str) else type(backend).__name__
    if name not in ("numpy", "numpy_backend"):
        warnings.warn(f"efthf ignores the {name} backend: it computes natively and returns numpy arrays", stacklevel=2)


def get_backend():
    """(numpy, None): efthf's arrays are numpy arrays."""
    import numpy

    return numpy, None
