"""The sweep's errors. Each names the study-file field or option at fault, so the CLI can
print exactly one line and exit 2."""
from __future__ import annotations


class StudyError(ValueError):
    """A study file problem; the message starts with the dotted name of the field."""


class StoreError(ValueError):
    """A store that cannot be used; the message names the option (--out or --resume)."""


class PointError(ValueError):
    """A point whose inputs are invalid: recorded with status INVALID, never raised out of a
    sweep. `field` is the dotted study-file field at fault (None when unknown)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field
