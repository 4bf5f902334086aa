"""Figures for the report, drawn on a user's AnnData and tables.

The functions return figures (or tables); :func:`commst._utils.save_figure` writes them. The
backend is the caller's choice (the workflow sets ``MPLBACKEND=Agg``); nothing here switches it.
Every figure of the workflow's report is drawn by one function here, on the output of
:func:`commst.tl.impute` (``results/{sample}/{method}/imputed.h5ad``) and the run's tables. Every
spatial map is drawn by :func:`spot_map` in one orientation, y down as in the tissue image,
whatever the input format (:func:`spatial_axes`), and never over an image. :func:`html_table`
writes a table as an HTML page for the report.
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
from ._maps import imputed_vs_observed, measured_lr_genes, uncertainty_maps
from ._overview import overview_table, priors_table, priors_used, run_device
from ._quality import heldout_quality, per_gene_quality, quality_summary, quality_verdict
from ._spatial import spatial_lr_genes, spot_map, top_lr_genes
from ._tables import html_table

__all__ = [
    "MAX_INCHES",
    "celltype_dotplot",
    "heldout_quality",
    "html_table",
    "imputed_vs_measured",
    "imputed_vs_observed",
    "interaction_maps",
    "method_comparison",
    "spatial_axes",
    "measured_lr_genes",
    "moran_inflation",
    "overview_table",
    "per_gene_quality",
    "priors_table",
    "priors_used",
    "quality_summary",
    "quality_verdict",
    "run_device",
    "spatial_lr_genes",
    "spot_map",
    "top_interactions",
    "top_lr_genes",
    "uncertainty_maps",
]
