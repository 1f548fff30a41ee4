"""Stable identities for numba dispatchers, so closures over them hit the disk cache.

numba keys a cached closure by pickling its cell contents
(numba.core.caching._CacheImpl / IndexDataCacheFile `_index_key`).  A dispatcher
pickles its Python function *by value* (bytecode and referenced globals, so an
edit to rhs or to anything it calls changes the key) plus a per-process random
uuid (numba.core.dispatcher._MemoMixin), which alone would make every new process
miss the cache and append a new entry.  `pin_uuids` replaces that uuid by a stable
name (module.qualname, or an explicit label for closures) on a dispatcher and,
transitively, on every module-level dispatcher it references.  The uuid only
identifies an instance when unpickling (e.g. on a dask worker); a stable name
maps a pickled kernel to the worker's already-imported one. A @vectorize ufunc
(DUFunc) pickles its kernel by value too, so the dispatchers that kernel calls are
pinned the same way. An @intrinsic (flowsim.simd_math's bit casts) pickles a per-process
uuid as well (numba.core.extending._Intrinsic); it gets the stable name of its
definition, or every kernel that inlines simd_math would miss the cache in a new
process.
"""
from __future__ import annotations

from numba.core.dispatcher import Dispatcher
from numba.core.extending import _Intrinsic
from numba.np.ufunc.dufunc import DUFunc

__all__ = ["pin_uuids", "stable_label"]


def stable_label(disp) -> str | None:
    f = disp.py_func
    qn = getattr(f, "__qualname__", f.__name__)
    if "<locals>" in qn:
        return None
    return f"flowsim-stable:{f.__module__}.{qn}"


def _set_uuid(disp, label: str) -> None:
    cur = getattr(disp, "_MemoMixin__uuid", None)
    if cur == label:
        return
    if cur is not None:
        disp._MemoMixin__uuid = None
    disp._set_uuid(label)


def _code_names(code, acc):
    acc.update(code.co_names)
    for c in code.co_consts:
        if hasattr(c, "co_names"):
            _code_names(c, acc)
    return acc


def pin_uuids(disp, label=None, seen=None) -> bool:
    """Give `disp` (named `label`, default module.qualname) and every module-level
    dispatcher it references (transitively, via globals and closure cells) a stable
    uuid.  False, pinning nothing, if `disp` is a closure and no label is given."""
    if seen is None:
        seen = set()
    if id(disp) in seen:
        return True
    seen.add(id(disp))
    label = label or stable_label(disp)
    if label is None:
        return False
    _set_uuid(disp, label)
    _pin_references(disp.py_func, seen)
    return True


def _pin_references(func, seen) -> None:
    """Pin every module-level dispatcher `func` references through its globals and
    closure cells; a @vectorize ufunc (DUFunc) is followed into its kernel's references."""
    g = getattr(func, "__globals__", {})
    refs = [g[name] for name in _code_names(func.__code__, set()) if name in g]
    refs += [c.cell_contents for c in (func.__closure__ or ())]
    for r in refs:
        if isinstance(r, Dispatcher):
            pin_uuids(r, None, seen)
        elif isinstance(r, _Intrinsic) and id(r) not in seen:
            seen.add(id(r))
            _pin_intrinsic(r)
        elif isinstance(r, DUFunc) and id(r) not in seen:
            seen.add(id(r))
            _pin_references(r._dispatcher.py_func, seen)


def _pin_intrinsic(intr) -> None:
    """Give an @intrinsic the stable name of its definition (module.qualname)."""
    defn = intr._defn
    label = f"flowsim-stable:{defn.__module__}.{getattr(defn, '__qualname__', defn.__name__)}"
    cur = getattr(intr, "_Intrinsic__uuid", None)
    if cur == label:
        return
    if cur is not None:
        _Intrinsic._memo.pop(cur, None)
        intr._Intrinsic__uuid = None
    intr._set_uuid(label)
