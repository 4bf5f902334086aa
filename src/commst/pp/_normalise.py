"""Counts and their log-normalisation: the one ``log1p(counts / library × target_sum)``.

Every step that log-normalises (preprocess, the imputation methods, the model, the imputed
output, the benchmark) calls :func:`lognorm` (and :func:`counts_from_lognorm` for the way
back), with the ``target_sum`` of the config (``preprocess: target_sum``), which prepared data
carry in ``uns['commst']['target_sum']`` (:func:`target_sum_of`).
"""

from __future__ import annotations

from typing import TypeVar

import anndata as ad
import numpy as np
import scanpy as sc
import scipy.sparse as sp

from .._constants import Keys

#: Library size of the log-normalisation unless the config says otherwise (``preprocess: target_sum``).
DEFAULT_TARGET_SUM: float = 1e4

_M = TypeVar("_M", np.ndarray, sp.spmatrix)


def counts_matrix(adata: ad.AnnData) -> sp.csr_matrix:
    """Raw counts of ``adata`` (``layers['counts']`` when present, else ``X``) as CSR."""
    X = adata.layers[Keys.layers.counts] if Keys.layers.counts in adata.layers else adata.X
    return sp.csr_matrix(X)


def library_size(adata: ad.AnnData) -> np.ndarray:
    """Total raw counts per observation (float64; summed at the counts' own precision)."""
    return np.asarray(counts_matrix(adata).sum(axis=1), dtype=np.float64).ravel()


def target_sum_of(adata: ad.AnnData) -> float:
    """The ``target_sum`` prepared data were log-normalised with (:data:`DEFAULT_TARGET_SUM` when unrecorded)."""
    return float(adata.uns.get(Keys.uns.commst, {}).get(Keys.uns.target_sum, DEFAULT_TARGET_SUM))


def lognorm(
    counts: _M,
    library: np.ndarray | None = None,
    *,
    target_sum: float = DEFAULT_TARGET_SUM,
    dtype: type[np.floating] = np.float64,
) -> _M:
    """``log1p(counts / library × target_sum)`` row by row, for dense arrays and sparse matrices.

    Parameters
    ----------
    counts
        Observations × genes (observed or expected counts); dense or sparse.
    library
        One total per row (default: the row sums of ``counts``). A row whose library is 0 gives 0.
        The scale ``target_sum / library`` is computed at the library's own precision (a float32
        library gives float32 scales), then cast to ``dtype``.
    target_sum
        Counts per row after scaling.
    dtype
        Precision of the product and of ``log1p`` (and of the result).

    Returns
    -------
    A dense array for dense ``counts``, a CSR matrix (same sparsity) for sparse ones.
    """
    if library is None:
        library = np.asarray(counts.sum(axis=1)).ravel()
    lib = np.asarray(library).ravel()
    if lib.dtype.kind != "f":
        lib = lib.astype(np.float64)
    if lib.shape[0] != counts.shape[0]:
        raise ValueError(f"{lib.shape[0]} library sizes for {counts.shape[0]} rows")
    scale = np.divide(target_sum, lib, out=np.zeros_like(lib), where=lib > 0).astype(dtype, copy=False)
    if sp.issparse(counts):
        out = sp.csr_matrix(counts, dtype=dtype, copy=True)
        out.data *= np.repeat(scale, np.diff(out.indptr))
        np.log1p(out.data, out=out.data)
        return out
    return np.log1p(np.asarray(counts, dtype=dtype) * scale[:, None])


def counts_from_lognorm(
    values: np.ndarray,
    library: np.ndarray,
    *,
    target_sum: float = DEFAULT_TARGET_SUM,
    clip: bool = False,
) -> np.ndarray:
    """The inverse of :func:`lognorm`: ``expm1(values) / target_sum × library`` per row.

    ``clip`` sets negative ``expm1`` values (predictions below 0) to 0 before scaling.
    """
    raw = np.expm1(values)
    if clip:
        raw = np.maximum(raw, 0.0)
    return raw / target_sum * np.asarray(library)[:, None]


def _log_normalise_x(adata: ad.AnnData, target_sum: float) -> None:
    """``X = log1p(normalize_total(X, target_sum))`` in place, with scanpy (as preprocess writes ``X``)."""
    sc.pp.normalize_total(adata, target_sum=target_sum)
    sc.pp.log1p(adata)
    adata.uns.pop("log1p", None)


def normalise(adata: ad.AnnData, *, target_sum: float = DEFAULT_TARGET_SUM) -> None:
    """Keep raw counts in ``layers['counts']`` and log-normalise ``X`` in place.

    ``X = log1p(counts / total_counts * target_sum)``, with scanpy's ``normalize_total``
    and ``log1p``; ``obs['total_counts']`` holds each observation's library size.
    """
    counts = counts_matrix(adata).astype(np.float32)
    adata.layers[Keys.layers.counts] = counts
    adata.X = counts.copy()
    adata.obs[Keys.obs.total_counts] = np.asarray(counts.sum(axis=1)).ravel()
    _log_normalise_x(adata, target_sum)
