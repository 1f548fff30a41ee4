"""Fixtures shared by the test modules."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository's root (where README.md and studies/ are)."""
    return REPO


@pytest.fixture
def subprocess_env(tmp_path) -> dict:
    """An environment for a child Python process: this checkout first on the path, and a
    numba cache of its own (so a child never shares the test process's cache unless a test
    says so)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "numba-cache")
    return env
