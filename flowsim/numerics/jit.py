"""Compiled kernels and their disk cache: one entry per (kernel, signature, code), never another's.

Every numba function of flowsim is made by `kernel` (an `njit`) or `ufunc` (a
`vectorize`). Both attach `KernelCache`, a content-addressed disk cache that replaces
numba's `cache=True`, because numba's own cache can hand one kernel's machine code to
another:

* a closure (a geometry's or a weight mode's wrapper of a right-hand side is one) is
  named after its factory (`_build.<locals>.rhs`) and numbered by a counter that
  restarts in every process, so wrappers of two models compiled in two processes carry
  the same symbol; once one process loads both, the second call links to the first
  one's code;
* numba's index maps a key to a numbered data file and is rewritten by whoever saves
  last, so two processes that compile two keys at once can leave one key's index entry
  pointing at the other's data;
* its freshness stamp covers the function's own file only, so an edit to a callee in
  another file keeps the stale callee; and a stamp read from the disk describes the file
  now, not the code a running process imported before an edit.

Here instead

* a kernel's key holds its **code identity**: the sha256 of the code objects of the
  kernel and of everything it reaches (the functions, kernels, ufuncs and intrinsics it
  names, the kernels and constants of the modules it uses, transitively), of the
  kernels' compile options, of the array and scalar values it freezes as constants, and
  of the numba, llvmlite and Python versions. An edit anywhere in that code changes the
  key; an edit elsewhere does not. It is the code in memory, what this process
  compiles, not the files on disk, which may have been edited since the import;
* an entry's file name is the sha256 of its full key (module, qualified name, target,
  code identity, closure identity, signature, CPU), and the file stores that key, which
  is compared on load: a file can only ever be loaded for its own key;
* a file is written under a unique temporary name and renamed into place (atomic on
  POSIX), so processes compiling at once, the same kernel or different ones, never see
  a partial or foreign entry, and need no lock;
* a closure is cached only when its factory declares `identity`, a string naming what
  the closure captures (a wrapper: the right-hand side it wraps); its qualified name becomes
  that identity, so its symbols are unique to it in every process, and the values in
  its cells enter the code identity. A closure without an identity gets a per-process
  random name and no disk cache.

The cache lives in `<root>/flowsim-kernels`, the root being NUMBA_CACHE_DIR when set,
else the package's `__pycache__` when writable, else the user cache directory. Entries
not used for `MAX_AGE_DAYS` are pruned once per process.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import re
import sys
import time
import types
import uuid
from functools import lru_cache
from pathlib import Path

import numba
import numpy as np
from numba.core import config
from numba.core import event as _event
from numba.core.caching import CompileResultCacheImpl, FunctionCache, _CacheLocator, _cache_log
from numba.core.dispatcher import Dispatcher
from numba.core.extending import _Intrinsic
from numba.np.ufunc.dufunc import DUFunc

__all__ = ["kernel", "ufunc", "KernelCache", "code_identity", "cache_root", "cache_dir",
           "prune", "compiled_count", "compiled_elsewhere", "on_disk", "announce_compilation"]

PACKAGE_DIR = Path(__file__).resolve().parent.parent
CACHE_NAME = "flowsim-kernels"
SUFFIX = ".nbk"
MAX_AGE_DAYS = 30.0
LIBRARIES = frozenset({"numpy", "numba", "llvmlite", "math", "cmath", "scipy", "builtins"})
_SAFE = re.compile(r"[^A-Za-z0-9_.]+")
_REACHABLE = (Dispatcher, DUFunc, _Intrinsic, np.ndarray, tuple, bool, int, float, complex,
              str, bytes, np.generic)
"""What a module reached by name contributes: its kernels, and the constants that code
reads as attributes of it (module.NAME)."""
_compiled = [0]


# ----------------------------------------------------------------------- code identity

def _canonical(value) -> str:
    """A repr that is the same in every process (sets and dicts sorted)."""
    if isinstance(value, (set, frozenset)):
        return "{" + ",".join(sorted(_canonical(v) for v in value)) + "}"
    if isinstance(value, dict):
        return "{" + ",".join(sorted(f"{_canonical(k)}:{_canonical(v)}"
                                     for k, v in value.items())) + "}"
    if isinstance(value, (tuple, list)):
        return "(" + ",".join(_canonical(v) for v in value) + ")"
    return f"{type(value).__name__}:{value!r}"


def _code_digest(code) -> str:
    """sha256 of a code object as the interpreter runs it: bytecode, names, constants and
    nested code objects (the functions and lambdas it defines), and its file's path."""
    h = hashlib.sha256(code.co_filename.encode() + b"\0")

    def visit(c):
        h.update(repr((c.co_name, c.co_argcount, c.co_posonlyargcount, c.co_kwonlyargcount,
                       c.co_flags, c.co_names, c.co_varnames, c.co_freevars,
                       c.co_cellvars)).encode())
        h.update(c.co_code)
        for k in c.co_consts:
            if isinstance(k, types.CodeType):
                visit(k)
            else:
                h.update(_canonical(k).encode() + b"\0")

    visit(code)
    return h.hexdigest()


