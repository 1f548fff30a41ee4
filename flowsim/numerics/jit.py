"""Compiled kernels and their disk cache: one entry per (kernel, signature, code), never another's.

Every numba function of flowsim is made by `kernel` (an `njit`) or `ufunc` (a
`vectorize`). Both attach `KernelCache`, a content-addressed disk cache that replaces
numba's `cache=True`, because numba's own cache can hand one kernel's machine code to
another:

* a closure (each flow's compiled solver is one) is named after its factory
  (`_build.<locals>.solve`) and numbered by a counter that restarts in every process,
  so solvers for two models compiled in two processes carry the same symbol; once one
  process loads both, the second call links to the first one's code;
* numba's index maps a key to a numbered data file and is rewritten by whoever saves
  last, so two processes that compile two keys at once can leave one key's index entry
  pointing at the other's data;
* its freshness stamp covers the function's own file only, so an edit to a callee in
  another file keeps the stale callee.

Here instead

* the cache lives in `<root>/flowsim-<fingerprint>`, the fingerprint being the sha256 of
  every flowsim source file and the numba, llvmlite and Python versions: two versions of
  the package never share an entry, and any edit anywhere recompiles everything once;
* an entry's file name is the sha256 of its full key (module, qualified name, target,
  bytecode, the closure's declared identity, signature, CPU), and the file stores that
  key, which is compared on load: a file can only ever be loaded for its own key;
* a file is written under a unique temporary name and renamed into place (atomic on
  POSIX), so processes compiling at once, the same kernel or different ones, never see
  a partial or foreign entry, and need no lock;
* a closure is cached only when its factory declares `identity`, a string naming
  everything the closure captures (the solver: the right-hand side and its code); its
  qualified name becomes that identity, so its symbols are unique to it in every
  process. A closure without an identity gets a per-process random name and no disk
  cache.

The root is NUMBA_CACHE_DIR when set, else the package's `__pycache__` when writable,
else the user cache directory. `prune` removes the directories of other versions that
have not been used for `max_age_days`.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import re
import sys
import time
import uuid
from functools import lru_cache
from pathlib import Path

import numba
from numba.core import config
from numba.core.caching import (CompileResultCacheImpl, FunctionCache, _CacheLocator,
                                _cache_log)

__all__ = ["kernel", "ufunc", "KernelCache", "fingerprint", "cache_root", "cache_dir", "prune",
           "compiled_count", "code_identity"]

PACKAGE_DIR = Path(__file__).resolve().parent.parent
DIR_PREFIX = "flowsim-"
LAST_USED = "last-used"
_SAFE = re.compile(r"[^A-Za-z0-9_.]+")
_compiled = [0]


@lru_cache(maxsize=None)
def fingerprint(package_dir: Path = PACKAGE_DIR) -> str:
    """sha256 of every .py file under the package (path and bytes) and of the numba,
    llvmlite and Python versions."""
    import llvmlite

    h = hashlib.sha256()
    h.update(f"numba {numba.__version__} llvmlite {llvmlite.__version__} {sys.version}".encode())
    for path in sorted(Path(package_dir).rglob("*.py")):
        h.update(path.relative_to(package_dir).as_posix().encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def _writable(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".probe-{uuid.uuid4().hex}"
        probe.write_bytes(b"")
        probe.unlink()
        return True
    except OSError:
        return False


@lru_cache(maxsize=None)
def _default_root() -> Path:
    local = PACKAGE_DIR / "__pycache__"
    if _writable(local):
        return local
    from numba.misc.appdirs import AppDirs

    return Path(AppDirs(appname="flowsim", appauthor=False).user_cache_dir)


def cache_root() -> Path:
    """NUMBA_CACHE_DIR if set, else the package's __pycache__ (or the user cache directory)."""
    return Path(config.CACHE_DIR) if config.CACHE_DIR else _default_root()


def cache_dir() -> Path:
    """The directory of this version's compiled kernels."""
    return cache_root() / f"{DIR_PREFIX}{fingerprint()[:24]}"


def prune(root: Path | None = None, max_age_days: float = 30.0) -> list:
    """Delete the cache directories of other flowsim versions unused for `max_age_days`;
    returns the deleted paths. Entries are content-addressed, so a deletion under a
    running process costs it a recompilation, never a wrong kernel."""
    import shutil

    root = Path(root) if root is not None else cache_root()
    mine = cache_dir().name
    removed = []
    if not root.is_dir():
        return removed
    for d in root.glob(f"{DIR_PREFIX}*"):
        if d.name == mine or not d.is_dir():
            continue
        stamp = d / LAST_USED
        used = stamp.stat().st_mtime if stamp.exists() else d.stat().st_mtime
        if time.time() - used > max_age_days * 86400.0:
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


@lru_cache(maxsize=None)
def _first_use(path: Path) -> None:
    """Once per process: stamp this version's directory as used, prune stale versions."""
    try:
        (path / LAST_USED).touch()
        prune(path.parent)
    except OSError:
        pass


class _Locator(_CacheLocator):
    """Every kernel of this flowsim version in one directory, stamped by the fingerprint."""

    def __init__(self, py_func, py_file):
        self._path = str(cache_dir())

    def get_cache_path(self):
        return self._path

    def get_source_stamp(self):
        return fingerprint()

    def get_disambiguator(self):
        return ""

    @classmethod
    def from_function(cls, py_func, py_file):
        self = cls(py_func, py_file)
        try:
            self.ensure_cache_path()
        except OSError:
            return None
        _first_use(Path(self._path))
        return self


