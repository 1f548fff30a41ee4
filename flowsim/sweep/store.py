"""The sweep's Zarr store: layout, chunk-by-chunk writes, and resume.

Layout (one Zarr v3 group, readable with `xarray.open_zarr`):

    <axis>           coordinate of each swept axis (dims = the axes, in study order)
    <diagnostic>     float64 (axes...)              NaN where a point failed or is not done
    weights          float64 (axes..., component)   final weights; mode_mass (axes..., mode)
    status           int8    (axes...)              solver status; -1 = not computed yet
    n_steps, n_rhs   int64   (axes...)
    state, *_t       (axes..., time, ...)           only with output.save_trajectory
    chunk_digest     uint64  (chunk,)               a hash of that chunk's data as written
    chunk_done       int8    (chunk,)               1 once that chunk's data is written

Every variable's Zarr chunk is one sweep chunk (grid.Grid), so a chunk's data lives
in files of its own. A chunk is marked done only after all of its data and its digest
are written (`chunk_done[c] = 1` is the last write), hence after a crash — even
`kill -9` — `--resume` recomputes exactly the chunks without a mark, and because each
point is a pure function of the study, the finished dataset is identical to an
uninterrupted run. `--resume` also reads every marked chunk back and compares it with
its digest: a chunk whose files were truncated, deleted or altered is recomputed, never
read as valid data; a store whose arrays are missing is refused. The store is laid out
under a temporary name and renamed into place, so it either exists with its full layout
or not at all. An existing store is replaced only with `overwrite=True`.
"""
from __future__ import annotations

import errno
import hashlib
import os
import shutil
import warnings
from pathlib import Path

import numpy as np

from ..diagnostics import MECHANISMS
from ..integrate.status import POINT_STATUS_NAMES as STATUS_MEANINGS
from .errors import StoreError
from .grid import Grid
from .variables import DESCRIPTIONS, time_grid, variable_shapes


def _package_version() -> str:
    try:
        from .. import __version__
        return str(__version__)
    except ImportError:
        return "unknown"


def is_sweep_store(path: Path) -> bool:
    import zarr
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return "flowsim_sweep" in zarr.open_group(str(path), mode="r").attrs
    except Exception:  # noqa: BLE001 - anything unreadable is "not ours"
        return False


def _coord_array(values):
    if all(isinstance(v, str) for v in values):
        return np.array(values, dtype=str)
    if all(isinstance(v, bool) for v in values):
        return np.array(values, dtype=bool)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return np.array(values, dtype=np.int64)
    return np.array(values, dtype=np.float64)


def _io_error(option: str, path, exc: OSError) -> StoreError:
    what = exc.strerror or type(exc).__name__
    if exc.errno == errno.ENOSPC:
        return StoreError(f"{option}: no space left on the device writing {path}; free some and "
                          "run again with --resume")
    return StoreError(f"{option}: cannot write {path}: {what}")


def create(path, study, grid: Grid, overwrite: bool = False) -> None:
    """Lay out an empty store at `path`; an existing path is refused unless `overwrite`
    (and then only if it is a flowsim sweep store)."""
    path = Path(path)
    if path.exists() or path.is_symlink():
        if not is_sweep_store(path):
            raise StoreError(f"--out: {path} exists and is not a flowsim sweep store; "
                             "choose another path or remove it")
        if not overwrite:
            raise StoreError(f"--out: {path} already holds a sweep store; pass --resume to finish "
                             "it or --overwrite to replace it")
    try:
        _create(path, study, grid)
    except OSError as exc:
        raise _io_error("--out", path, exc) from None


def _create(path: Path, study, grid: Grid) -> None:
    import zarr

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".creating")
    shutil.rmtree(tmp, ignore_errors=True)
    dims = tuple(a.name for a in study.axes)
    block = grid.block
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = zarr.open_group(str(tmp), mode="w", zarr_format=3)
        for axis in study.axes:
            values = _coord_array(axis.values)
            arr = g.create_array(axis.name, shape=values.shape, chunks=values.shape,
                                 dtype=values.dtype, dimension_names=(axis.name,),
                                 fill_value=values[0])
            arr[:] = values
            arr.attrs["field"] = f"{axis.path[0][0]}.{axis.path[0][1]}" + (
                "" if axis.path[1] is None else f"[{axis.path[1]}]")
        extra_coords = {}
        if study.output["save_trajectory"]:
            extra_coords["time"] = time_grid(study)
        for name, values in extra_coords.items():
            arr = g.create_array(name, shape=values.shape, chunks=values.shape, dtype=values.dtype,
                                 dimension_names=(name,), fill_value=0.0)
            arr[:] = values
        for name, (edims, eshape, dtype, fill) in variable_shapes(study).items():
            arr = g.create_array(name, shape=grid.shape + eshape, chunks=block + eshape,
                                 dtype=dtype, fill_value=fill, dimension_names=dims + edims)
            arr.attrs["description"] = DESCRIPTIONS[name]
            if name == "status":
                arr.attrs["flag_values"] = list(STATUS_MEANINGS)
                arr.attrs["flag_meanings"] = " ".join(STATUS_MEANINGS.values())
            if name == "mechanism":
                arr.attrs["flag_values"] = list(range(len(MECHANISMS)))
                arr.attrs["flag_meanings"] = " ".join(MECHANISMS)
        digest = g.create_array("chunk_digest", shape=(grid.n_chunks,), chunks=(1,),
                                dtype=np.uint64, fill_value=0, dimension_names=("chunk",))
        digest.attrs["description"] = "a hash of that sweep chunk's data, checked on --resume"
        done = g.create_array("chunk_done", shape=(grid.n_chunks,), chunks=(1,), dtype=np.int8,
                              fill_value=0, dimension_names=("chunk",))
        done.attrs["description"] = "1 once every variable of that sweep chunk is written"
        g.attrs.update({
            "flowsim_sweep": 1,
            "study": study.text,
            "study_name": study.name,
            "study_source": os.path.basename(study.source),
            "study_digest": study.digest(),
            "flowsim_version": _package_version(),
            "family": study.family,
            "objective": study.describe("objective"),
            "weights": study.describe("weights"),
            "axes": list(dims),
            "chunk_shape": list(block),
            "status_meanings": {str(k): v for k, v in STATUS_MEANINGS.items()},
        })
        zarr.consolidate_metadata(str(tmp))
    if path.exists():
        shutil.rmtree(path)
    os.replace(tmp, path)


