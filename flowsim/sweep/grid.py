"""Axes → points → chunks.

The grid is the Cartesian product of the axes, in the order the study lists them
(C order: the last axis varies fastest). A chunk is a hyperrectangular block of the
grid, so it maps onto exactly one Zarr chunk of every variable and can be written
and marked done on its own. The block shape takes whole trailing axes while the
block stays within `chunk_size` points, then part of the next axis:

    shape (5, 32), chunk_size 64  ->  block (2, 32), 3 chunks
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np


def block_shape(shape: tuple, chunk_size: int) -> tuple:
    """Largest C-order block of at most `chunk_size` points (at least one point)."""
    block = [1] * len(shape)
    size = 1
    for ax in range(len(shape) - 1, -1, -1):
        take = max(1, min(shape[ax], chunk_size // size))
        block[ax] = take
        size *= take
        if take < shape[ax]:
            break
    return tuple(block)


@dataclass(frozen=True)
class Chunk:
    """One block of the grid: its flat id, and a slice per axis."""

    id: int
    slices: tuple

    @property
    def shape(self) -> tuple:
        return tuple(s.stop - s.start for s in self.slices)

    @property
    def n_points(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def indices(self):
        """Grid multi-indices of this chunk's points, in C order."""
        return itertools.product(*(range(s.start, s.stop) for s in self.slices))


class Grid:
    """The sweep's points and their chunking."""

    def __init__(self, shape: tuple, chunk_size: int):
        self.shape = tuple(int(n) for n in shape)
        self.block = block_shape(self.shape, int(chunk_size))
        self.n_blocks = tuple(-(-n // b) for n, b in zip(self.shape, self.block))

    @property
    def n_points(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def n_chunks(self) -> int:
        return int(np.prod(self.n_blocks, dtype=np.int64))

    def chunk(self, cid: int) -> Chunk:
        pos = np.unravel_index(int(cid), self.n_blocks) if self.n_blocks else ()
        slices = tuple(slice(int(p) * b, min((int(p) + 1) * b, n))
                       for p, b, n in zip(pos, self.block, self.shape))
        return Chunk(int(cid), slices)

    def chunks(self):
        return [self.chunk(c) for c in range(self.n_chunks)]