def _library(obj) -> bool:
    module = getattr(obj, "__module__", None) or getattr(obj, "__name__", "") or ""
    return module.split(".")[0] in LIBRARIES


def _code_names(code, acc):
    acc.update(code.co_names)
    for c in code.co_consts:
        if hasattr(c, "co_names"):
            _code_names(c, acc)
    return acc


def code_identity(func) -> str:
    """sha256 over the code of `func` (a Python function or a numba dispatcher) and of
    everything it reaches, the compile options of the kernels among them, the constant
    values they capture, and the numba, llvmlite and Python versions.

    The code is the code objects in memory, not the source files: a process compiles the
    code it imported, so its entries are keyed by that code even when a file has been
    edited since (a file read now would key the old code as the new)."""
    import llvmlite

    if isinstance(func, Dispatcher):
        func = func.py_func
    digests, values, seen = set(), [], set()
    todo = [func]
    while todo:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, Dispatcher):
            todo.append(obj.py_func)
            values.append(_canonical(obj.targetoptions))
        elif isinstance(obj, DUFunc):
            todo.append(obj._dispatcher.py_func)
            values.append(_canonical(obj._dispatcher.targetoptions))
        elif isinstance(obj, _Intrinsic):
            todo.append(obj._defn)
        elif isinstance(obj, types.FunctionType):
            if _library(obj):
                continue
            digests.add(_code_digest(obj.__code__))
            g = obj.__globals__
            todo.extend(g[name] for name in _code_names(obj.__code__, set()) if name in g)
            todo.append(obj.__defaults__ or ())
            todo.append(obj.__kwdefaults__ or {})
            for cell in obj.__closure__ or ():
                try:
                    todo.append(cell.cell_contents)
                except ValueError:          # an empty cell
                    pass
        elif isinstance(obj, types.ModuleType):
            if not _library(obj):
                todo.extend(v for k, v in vars(obj).items()
                            if not k.startswith("__") and isinstance(v, _REACHABLE))
        elif isinstance(obj, (tuple, list)):
            todo.extend(obj)
        elif isinstance(obj, np.ndarray):
            values.append(f"{obj.dtype}{obj.shape}{hashlib.sha256(obj.tobytes()).hexdigest()}")
        elif isinstance(obj, (bool, int, float, complex, str, bytes, np.generic, type(None))):
            values.append(_canonical(obj))
        elif isinstance(obj, dict):
            todo.extend(obj.values())
    h = hashlib.sha256(f"numba {numba.__version__} llvmlite {llvmlite.__version__} "
                       f"{sys.version}\0".encode())
    for d in sorted(digests):
        h.update(d.encode())
    for v in sorted(values):
        h.update(v.encode())
        h.update(b"\0")
    return h.hexdigest()


# ----------------------------------------------------------------------- the cache

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
    """The directory of the compiled kernels."""
    return cache_root() / CACHE_NAME


def prune(directory: Path | None = None, max_age_days: float = MAX_AGE_DAYS) -> list:
    """Delete entries not used for `max_age_days` (a load refreshes an entry's time);
    returns the deleted paths. Entries are content-addressed, so a deletion under a
    running process costs it a recompilation, never a wrong kernel."""
    directory = Path(directory) if directory is not None else cache_dir()
    removed = []
    if not directory.is_dir():
        return removed
    now = time.time()
    for f in directory.iterdir():
        try:
            stale = now - f.stat().st_mtime > max_age_days * 86400.0
            if stale and (f.suffix == SUFFIX or f.name.endswith(".tmp")):
                f.unlink()
                removed.append(f)
        except OSError:
            pass
    return removed


@lru_cache(maxsize=None)
def _first_use(path: str) -> None:
    prune(Path(path))


class _Locator(_CacheLocator):
    """Every kernel in one directory; freshness is in the keys, not in a stamp."""

    def __init__(self, py_func, py_file):
        self._path = str(cache_dir())
        self._py_file = py_file

    def get_cache_path(self):
        return self._path

    def get_source_stamp(self):
        return ""

    def get_disambiguator(self):
        return ""

    @classmethod
    def from_function(cls, py_func, py_file):
        self = cls(py_func, py_file)
        try:
            self.ensure_cache_path()
        except OSError:
            return None
        _first_use(self._path)
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
        return self._path / f"{self._name}.{digest}{SUFFIX}"

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
        try:
            os.utime(path)
        except OSError:
            pass
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
        for f in self._path.glob(f"{self._name}.*{SUFFIX}"):
            try:
                f.unlink()
            except OSError:
                pass


