"""The sweep's Zarr store: layout, chunk-by-chunk writes, and resume.

Layout (one Zarr v3 group, readable with `xarray.open_zarr`):

    <axis>           coordinate of each swept axis (dims = the axes, in study order)
    <diagnostic>     float64 (axes...)              NaN where a point failed or is not done
    weights          float64 (axes..., component)   final weights; mode_mass (axes..., mode)
    status           int8    (axes...)              solver status; -1 = not computed yet
    n_steps, n_rhs   int64   (axes...)
    state, *_t       (axes..., time, ...)           only with output.save_trajectory
    chunk_done       int8    (chunk,)               1 once that chunk's data is written

Every variable's Zarr chunk is one sweep chunk (grid.Grid), so a chunk's data lives
in files of its own. A chunk is marked done only after all of its data is written
(`chunk_done[c] = 1` is the last write), hence after a crash — even `kill -9` —
`--resume` recomputes exactly the chunks without a mark, and because each point is a
pure function of the study, the finished dataset is identical to an uninterrupted run.
The store is laid out under a temporary name and renamed into place, so it either
exists with its full layout or not at all.
"""
from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import numpy as np

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


def create(path, study, grid: Grid) -> None:
    """Lay out an empty store at `path` (replacing an older sweep store there)."""
    import zarr

    path = Path(path)
    if path.exists() and not is_sweep_store(path):
        raise StoreError(f"--out: {path} exists and is not a flowsim sweep store; "
                         "choose another path or remove it")
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
    """The `chunk_done` flags of an existing store of the same study (StoreError otherwise)."""
    import zarr

    path = Path(path)
    if not is_sweep_store(path):
        raise StoreError(f"--resume: {path} is not a flowsim sweep store")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = zarr.open_group(str(path), mode="r")
        digest = g.attrs.get("study_digest")
        if digest != study.digest():
            raise StoreError(f"--resume: {path} holds a different study (digest {digest} != "
                             f"{study.digest()}); drop --resume to start over")
        done = np.asarray(g["chunk_done"][:])
    if done.shape != (grid.n_chunks,):
        raise StoreError(f"--resume: {path} has {done.size} chunks, expected {grid.n_chunks}")
    return done.astype(bool)


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
            coords = tuple(int(p) for p in pos) + (0,) * (arr.ndim - len(pos))
            file = self.path / name / arr.metadata.encode_chunk_key(coords)
            if file.exists():  # an all-fill chunk is not written at all
                _fsync(file)
                dirs.add(file.parent)
        for folder in dirs:
            _fsync(folder, directory=True)

    def write(self, cid: int, results: dict) -> None:
        chunk = self.grid.chunk(cid)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name, data in results.items():
                self.arrays[name][chunk.slices] = data
            if self.durable:
                self._sync_chunk(cid, results)
            self.arrays["chunk_done"][cid] = 1


def open_dataset(path):
    """The finished sweep as an xarray Dataset (lazy, Zarr-backed)."""
    import xarray as xr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return xr.open_zarr(str(path))
