"""Exceptions of efthf. Each carries the library's message, which names the file, the JSON path
and the value where there is one.

pyhf's names are kept where code catches them: ``InvalidSpecification``, ``InvalidModel``,
``InvalidPatchSet``, ``FailedMinimization``.
"""
from __future__ import annotations


class EFTHFError(Exception):
    """Base class of every error raised by efthf."""


class InvalidArgument(EFTHFError, ValueError):
    """A wrong argument of a call: an array of the wrong size, an unknown task or option."""


class InvalidSpecification(EFTHFError, ValueError):
    """The workspace, a patch, the model options or an event database is invalid or unreadable
    (pyhf's ``InvalidSpecification``)."""


InvalidModel = InvalidSpecification
InvalidPatchSet = InvalidSpecification


class FailedMinimization(EFTHFError, RuntimeError):
    """A fit, hypotest or limit could not be computed (pyhf's ``FailedMinimization``)."""


class InternalError(EFTHFError, RuntimeError):
    """An unexpected failure inside the library."""


def from_status(status: int, message: str) -> EFTHFError:
    return {1: InvalidArgument, 2: InvalidSpecification, 3: FailedMinimization}.get(status, InternalError)(message)