def open_for_resume(path, study, grid: Grid) -> np.ndarray:
    """The `chunk_done` flags of an existing store of the same study (StoreError otherwise):
    a chunk is done only if its mark is set and its data reads back to its digest."""
    import zarr

    path = Path(path)
    if not is_sweep_store(path):
        raise StoreError(f"--resume: {path} is not a flowsim sweep store")
    expected = variable_shapes(study)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = zarr.open_group(str(path), mode="r")
        digest = g.attrs.get("study_digest")
        if digest != study.digest():
            raise StoreError(f"--resume: {path} holds a different study (digest {digest} != "
                             f"{study.digest()}); pass --overwrite to start over")
        present = dict(g.arrays())
        for name in list(expected) + ["chunk_done", "chunk_digest"]:
            if name not in present or not (path / name / "zarr.json").is_file():
                raise StoreError(f"--resume: {path} is damaged (the array {name!r} is missing); "
                                 "pass --overwrite to start over")
        try:
            done = np.asarray(present["chunk_done"][:]).astype(bool)
            sums = np.asarray(present["chunk_digest"][:])
        except Exception as exc:  # noqa: BLE001 - unreadable bookkeeping
            raise StoreError(f"--resume: {path} is damaged (its chunk marks cannot be read: "
                             f"{type(exc).__name__}); pass --overwrite to start over") from None
        if done.shape != (grid.n_chunks,):
            raise StoreError(f"--resume: {path} has {done.size} chunks, expected {grid.n_chunks}")
        for cid in np.nonzero(done)[0]:
            chunk = grid.chunk(int(cid))
            try:
                data = {name: np.asarray(present[name][chunk.slices]) for name in expected}
            except Exception:  # noqa: BLE001 - a truncated or corrupt chunk file
                done[cid] = False
                continue
            if chunk_digest(data) != int(sums[cid]):
                done[cid] = False
    return done


def chunk_digest(results: dict) -> int:
    """64 bits of the sha256 of a chunk's variables (sorted by name, raw bytes)."""
    h = hashlib.sha256()
    for name in sorted(results):
        arr = np.ascontiguousarray(results[name])
        h.update(name.encode())
        h.update(str(arr.dtype).encode())
        h.update(arr.tobytes())
    return int.from_bytes(h.digest()[:8], "little")


def _fsync(path: Path, directory: bool = False) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class Writer:
    """Writes finished chunks into the store, marking each done last.

    With `durable=True` (the default) a chunk's files, and the folders that list
    them, are fsync'ed before its `chunk_done` mark is written, so a mark implies the
    data is on disk even after a power loss, not only after a killed process.
    """

    def __init__(self, path, grid: Grid, durable: bool = True):
        import zarr

        self.path = Path(path)
        self.grid = grid
        self.durable = durable
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.group = zarr.open_group(str(path), mode="r+")
            self.arrays = {name: arr for name, arr in self.group.arrays()}

    def _sync_chunk(self, cid: int, names) -> None:
        pos = np.unravel_index(cid, self.grid.n_blocks) if self.grid.n_blocks else ()
        dirs = set()
        for name in names:
            arr = self.arrays[name]
            coords = ((cid,) if name == "chunk_digest"
                      else tuple(int(p) for p in pos) + (0,) * (arr.ndim - len(pos)))
            file = self.path / name / arr.metadata.encode_chunk_key(coords)
            if file.exists():  # an all-fill chunk is not written at all
                _fsync(file)
                dirs.add(file.parent)
        for folder in dirs:
            _fsync(folder, directory=True)

    def write(self, cid: int, results: dict) -> None:
        """Write a chunk's data, its digest, then its done mark; StoreError (one line) when
        the disk is full or the store cannot be written."""
        try:
            self._write(cid, results)
        except OSError as exc:
            raise _io_error("--out", self.path, exc) from None

    def _write(self, cid: int, results: dict) -> None:
        chunk = self.grid.chunk(cid)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name, data in results.items():
                self.arrays[name][chunk.slices] = data
            self.arrays["chunk_digest"][cid] = np.uint64(chunk_digest(
                {name: np.asarray(data) for name, data in results.items()}))
            if self.durable:
                self._sync_chunk(cid, list(results) + ["chunk_digest"])
            self.arrays["chunk_done"][cid] = 1


def open_dataset(path):
    """The finished sweep as an xarray Dataset (lazy, Zarr-backed; numpy-backed arrays
    loaded on access, so reading it needs no dask)."""
    import xarray as xr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return xr.open_zarr(str(path), chunks=None)
