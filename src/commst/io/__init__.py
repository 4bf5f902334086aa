"""Readers for spatial and single-cell inputs.

:func:`read_spatial` dispatches on the sample sheet's ``spatial_format``:

``h5ad``
    AnnData file (:func:`read_h5ad_spatial`).
``visium``
    Space Ranger ``outs/`` folder (:func:`read_visium`).
``stereo_gem``
    Stereo-seq GEM / GEM.gz, binned by ``bin_size`` (:func:`read_stereo_gem`).
``csv``
    Counts table plus coordinates table (:func:`read_csv_spatial`).

Every reader returns raw counts as CSR float32 in ``X`` and ``layers['counts']``,
coordinates as float64 ``obsm['spatial']`` (n × 2), unique obs/var names, and
``uns['commst_input']`` (``path``, ``format`` and format details). Missing, unreadable or
malformed files raise :class:`commst.validate.CommstInputError` naming the file.
:func:`spatial_from_anndata` and :func:`reference_from_anndata` bring AnnData objects already in
memory into the same layout (what :func:`commst.tl.impute` does with its inputs).
"""

from __future__ import annotations

from .._errors import CommstInputError
from ._gem import read_stereo_gem
from ._h5ad import read_h5ad_spatial, read_reference, reference_from_anndata, spatial_from_anndata
from ._spatial import SPATIAL_FORMATS, read_spatial
from ._table import read_csv_spatial
from ._visium import read_visium

__all__ = [
    "SPATIAL_FORMATS",
    "CommstInputError",
    "read_csv_spatial",
    "read_h5ad_spatial",
    "read_reference",
    "read_spatial",
    "read_stereo_gem",
    "read_visium",
    "reference_from_anndata",
    "spatial_from_anndata",
]
