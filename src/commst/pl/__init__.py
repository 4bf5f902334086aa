"""Figures for the report, drawn on a user's AnnData and tables.

The functions return figures (or tables); :func:`commst._utils.save_figure` writes them. The
backend is the caller's choice (the workflow sets ``MPLBACKEND=Agg``); nothing here switches it.
Every figure of the workflow's report is drawn by one function here, on the output of
:func:`commst.tl.impute` (``results/{sample}/imputed.h5ad``) and the run's tables.
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
from ._maps import imputed_vs_observed, measured_lr_genes, uncertainty_maps
from ._overview import overview_table, priors_table, priors_used, run_device
from ._quality import heldout_quality, per_gene_quality, quality_summary, quality_verdict
from ._spatial import spatial_lr_genes, top_lr_genes
from ._tables import html_table

__all__ = [
    "MAX_INCHES",
    "celltype_dotplot",
    "heldout_quality",
    "html_table",
    "imputed_vs_measured",
    "imputed_vs_observed",
    "interaction_maps",
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
    "top_interactions",
    "top_lr_genes",
    "uncertainty_maps",
]
