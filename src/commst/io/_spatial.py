"""One entry point for every spatial format of the sample sheet."""

from __future__ import annotations

import logging

from anndata import AnnData

from .._errors import CommstInputError
from ._common import PathLike
from ._gem import read_stereo_gem
from ._h5ad import read_h5ad_spatial
from ._table import read_csv_spatial
from ._visium import read_visium

logger = logging.getLogger("commst.io")

#: Values of the sample sheet column ``spatial_format``.
SPATIAL_FORMATS = ("h5ad", "visium", "stereo_gem", "csv")


def _blank(value: object) -> bool:
    """Whether a sample sheet cell is empty (None, NaN or '')."""
    return value is None or value == "" or (isinstance(value, float) and value != value)


def read_spatial(
    path: PathLike,
    spatial_format: str,
    *,
    bin_size: int | None = None,
    coords: PathLike | None = None,
) -> AnnData:
    """Read spatial data in any supported format into the common layout.

    Parameters
    ----------
    path
        Input file or folder (sample sheet column ``spatial``).
    spatial_format
        ``"h5ad"`` (:func:`~commst.io.read_h5ad_spatial`), ``"visium"`` (Space Ranger
        ``outs/``, :func:`~commst.io.read_visium`), ``"stereo_gem"`` (GEM/GEM.gz,
        :func:`~commst.io.read_stereo_gem`) or ``"csv"`` (counts + coordinates tables,
        :func:`~commst.io.read_csv_spatial`).
    bin_size
        Bin edge in DNBs; required for ``stereo_gem``, ignored otherwise. Empty sample
        sheet cells (None, NaN, ``""``) count as not given.
    coords
        Coordinates table; required for ``csv``, ignored otherwise (empty cells as above).

    Returns
    -------
    AnnData with raw counts as CSR float32 in ``X`` and ``layers['counts']`` (separate
    copies), float64 ``obsm['spatial']`` (n × 2), unique obs/var names and
    ``uns['commst_input']`` with at least ``path`` and ``format``.

    Raises
    ------
    CommstInputError
        Unknown format, or anything the format's reader rejects.
    """
    bin_size = None if _blank(bin_size) else bin_size
    coords = None if _blank(coords) else coords
    if spatial_format not in SPATIAL_FORMATS:
        raise CommstInputError(
            path,
            f"unknown spatial_format {spatial_format!r}",
            f"set spatial_format in the sample sheet to one of {', '.join(SPATIAL_FORMATS)}",
        )
    if bin_size is not None and spatial_format != "stereo_gem":
        logger.warning("%s: bin_size=%s is ignored for spatial_format %s", path, bin_size, spatial_format)
    if coords is not None and spatial_format != "csv":
        logger.warning("%s: coords=%s is ignored for spatial_format %s", path, coords, spatial_format)
    if spatial_format == "h5ad":
        return read_h5ad_spatial(path)
    if spatial_format == "visium":
        return read_visium(path)
    if spatial_format == "stereo_gem":
        return read_stereo_gem(path, bin_size)
    return read_csv_spatial(path, coords)
