"""Checks of spatial coordinates."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from anndata import AnnData

from .._constants import Keys
from ._common import CommstInputError, PathLike, examples, shared_doc

logger = logging.getLogger("commst.validate")


@shared_doc
def check_coordinates(adata: AnnData, path: PathLike, *, key: str = Keys.obsm.spatial) -> None:
    """Check spatial coordinates: present, numeric, n × 2, finite and not all identical.

    Parameters
    ----------
    {common}
    key
        ``obsm`` key holding the coordinates.

    Raises
    ------
    CommstInputError
        Missing, non-numeric, wrongly shaped, NaN/infinite or all-identical coordinates.
    """
    if key not in adata.obsm:
        raise CommstInputError(
            path,
            f"has no spatial coordinates (obsm[{key!r}] missing; obsm keys: {list(adata.obsm)})",
            "store coordinates as obsm['spatial'] (n × 2) or obs columns 'x' and 'y', or read the "
            "raw output with the matching spatial_format (visium, stereo_gem, csv)",
        )
    raw = adata.obsm[key]
    raw = raw.to_numpy() if isinstance(raw, pd.DataFrame) else np.asarray(raw)
    if raw.ndim != 2 or raw.shape[0] != adata.n_obs or raw.shape[1] != 2:
        raise CommstInputError(
            path,
            f"obsm[{key!r}] has shape {raw.shape}, expected ({adata.n_obs}, 2)",
            "store two coordinate columns (x, y) per spot; for 3-D data choose a section",
        )
    try:
        coords = raw.astype(np.float64)
    except (TypeError, ValueError) as err:
        raise CommstInputError(
            path,
            f"obsm[{key!r}] is not numeric (dtype {raw.dtype}: {err})",
            "store numeric x/y coordinates (pixels or µm)",
        ) from None
    bad = ~np.isfinite(coords).all(axis=1)
    if bad.any():
        raise CommstInputError(
            path,
            f"{int(bad.sum())} of {adata.n_obs} spots have NaN or infinite coordinates "
            f"(e.g. {examples(adata.obs_names[bad])})",
            "remove these spots or fill in their coordinates",
        )
    if adata.n_obs > 1 and np.all(coords == coords[0]):
        raise CommstInputError(
            path,
            f"all {adata.n_obs} spots have the same coordinates ({coords[0, 0]:g}, {coords[0, 1]:g})",
            "store each spot's own position (for Visium: pxl_col/pxl_row of tissue_positions.csv)",
        )
    n_dup = int(pd.DataFrame(coords).duplicated().sum())
    if n_dup:
        logger.warning("%s: %d spots share their coordinates with another spot", path, n_dup)
