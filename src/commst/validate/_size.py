"""The size of an input: shapes, non-zeros and stored bytes, peeked at without loading the matrix."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

from .._constants import Keys
from ._common import PathLike

logger = logging.getLogger("commst.validate")

#: Bytes per stored entry of a CSR count matrix as the readers hold it: float32 value + int32
#: column index (plus 8 bytes per row for the int64 row pointer).
_CSR_ENTRY_BYTES = 8
#: Resident memory of the Python process before any data: interpreter, numpy/scipy/pandas,


def _matrix_bytes(mat: Any) -> int:
    if sparse.issparse(mat):
        return int(sum(a.nbytes for a in (mat.data, mat.indices, mat.indptr)))
    if isinstance(mat, pd.DataFrame):
        return int(sum(np.asarray(mat[c]).nbytes for c in mat.columns))
    return int(np.asarray(mat).nbytes)


def _stored_matrices(adata: AnnData) -> list[Any]:
    """Every matrix reading the file holds: X, layers, obsm, obsp and .raw's X."""
    mats = [adata.X, *adata.layers.values(), *adata.obsm.values(), *adata.obsp.values()]
    if adata.raw is not None:
        mats.append(adata.raw.X)
    return [m for m in mats if m is not None]


@dataclass(frozen=True)
class DataSize:
    """Size of one input: the counts matrix's shape and non-zeros, and what reading it holds.

    Attributes
    ----------
    n_obs, n_vars
        Spots/cells and genes.
    nnz
        Non-zero counts (of ``layers['counts']`` when present, else ``X``).
    stored_bytes
        Memory the matrices of the file take once read, as stored: ``X``, every layer, every
        ``obsm`` and ``obsp`` entry and ``.raw``'s matrix.
    var_names
        Gene names, when known (they give the shared genes and the LR targets exactly).
    """

    n_obs: int
    n_vars: int
    nnz: int
    stored_bytes: int
    var_names: tuple[str, ...] | None = None

    @property
    def csr_bytes(self) -> int:
        """Bytes of one CSR float32 copy of the counts (the readers' layout)."""
        return _CSR_ENTRY_BYTES * self.nnz + 8 * (self.n_obs + 1)

    @property
    def density(self) -> float:
        """Share of non-zero entries."""
        return self.nnz / max(self.n_obs * self.n_vars, 1)

    @classmethod
    def from_anndata(cls, adata: AnnData) -> DataSize:
        """Size of data already read (used where the file format cannot be peeked at)."""
        counts = adata.layers.get(Keys.layers.counts, adata.X)
        if counts is None:
            nnz = 0
        elif sparse.issparse(counts):
            nnz = int(counts.nnz)
        else:
            nnz = int(np.count_nonzero(counts))
        return cls(
            adata.n_obs,
            adata.n_vars,
            nnz,
            sum(_matrix_bytes(m) for m in _stored_matrices(adata)),
            tuple(map(str, adata.var_names)),
        )


#: Most entries of a dense matrix read to estimate its share of non-zeros (4 MiB of float32).
_DENSE_SAMPLE = 2**20


def _h5_matrix_size(elem: Any) -> tuple[tuple[int, ...], int, int]:
    """(shape, nnz, bytes in memory) of an h5ad matrix element, from metadata and a small sample."""
    import h5py

    if isinstance(elem, h5py.Group):
        if "data" in elem and "indptr" in elem:  # sparse (csr/csc): data, indices, indptr
            shape = tuple(int(x) for x in elem.attrs["shape"])
            data, indices, indptr = elem["data"], elem["indices"], elem["indptr"]
            nnz = int(data.shape[0])
            nbytes = nnz * (data.dtype.itemsize + indices.dtype.itemsize)
            nbytes += int(indptr.shape[0]) * indptr.dtype.itemsize
            return shape, nnz, nbytes
        # a data frame (obsm) or other group: the bytes of its datasets, no non-zero count
        sizes: list[int] = []
        elem.visititems(
            lambda _, obj: (
                sizes.append(int(np.prod(obj.shape)) * obj.dtype.itemsize)
                if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "biuf"
                else None
            )
        )
        return (), 0, sum(sizes)
    shape = tuple(int(x) for x in elem.shape)
    nbytes = int(np.prod(shape)) * elem.dtype.itemsize
    if len(shape) != 2 or not shape[0] or not shape[1]:
        return shape, int(np.prod(shape)), nbytes
    # a bounded block of rows (all of them for small matrices): never loads the matrix
    n_cols = min(shape[1], _DENSE_SAMPLE)
    n_rows = max(1, min(shape[0], _DENSE_SAMPLE // n_cols))
    block = elem[:n_rows, :n_cols]
    nnz = round(np.count_nonzero(block) / block.size * shape[0] * shape[1])
    return shape, nnz, nbytes


def peek_size(path: PathLike, spatial_format: str = "h5ad") -> DataSize | None:
    """Size of an input read from its metadata, without loading the matrix.

    Reads the shapes, dtypes and non-zero counts of ``X``, every layer, ``obsm``, ``obsp`` and
    ``.raw`` from the HDF5 metadata, the gene names, and for a dense matrix a block of at most
    2²⁰ entries to estimate its share of non-zeros: a few MB whatever the file holds.

    Parameters
    ----------
    path
        Input file.
    spatial_format
        Only ``"h5ad"`` (spatial data or reference) can be peeked at; the other formats are
        text or folders whose size is known only after reading (their readers stream).

    Returns
    -------
    The size, or ``None`` when the format cannot be peeked at or the file cannot be opened
    (the reader then reports what is wrong with it).
    """
    if spatial_format != "h5ad" or not Path(path).is_file():
        return None
    try:
        import h5py
        from anndata.io import read_elem

        with h5py.File(path, "r") as f:
            elems = {"X": f["X"]} if "X" in f else {}
            for group in ("layers", "obsm", "obsp"):
                if group in f:
                    elems.update({f"{group}/{k}": f[group][k] for k in f[group]})
            if "raw" in f and "X" in f["raw"]:
                elems["raw/X"] = f["raw"]["X"]
            sizes = {k: _h5_matrix_size(v) for k, v in elems.items()}
            var = f["var"]
            var_names = tuple(map(str, read_elem(var[var.attrs["_index"]])))
            obs = f["obs"]
            n_obs = int(obs[obs.attrs["_index"]].shape[0])
    except Exception as err:  # noqa: BLE001 - unreadable files are the reader's to report
        logger.debug("%s: cannot peek at the size (%s); estimating after reading", path, err)
        return None
    counts = sizes.get("layers/counts", sizes.get("X"))
    nnz = counts[1] if counts is not None else 0
    return DataSize(n_obs, len(var_names), nnz, sum(s[2] for s in sizes.values()), var_names)
