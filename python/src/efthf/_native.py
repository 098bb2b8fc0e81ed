"""ctypes binding of libEFTHFC (include/efthf.h). Internal: the public API is in efthf.*.

ctypes releases the GIL for the duration of every call into the library, so fits, scans and
evaluations from several Python threads run in parallel.
"""
from __future__ import annotations

import ctypes
import json
import os
from pathlib import Path
from typing import Any, Optional

import numpy as np

from . import exceptions

# double * passed as the array's address: numpy's `ctypes.data` costs half of `data_as(POINTER(c_double))`
# per call, and the caller keeps the array alive for the call.
_c_double_p = ctypes.c_void_p
_c_char_pp = ctypes.POINTER(ctypes.c_void_p)  # char ** (strings returned as void* so they can be freed)
_handle_p = ctypes.POINTER(ctypes.c_void_p)


def _library_path() -> Path:
    explicit = os.environ.get("EFTHF_LIBRARY")
    if explicit:
        return Path(explicit)
    return Path(__file__).resolve().parent / "_lib" / "libEFTHFC.so"


def _load() -> ctypes.CDLL:
    path = _library_path()
    if not path.exists():
        raise ImportError(
            f"efthf: the native library {path} is missing; reinstall the package with "
            "`pip install ./python` (it builds libEFTHFC with the Swift toolchain) or set EFTHF_LIBRARY"
        )
    lib = ctypes.CDLL(str(path))
    ssize = ctypes.c_ssize_t
    sigs = {
        "efthf_version": ([], ctypes.c_char_p),
        "efthf_string_free": ([ctypes.c_void_p], None),
        "efthf_workspace_from_json": ([ctypes.c_char_p, ctypes.c_char_p, _handle_p, _c_char_pp], ctypes.c_int),
        "efthf_workspace_from_file": ([ctypes.c_char_p, _handle_p, _c_char_pp], ctypes.c_int),
        "efthf_workspace_free": ([ctypes.c_void_p], None),
        "efthf_workspace_json": ([ctypes.c_void_p, _c_char_pp, _c_char_pp], ctypes.c_int),
        "efthf_workspace_model": ([ctypes.c_void_p, ctypes.c_char_p, _handle_p, _c_char_pp], ctypes.c_int),
        "efthf_workspace_patched": ([ctypes.c_void_p, ctypes.c_char_p, _handle_p, _c_char_pp], ctypes.c_int),
        "efthf_workspace_apply_patchset": ([ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, _handle_p, _c_char_pp], ctypes.c_int),
        "efthf_model_free": ([ctypes.c_void_p], None),
        "efthf_model_config": ([ctypes.c_void_p, _c_char_pp, _c_char_pp], ctypes.c_int),
        "efthf_model_npars": ([ctypes.c_void_p], ssize),
        "efthf_model_nmain": ([ctypes.c_void_p], ssize),
        "efthf_model_naux": ([ctypes.c_void_p], ssize),
        "efthf_model_observed_data": ([ctypes.c_void_p, ctypes.c_int, _c_double_p, ssize, _c_char_pp], ctypes.c_int),
        "efthf_model_expected_data": (
            [ctypes.c_void_p, _c_double_p, ssize, ctypes.c_int, _c_double_p, ssize, _c_char_pp], ctypes.c_int),
        "efthf_data_create": ([ctypes.c_void_p, _c_double_p, ssize, _handle_p, _c_char_pp], ctypes.c_int),
        "efthf_data_free": ([ctypes.c_void_p], None),
        "efthf_model_logpdf": (
            [ctypes.c_void_p, _c_double_p, ssize, ctypes.c_void_p, _c_double_p, _c_double_p, _c_char_pp], ctypes.c_int),
        "efthf_run": ([ctypes.c_char_p, ctypes.c_char_p, _c_char_pp, _c_char_pp], ctypes.c_int),
        "efthf_workspace_run": ([ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, _c_char_pp, _c_char_pp], ctypes.c_int),
        "efthf_model_run": (
            [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, _c_char_pp, _c_char_pp], ctypes.c_int),
    }
    for name, (args, res) in sigs.items():
        fn = getattr(lib, name)
        fn.argtypes = args
        fn.restype = res
    return lib


lib = _load()


def _take_string(pointer: ctypes.c_void_p) -> str:
    """The UTF-8 text at `pointer`, freed with the library's own free."""
    if not pointer.value:
        return ""
    try:
        return ctypes.string_at(pointer.value).decode("utf-8")
    finally:
        lib.efthf_string_free(pointer)


def check(status: int, error: ctypes.c_void_p) -> None:
    """Raises the exception of a non-zero status, with the library's message."""
    if status == 0:
        return
    message = _take_string(error) or f"efthf error {status}"
    raise exceptions.from_status(status, message)


def call(name: str, *args: Any) -> None:
    """Calls a status-returning function whose last argument is `char **error`."""
    error = ctypes.c_void_p()
    status = getattr(lib, name)(*args, ctypes.byref(error))
    check(status, error)


def call_string(name: str, *args: Any) -> str:
    """Calls a function that returns a string through `char **out`, then `char **error`."""
    out = ctypes.c_void_p()
    error = ctypes.c_void_p()
    status = getattr(lib, name)(*args, ctypes.byref(out), ctypes.byref(error))
    check(status, error)
    return _take_string(out)


def call_json(name: str, *args: Any) -> Any:
    return json.loads(call_string(name, *args))


def encode(text: Optional[str]) -> Optional[bytes]:
    return None if text is None else text.encode("utf-8")


def doubles(values: Any, what: str) -> np.ndarray:
    """`values` as a contiguous float64 array (a copy only when needed)."""
    try:
        array = np.ascontiguousarray(values, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise exceptions.InvalidArgument(f"{what} must be an array of numbers: {e}") from None
    if array.ndim != 1:
        raise exceptions.InvalidArgument(f"{what} must be one-dimensional, found shape {array.shape}")
    return array


def pointer(array: np.ndarray) -> int:
    """The address of a contiguous float64 array's first element (as `double *`)."""
    return array.ctypes.data


class Handle:
    """An owned handle of the library, freed with `free` when the object goes away."""

    __slots__ = ("_value", "_free")

    def __init__(self, value: ctypes.c_void_p, free: str):
        self._value = value
        self._free = getattr(lib, free)

    @property
    def value(self) -> ctypes.c_void_p:
        return self._value

    def __del__(self) -> None:
        value, self._value = getattr(self, "_value", None), None
        if value is not None and value.value:
            self._free(value)


def version() -> str:
    return lib.efthf_version().decode("utf-8")