class _Impl(CompileResultCacheImpl):
    _locator_classes = [_Locator]


class _ContentAddressedFile:
    """Entries stored as `<name>.<sha256(key)>.nbk`, each holding (key, payload)."""

    def __init__(self, cache_path: str, name: str):
        self._path = Path(cache_path)
        self._name = name

    def _file(self, key) -> Path:
        digest = hashlib.sha256(repr(key).encode()).hexdigest()[:32]
        return self._path / f"{self._name}.{digest}.nbk"

    def load(self, key):
        path = self._file(key)
        try:
            stored_key, payload = pickle.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except Exception:  # noqa: BLE001 - a damaged entry is recompiled, never used
            return None
        if stored_key != repr(key):
            return None
        _cache_log("[cache] data loaded from %r", str(path))
        return payload

    def save(self, key, payload) -> None:
        path = self._file(key)
        blob = pickle.dumps((repr(key), payload), protocol=-1)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")
        try:
            tmp.write_bytes(blob)
            os.replace(tmp, path)
        except OSError:
            try:
                tmp.unlink()
            except OSError:
                pass
            return
        _cache_log("[cache] data saved to %r", str(path))

    def flush(self) -> None:
        for f in self._path.glob(f"{self._name}.*.nbk"):
            try:
                f.unlink()
            except OSError:
                pass


class KernelCache(FunctionCache):
    """numba's FunctionCache with flowsim's locator, keys and content-addressed files."""

    _impl_class = _Impl

    def __init__(self, py_func, identity: str, target: str):
        super().__init__(py_func)
        self._identity = (py_func.__module__, py_func.__qualname__, target, identity,
                          hashlib.sha256(py_func.__code__.co_code).hexdigest())
        name = _SAFE.sub("_", f"{py_func.__module__}.{py_func.__qualname__}")[:120]
        self._cache_file = _ContentAddressedFile(self._cache_path, name)

    def _index_key(self, sig, codegen):
        return (self._identity, str(sig), codegen.magic_tuple())

    def save_overload(self, sig, data):
        _compiled[0] += 1
        super().save_overload(sig, data)


def _cache_for(func, identity, target, fallback):
    """A KernelCache, or `fallback` (numba's NullCache) where no cache directory is writable."""
    try:
        return KernelCache(func, identity, target)
    except RuntimeError:
        return fallback


def compiled_count() -> int:
    """How many kernel signatures this process has compiled (not loaded from the cache)."""
    return _compiled[0]


def _is_closure(func) -> bool:
    return "<locals>" in func.__qualname__ or func.__closure__ is not None


def _name(func, identity):
    """A closure's qualified name: its identity when cached, else unique to this process."""
    if not _is_closure(func):
        return
    if identity is None:
        func.__qualname__ = f"{func.__name__}_{uuid.uuid4().hex[:16]}"
    else:
        func.__qualname__ = _SAFE.sub("_", f"{func.__name__}__{identity}")


def kernel(func=None, *, identity: str | None = None, **options):
    """numba.njit with flowsim's disk cache (the module docstring says why not numba's).

    A module-level function is cached as is. A closure is cached only with `identity`,
    a string that names everything the closure captures; without it the closure gets
    a unique name and is compiled once per process."""
    if options.pop("cache", None) is not None:
        raise ValueError("cache: kernel() always caches; do not pass cache=")

    def wrap(f):
        _name(f, identity)
        disp = numba.njit(**options)(f)
        if not _is_closure(f) or identity is not None:
            disp._cache = _cache_for(f, identity or "", "cpu", disp._cache)
        return disp

    return wrap if func is None else wrap(func)


def ufunc(signatures, **options):
    """numba.vectorize for the given signatures, compiled through flowsim's cache."""
    def wrap(f):
        du = numba.vectorize(**options)(f)
        du._dispatcher.cache = _cache_for(f, "", "npyufunc", du._dispatcher.cache)
        for sig in signatures:
            du.add(sig)
        du.disable_compile()
        return du

    return wrap


def code_identity(disp) -> str | None:
    """An identity for a module-level dispatcher outside flowsim: its module, name and the
    sha256 of the source files of every dispatcher it reaches through its globals (None for
    a closure, which has no stable identity). Functions inside flowsim are covered by the
    fingerprint already."""
    from numba.core.dispatcher import Dispatcher

    f = disp.py_func
    if _is_closure(f):
        return None
    files, seen, todo = set(), set(), [f]
    while todo:
        g = todo.pop()
        if id(g) in seen:
            continue
        seen.add(id(g))
        try:
            files.add(os.path.abspath(g.__code__.co_filename))
        except AttributeError:
            continue
        names = _code_names(g.__code__, set())
        for name in names:
            ref = g.__globals__.get(name)
            if isinstance(ref, Dispatcher):
                todo.append(ref.py_func)
    h = hashlib.sha256()
    for path in sorted(files):
        if Path(path).is_relative_to(PACKAGE_DIR):
            continue
        h.update(path.encode())
        try:
            h.update(Path(path).read_bytes())
        except OSError:
            return None
    return f"{f.__module__}.{f.__qualname__}@{h.hexdigest()[:24]}"


def _code_names(code, acc):
    acc.update(code.co_names)
    for c in code.co_consts:
        if hasattr(c, "co_names"):
            _code_names(c, acc)
    return acc
