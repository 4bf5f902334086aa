"""Figures for the report, drawn on a user's AnnData and tables.

The functions return figures; :func:`commst._utils.save_figure` writes them. The backend is the
caller's choice (the workflow sets ``MPLBACKEND=Agg``); nothing here switches it.
"""

from __future__ import annotations

from ._communication import (
    MAX_INCHES,
    celltype_dotplot,
    imputed_vs_measured,
    interaction_maps,
    moran_inflation,
    top_interactions,
)
from ._spatial import spatial_lr_genes, top_lr_genes

__all__ = [
    "MAX_INCHES",
    "celltype_dotplot",
    "imputed_vs_measured",
    "interaction_maps",
    "moran_inflation",
    "spatial_lr_genes",
    "top_interactions",
    "top_lr_genes",
]
