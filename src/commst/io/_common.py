"""Pieces every reader shares: path checks and the common AnnData layout."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

from .._constants import Keys
from .._errors import CommstInputError
from ..validate import check_unique_names

logger = logging.getLogger("commst.io")

PathLike = str | os.PathLike[str]


def require_path(path: PathLike, *, kind: str = "file", fix: str | None = None) -> Path:
    """Return ``path`` as :class:`~pathlib.Path`; raise if it is missing or of the wrong kind."""
    path = Path(path)
    fix = fix or "check the path in the sample sheet (relative paths resolve against the sheet's folder)"
    if not path.exists():
        raise CommstInputError(path, f"{kind} does not exist", fix)
    if kind == "file" and not path.is_file():
        raise CommstInputError(path, "is a folder, expected a file", fix)
    if kind == "folder" and not path.is_dir():
        raise CommstInputError(path, "is a file, expected a folder", fix)
    return path


def to_counts_csr(matrix: Any, path: PathLike, what: str) -> sparse.csr_matrix:
    """Convert a count matrix (dense, sparse, backed) to canonical CSR float32."""
    if matrix is None:
        raise CommstInputError(path, f"has no {what}", "store raw counts in layers['counts'] or X")
    try:
        if sparse.issparse(matrix):
            csr = sparse.csr_matrix(matrix, dtype=np.float32)
        else:
            csr = sparse.csr_matrix(np.asarray(matrix, dtype=np.float32))
    except (TypeError, ValueError) as err:
        raise CommstInputError(path, f"{what} is not a numeric matrix ({err})", "store raw counts as numbers") from None
    csr.sum_duplicates()
    csr.sort_indices()
    return csr


def coords_array(values: Any, path: PathLike, what: str, n_obs: int) -> np.ndarray:
    """Convert coordinates to a float64 (n, 2) array or raise naming ``what``."""
    if isinstance(values, pd.DataFrame):
        values = values.to_numpy()
    arr = np.asarray(values)
    if arr.ndim != 2 or arr.shape != (n_obs, 2):
        raise CommstInputError(
            path,
            f"{what} has shape {arr.shape}, expected ({n_obs}, 2)",
            "store two coordinate columns (x, y) per spot",
        )
    try:
        return arr.astype(np.float64)
    except (TypeError, ValueError) as err:
        raise CommstInputError(path, f"{what} is not numeric ({err})", "store numeric x/y coordinates") from None


def make_unique(adata: AnnData, path: PathLike, *, allow_duplicate_genes: bool = False) -> None:
    """Check that obs/var names are unique, in place.

    Duplicated spot/cell names are always an error (outputs are keyed by them).
    Duplicated gene names are an error too unless ``allow_duplicate_genes`` (Space Ranger
    output, where several features legitimately share a symbol): then they are made unique
    by appending -1, -2, … with a warning.
    """
    adata.obs_names = adata.obs_names.astype(str)
    adata.var_names = adata.var_names.astype(str)
    names = adata.var_names
    n_dup = int(names.duplicated().sum())
    if n_dup and allow_duplicate_genes:
        logger.warning(
            "%s: %d duplicated gene names made unique by appending -1, -2, … (e.g. %s)",
            path,
            n_dup,
            ", ".join(names[names.duplicated()].unique()[:3]),
        )
        adata.var_names_make_unique()
    check_unique_names(adata, path)


def spatial_anndata(
    counts: Any,
    coords: Any,
    *,
    path: PathLike,
    spatial_format: str,
    obs: pd.DataFrame | None = None,
    var: pd.DataFrame | None = None,
    uns: Mapping[str, Any] | None = None,
    details: Mapping[str, Any] | None = None,
    allow_duplicate_genes: bool = False,
) -> AnnData:
    """Assemble the common reader output.

    Parameters
    ----------
    counts
        Spots × genes raw counts (any matrix type).
    coords
        Spots × 2 coordinates.
    path, spatial_format
        Recorded in ``uns['commst_input']``.
    obs, var
        Annotations (their indexes are the names).
    uns
        Extra ``uns`` entries (e.g. Visium ``spatial``).
    details
        Extra entries of ``uns['commst_input']``.
    allow_duplicate_genes
        Make duplicated gene names unique instead of rejecting them (see :func:`make_unique`).

    Returns
    -------
    AnnData with ``X`` and ``layers['counts']`` (separate CSR float32 copies, so normalising
    ``X`` in place leaves the counts alone), ``obsm['spatial']`` and ``uns['commst_input']``.
    """
    X = to_counts_csr(counts, path, "count matrix")
    adata = AnnData(X=X, obs=obs, var=var)
    adata.obsm[Keys.obsm.spatial] = coords_array(coords, path, "coordinates", adata.n_obs)
    adata.layers[Keys.layers.counts] = X.copy()
    make_unique(adata, path, allow_duplicate_genes=allow_duplicate_genes)
    for key, value in (uns or {}).items():
        adata.uns[key] = value
    adata.uns[Keys.uns.commst_input] = {
        "path": os.fspath(path),
        "format": spatial_format,
        **(details or {}),
    }
    logger.info(
        "%s: read %d spots × %d genes (%s), %.0f counts per spot (median)",
        path,
        adata.n_obs,
        adata.n_vars,
        spatial_format,
        float(np.median(np.asarray(X.sum(axis=1)).ravel())) if adata.n_obs else 0.0,
    )
    return adata
