"""Keep numba's on-disk cache of flowsim's kernels consistent with flowsim's sources.

numba reuses a cached function as long as *its own* file is unchanged (the index
stores that file's modification time and size). A kernel that calls a function from
another file (every flow calls flowsim.special, flowsim.gaussian or flowsim.simd_math)
keeps the compiled code of the old callee after that file is edited, and gives
silently stale results. `refresh` closes that gap: it fingerprints every flowsim
source file (with the numba and Python versions) and, when the fingerprint differs
from the one stored beside the cache, deletes flowsim's cache files (*.nbi, *.nbc)
before anything is compiled. A source tree that does not change (an installed
release) keeps its cache; editing any file recompiles every kernel once.

Cache locations follow numba's: `__pycache__` beside each source file, or, when
NUMBA_CACHE_DIR is set, the directory numba's locator derives from the source
directory's path. Unwritable locations are
skipped (numba then falls back to its user-wide cache, keyed the same way).
"""
from __future__ import annotations

import hashlib
import os
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

MARKER = "flowsim-sources.sha256"
CACHE_SUFFIXES = (".nbi", ".nbc")

__all__ = ["fingerprint", "cache_dirs", "refresh"]


def fingerprint(package_dir: Path) -> str:
    """sha256 over (relative path, bytes) of every .py under package_dir, plus the numba
    and Python versions."""
    h = hashlib.sha256()
    try:
        h.update(version("numba").encode())
    except PackageNotFoundError:
        pass
    h.update(sys.version.encode())
    for path in sorted(package_dir.rglob("*.py")):
        h.update(path.relative_to(package_dir).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def cache_dirs(package_dir: Path, cache_root: str | None) -> list:
    """Where numba keeps the cache of each source directory of the package: its
    `__pycache__`, or under NUMBA_CACHE_DIR the subdirectory numba's own
    UserProvidedCacheLocator names (`<dir name>_<sha1 of the directory path>`)."""
    dirs = sorted({p.parent for p in package_dir.rglob("*.py")})
    if not cache_root:
        return [d / "__pycache__" for d in dirs]
    from numba.core.caching import UserProvidedCacheLocator

    return [Path(cache_root) / UserProvidedCacheLocator.get_suitable_cache_subpath(
        str(d.resolve() / "__init__.py")) for d in dirs]


def refresh(package_dir: Path | None = None, cache_root: str | None = None) -> bool:
    """Delete the package's numba cache files if its sources changed since they were
    written (cache_root: None reads NUMBA_CACHE_DIR, "" means __pycache__ beside the
    sources). Returns True when the cache was invalidated."""
    package_dir = Path(package_dir or Path(__file__).parent)
    if cache_root is None:
        cache_root = os.environ.get("NUMBA_CACHE_DIR", "")
    dirs = cache_dirs(package_dir, cache_root)
    marker = dirs[0] / MARKER
    fp = fingerprint(package_dir)
    try:
        if marker.read_text() == fp:
            return False
    except OSError:
        pass
    for d in dirs:
        if not d.is_dir():
            continue
        for f in d.iterdir():
            if f.suffix in CACHE_SUFFIXES:
                try:
                    f.unlink()
                except OSError:
                    pass
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        tmp = marker.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(fp)
        os.replace(tmp, marker)
    except OSError:
        pass
    return True
