"""AnnData (.h5ad) inputs: spatial data and the single-cell reference."""

from __future__ import annotations

import logging

import anndata as ad
import numpy as np
import pandas as pd
from anndata import AnnData

from .._constants import Keys
from .._errors import CommstInputError
from ._common import PathLike, make_unique, require_path, spatial_anndata, to_counts_csr

logger = logging.getLogger("commst.io")

#: obs column pairs accepted as coordinates when obsm['spatial'] is absent (first match wins).
_OBS_COORD_COLUMNS = (("x", "y"), ("X", "Y"), ("imagecol", "imagerow"))


def _read_h5ad(path: PathLike) -> AnnData:
    path = require_path(path)
    try:
        return ad.read_h5ad(path)
    except Exception as err:  # h5py/anndata raise many types for truncated or foreign files
        raise CommstInputError(
            path,
            f"cannot be read as an AnnData .h5ad file ({type(err).__name__}: {err})",
            "check the file is complete and was written by anndata (adata.write_h5ad); "
            "for other formats set spatial_format accordingly",
        ) from err


def _counts_source(adata: AnnData) -> tuple[str, object]:
    if Keys.layers.counts in adata.layers:
        return "layers['counts']", adata.layers[Keys.layers.counts]
    return "X", adata.X


def read_h5ad_spatial(path: PathLike) -> AnnData:
    """Read spatial data from an ``.h5ad`` file.

    Parameters
    ----------
    path
        AnnData file with raw counts in ``layers['counts']`` (preferred) or ``X``, and
        coordinates in ``obsm['spatial']`` or in obs columns ``x``/``y``
        (also ``imagecol``/``imagerow``).

    Returns
    -------
    AnnData in the common reader layout (see :mod:`commst.io`); obs and var columns are
    kept, as is ``uns['spatial']`` (Visium images and scale factors) when present. Other
    layers and obsm entries are dropped.

    Raises
    ------
    CommstInputError
        File missing or unreadable, or no coordinates.
    """
    return spatial_from_anndata(_read_h5ad(path), path=path, spatial_format="h5ad")


def spatial_from_anndata(
    src: AnnData, *, path: PathLike = "spatial AnnData", spatial_format: str = "anndata"
) -> AnnData:
    """Spatial data already in memory, in the common reader layout (as :func:`read_h5ad_spatial`).

    Parameters
    ----------
    src
        Spots × genes with raw counts in ``layers['counts']`` (preferred) or ``X`` and
        coordinates in ``obsm['spatial']`` or obs columns ``x``/``y`` (also
        ``imagecol``/``imagerow``). Not modified.
    path
        What messages call the data (its file, or a description).
    spatial_format
        Recorded in ``uns['commst_input']['format']``.

    Raises
    ------
    CommstInputError
        No coordinates, or coordinates with more than two columns.
    """
    where, counts = _counts_source(src)
    if Keys.obsm.spatial in src.obsm:
        coords, coords_from = src.obsm[Keys.obsm.spatial], "obsm['spatial']"
        coords = coords.to_numpy() if isinstance(coords, pd.DataFrame) else np.asarray(coords)
        if coords.ndim == 2 and coords.shape[1] > 2:
            raise CommstInputError(
                path,
                f"obsm['spatial'] has {coords.shape[1]} columns, expected 2 (x, y)",
                "keep two columns, e.g. adata.obsm['spatial'] = adata.obsm['spatial'][:, :2], "
                "or select one section of 3-D data",
            )
    else:
        pair = next((p for p in _OBS_COORD_COLUMNS if set(p) <= set(src.obs.columns)), None)
        if pair is None:
            raise CommstInputError(
                path,
                f"has no coordinates (no obsm['spatial'] and no obs columns x/y; obsm keys: "
                f"{list(src.obsm)}, obs columns: {list(src.obs.columns)[:10]})",
                "store coordinates in obsm['spatial'] (n × 2) or obs columns 'x' and 'y'",
            )
        coords, coords_from = src.obs[list(pair)].to_numpy(), f"obs[{list(pair)}]"
    uns = {Keys.uns.spatial: src.uns[Keys.uns.spatial]} if Keys.uns.spatial in src.uns else None
    return spatial_anndata(
        counts,
        coords,
        path=path,
        spatial_format=spatial_format,
        obs=src.obs.copy(),
        var=src.var.copy(),
        uns=uns,
        details={"counts_from": where, "coordinates_from": coords_from},
    )


def read_reference(path: PathLike, cell_type_key: str) -> AnnData:
    """Read the single-cell reference from an ``.h5ad`` file.

    Parameters
    ----------
    path
        AnnData file (cells × genes) with raw counts in ``layers['counts']`` (preferred) or ``X``.
    cell_type_key
        obs column with cell-type labels.

    Returns
    -------
    AnnData with raw counts as CSR float32 in ``X`` and ``layers['counts']``,
    ``obs['cell_type']`` (categorical copy of ``obs[cell_type_key]``; missing labels stay
    missing for :func:`commst.validate.check_cell_types` to report), unique names and
    ``uns['commst_input']`` (``path``, ``format``, ``counts_from``, ``cell_type_key``).

    Raises
    ------
    CommstInputError
        File missing or unreadable, or ``cell_type_key`` not in obs.
    """
    return reference_from_anndata(
        _read_h5ad(path),
        cell_type_key,
        path=path,
        source_format="h5ad",
        fix="set cell_type_key in the sample sheet to the obs column",
    )


def reference_from_anndata(
    src: AnnData,
    cell_type_key: str,
    *,
    path: PathLike = "reference AnnData",
    source_format: str = "anndata",
    fix: str = "pass cell_type_key=<the obs column>",
) -> AnnData:
    """A single-cell reference already in memory, in the reader layout (as :func:`read_reference`).

    Parameters
    ----------
    src
        Cells × genes with raw counts in ``layers['counts']`` (preferred) or ``X``. Not modified.
    cell_type_key
        obs column with cell-type labels.
    path
        What messages call the data (its file, or a description).
    source_format
        Recorded in ``uns['commst_input']['format']``.
    fix
        The start of the fix given when ``cell_type_key`` is not in obs.

    Raises
    ------
    CommstInputError
        ``cell_type_key`` not in obs.
    """
    if cell_type_key not in src.obs:
        raise CommstInputError(
            path,
            f"has no obs column {cell_type_key!r} (columns: {list(src.obs.columns)[:20]})",
            f"{fix} holding the cell-type labels",
        )
    where, counts = _counts_source(src)
    X = to_counts_csr(counts, path, where)
    labels = src.obs[cell_type_key]
    missing = labels.isna()
    labels = labels.astype(str).where(~missing)
    obs = src.obs.copy()
    obs[Keys.obs.cell_type] = pd.Categorical(labels)
    adata = AnnData(X=X, obs=obs, var=src.var.copy())
    adata.layers[Keys.layers.counts] = X.copy()
    make_unique(adata, path)
    adata.uns[Keys.uns.commst_input] = {
        "path": str(path),
        "format": source_format,
        "counts_from": where,
        "cell_type_key": cell_type_key,
    }
    logger.info(
        "%s: read reference %d cells × %d genes, %d cell types",
        path,
        adata.n_obs,
        adata.n_vars,
        adata.obs[Keys.obs.cell_type].cat.categories.size,
    )
    return adata