class KernelCache(FunctionCache):
    """numba's FunctionCache with flowsim's locator, keys and content-addressed files."""

    _impl_class = _Impl

    def __init__(self, py_func, identity: str, target: str):
        super().__init__(py_func)
        self._head = (py_func.__module__, py_func.__qualname__, target, identity)
        self._code = None
        name = _SAFE.sub("_", f"{py_func.__module__}.{py_func.__qualname__}")[:120]
        self._cache_file = _ContentAddressedFile(self._cache_path, name)

    def _index_key(self, sig, codegen):
        if self._code is None:
            self._code = code_identity(self._py_func)
        return (self._head, self._code, str(sig), codegen.magic_tuple())

    def save_overload(self, sig, data):
        _compiled[0] += 1
        super().save_overload(sig, data)

    def holds(self, sig, target_context) -> bool:
        """Whether the disk cache has an entry for `sig` (without loading it)."""
        return self._cache_file._file(self._index_key(sig, target_context.codegen())).exists()


def _cache_for(func, identity, target, fallback):
    """A KernelCache, or `fallback` (numba's NullCache) where no cache directory is writable."""
    try:
        return KernelCache(func, identity, target)
    except RuntimeError:
        return fallback


def on_disk(dispatcher, sig) -> bool:
    """Whether `dispatcher` (a `kernel`) has an entry for `sig` in the disk cache."""
    cache = getattr(dispatcher, "_cache", None)
    if not isinstance(cache, KernelCache):
        return False
    try:
        return cache.holds(sig, dispatcher.targetctx)
    except OSError:
        return False


ELSEWHERE = "custom/flowsim:compiled_elsewhere"
"""numba event kind: this process waits for a kernel that another one compiles for it."""


@contextlib.contextmanager
def compiled_elsewhere():
    """Within the context this process waits for a kernel that another process compiles
    (flowsim.integrate.prefetch): `announce_compilation` says so, and `compiled_count`
    counts it, as if this process compiled it."""
    _compiled[0] += 1
    with _event.trigger_event(ELSEWHERE):
        yield


def compiled_count() -> int:
    """How many kernel signatures this process has compiled and saved (cache misses), or
    waited for while another process compiled them (`compiled_elsewhere`)."""
    return _compiled[0]


def _is_closure(func) -> bool:
    return "<locals>" in func.__qualname__ or func.__closure__ is not None


def _name(func, identity) -> None:
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
    a string unique to what the closure captures; without it the closure gets a unique
    name and is compiled once per process."""
    if "cache" in options:
        raise ValueError("cache: kernel() always caches; do not pass cache=")

    def wrap(f):
        _name(f, identity)
        disp = numba.njit(**options)(f)
        if not _is_closure(f) or identity is not None:
            disp._cache = _cache_for(f, identity or "", "cpu", disp._cache)
        disp.flowsim_identity = identity
        return disp

    return wrap if func is None else wrap(func)


def ufunc(**options):
    """numba.vectorize through flowsim's cache, compiled for each argument type on first
    use (so importing a module of ufuncs compiles nothing)."""
    def wrap(f):
        du = numba.vectorize(**options)(f)
        du._dispatcher.cache = _cache_for(f, "", "npyufunc", du._dispatcher.cache)
        return du

    return wrap


METHOD_KERNELS = {"auto": "DOPRI5/Radau", "dopri5": "DOPRI5", "radau5": "Radau IIA",
                  "rk4": "RK4", "euler": "Euler", "dopri5_fixed": "DOPRI5 (fixed step)"}


class _Announcer(_event.Listener):
    """Prints `message` once, when the first compilation inside its context starts."""

    def __init__(self, message: str, write):
        self.message = message
        self.write = write
        self.done = False

    def on_start(self, event):
        if not self.done:
            self.done = True
            self.write(self.message)

    def on_end(self, event):
        pass


@contextlib.contextmanager
def announce_compilation(model: str, method: str = "auto", write=None):
    """Within the context, say once on stderr when numba starts compiling (a cache miss), or
    when this process starts waiting for a kernel another process compiles:
    "flowsim: compiling the kernels for <model> (its right-hand side, and the DOPRI5/Radau
    solvers if no model has compiled them yet; ...)"."""
    kernels = METHOD_KERNELS.get(method, method)
    message = (f"flowsim: compiling the kernels for {model} (its right-hand side, and the "
               f"{kernels} solvers if no model has compiled them yet; first run only: they are "
               "cached on disk)")
    if write is None:
        def write(text):
            print(text, file=sys.stderr, flush=True)
    announcer = _Announcer(message, write)
    with _event.install_listener("numba:compile", announcer), \
            _event.install_listener(ELSEWHERE, announcer):
        yield


def rhs_identity(rhs) -> str | None:
    """The name that a wrapper of `rhs` (a geometry, a weight mode) builds its identity on:
    the rhs's module and qualified name, which for a closure made with an `identity` holds
    that identity (None for a closure without one: its name is random in each process,
    and its wrappers are not disk-cached)."""
    f = rhs.py_func
    if _is_closure(f) and getattr(rhs, "flowsim_identity", None) is None:
        return None
    return f"{f.__module__}.{f.__qualname__}"
