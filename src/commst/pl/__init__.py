"""Figures for the report, drawn on a user's AnnData and tables.

The functions return figures; :func:`commst._utils.save_figure` writes them. The backend is the
caller's choice (the workflow sets ``MPLBACKEND=Agg``); nothing here switches it. Every spatial
map is drawn by :func:`spot_map` in one orientation, y down as in the tissue image, whatever the
input format (:func:`spatial_axes`), and never over an image. :func:`html_table` writes a table
as an HTML page for the report.
"""

from __future__ import annotations

from .._utils import spatial_axes
from ._communication import (
    MAX_INCHES,
    celltype_dotplot,
    imputed_vs_measured,
    interaction_maps,
    moran_inflation,
    top_interactions,
)
from ._comparison import method_comparison
from ._spatial import spatial_lr_genes, spot_map, top_lr_genes
from ._tables import html_table

__all__ = [
    "MAX_INCHES",
    "celltype_dotplot",
    "html_table",
    "imputed_vs_measured",
    "interaction_maps",
    "method_comparison",
    "moran_inflation",
    "spatial_axes",
    "spatial_lr_genes",
    "spot_map",
    "top_interactions",
    "top_lr_genes",
]
