"""pyhf PatchSets (``pyhf.PatchSet``): signal hypotheses as patches of a background-only workspace."""
from __future__ import annotations

import ctypes
import json
from typing import Any, Dict, List, Sequence, Union

from . import _native
from .exceptions import InvalidArgument
from .model import Workspace, _spec_text


class Patch:
    """One patch of a PatchSet: its name, the values of the signal-model parameters, the
    JSON Patch operations."""

    def __init__(self, spec: Dict[str, Any]):
        self.metadata: Dict[str, Any] = spec["metadata"]
        self.name: str = self.metadata["name"]
        self.values: List[Any] = list(self.metadata.get("values", []))
        self.patch: List[Dict[str, Any]] = spec["patch"]

    def __repr__(self) -> str:
        return f"<efthf.patchset.Patch {self.name} values={self.values}>"


class PatchSet:
    """A pyhf PatchSet; ``apply(workspace, name_or_values)`` verifies the set's digests against the
    workspace and returns the patched workspace (in efthf, which validates the set as pyhf)."""

    def __init__(self, spec: Union[Dict[str, Any], str]):
        self._text = _spec_text(spec)
        self.spec: Dict[str, Any] = json.loads(self._text) if not isinstance(spec, dict) else spec
        try:
            self.patches: List[Patch] = [Patch(p) for p in self.spec["patches"]]
            self.metadata: Dict[str, Any] = self.spec["metadata"]
        except (KeyError, TypeError) as e:
            raise InvalidArgument(f"not a pyhf PatchSet (missing {e})") from None
        self.version: str = self.spec.get("version", "")

    @property
    def labels(self) -> List[str]:
        return list(self.metadata.get("labels", []))

    def __len__(self) -> int:
        return len(self.patches)

    def __iter__(self):
        return iter(self.patches)

    def __getitem__(self, key: Union[str, Sequence[Any]]) -> Patch:
        for p in self.patches:
            if (isinstance(key, str) and p.name == key) or (not isinstance(key, str) and list(p.values) == list(key)):
                return p
        raise InvalidArgument(f"the patch set has no patch {key!r}; it has: {', '.join(p.name for p in self.patches[:10])}"
                              + (" …" if len(self.patches) > 10 else ""))

    def apply(self, spec: Union[Workspace, Dict[str, Any]], key: Union[str, Sequence[Any]]) -> Workspace:
        workspace = spec if isinstance(spec, Workspace) else Workspace(spec)
        name = self[key].name
        handle = ctypes.c_void_p()
        _native.call("efthf_workspace_apply_patchset", workspace._handle.value, _native.encode(self._text), _native.encode(name),
                     ctypes.byref(handle))
        out = Workspace.__new__(Workspace)
        out._init(handle, workspace._config_kwargs)
        return out


def apply_patch(workspace: Workspace, patch: Union[Patch, Sequence[Dict[str, Any]]]) -> Workspace:
    """``workspace`` with a JSON Patch (or a PatchSet's Patch) applied, validated again."""
    ops = patch.patch if isinstance(patch, Patch) else list(patch)
    handle = ctypes.c_void_p()
    _native.call("efthf_workspace_patched", workspace._handle.value, _native.encode(json.dumps(ops)), ctypes.byref(handle))
    out = Workspace.__new__(Workspace)
    out._init(handle, workspace._config_kwargs)
    return out
