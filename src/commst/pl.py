"""Figures for the report: spatial maps of imputed LR genes and communication summaries.

The functions return figures; :func:`commst._utils.save_figure` writes them. The backend is the
caller's choice (the workflow sets ``MPLBACKEND=Agg``).
"""

from __future__ import annotations

from collections.abc import Sequence

import anndata as ad
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import squidpy as sq
from matplotlib.figure import Figure

from ._constants import Keys, subunits


def top_lr_genes(bivariate: pd.DataFrame, imputed: ad.AnnData, n_genes: int) -> list[str]:
    """Subunit genes of the top bivariate pairs that are imputed, in order, at most ``n_genes``."""
    genes: list[str] = []
    for _, row in bivariate.iterrows():
        for complex_ in (row["ligand"], row["receptor"]):
            for gene in subunits(complex_):
                if gene in imputed.var_names and gene not in genes:
                    genes.append(gene)
        if len(genes) >= n_genes:
            break
    return genes[:n_genes]


def spatial_lr_genes(
    imputed: ad.AnnData, genes: Sequence[str], *, label_key: str = Keys.obs.matched_cell_type
) -> Figure:
    """Spatial maps of imputed LR genes (log-normalised), beside the spots' matched cell-type label."""
    color = ([label_key] if label_key in imputed.obs else []) + list(genes)
    sq.pl.spatial_scatter(
        imputed,
        color=color,
        shape=None,
        size=max(2.0, 12000 / max(imputed.n_obs, 1)),
        ncols=min(4, len(color)),
        cmap="viridis",
        frameon=False,
        return_ax=False,
    )
    fig = plt.gcf()
    fig.suptitle("Imputed LR expression (log-normalised) and matched reference cell-type label")
    return fig


def top_interactions(
    bivariate: pd.DataFrame,
    spatial_celltype: pd.DataFrame,
    reference_celltype: pd.DataFrame,
    *,
    n_interactions: int = 20,
) -> Figure:
    """Top spatial LR pairs (global bivariate score) and spatial vs reference cell-type-level ranks."""
    fig, (ax_bar, ax_cmp) = plt.subplots(1, 2, figsize=(13, max(4.0, 0.28 * n_interactions + 1)))
    top = bivariate.head(n_interactions).iloc[::-1]
    pvals = np.clip(top["pvalue"].to_numpy(dtype=float), 1e-3, 1)
    bars = ax_bar.barh(top["interaction"], top["global_score"], color=plt.cm.magma(0.15 + 0.6 * pvals))
    ax_bar.set_xlabel(f"global score ({top['global_metric'].iloc[0] if len(top) else ''})")
    ax_bar.set_title(f"Top {len(top)} spatial LR pairs (darker = smaller p)")
    ax_bar.bar_label(
        bars, labels=[f"p={p:.2g}" if p > 0 else "p<1/n_perms" for p in top["pvalue"]], fontsize=7, padding=2
    )

    keys = ["source", "target", "ligand_complex", "receptor_complex"]
    score = "magnitude_rank" if "magnitude_rank" in spatial_celltype else spatial_celltype.columns[-1]
    merged = spatial_celltype[keys + [score]].merge(
        reference_celltype[keys + [score]], on=keys, suffixes=("_spatial", "_reference")
    )
    if len(merged):
        x = -np.log10(merged[f"{score}_reference"].clip(lower=1e-12))
        y = -np.log10(merged[f"{score}_spatial"].clip(lower=1e-12))
        ax_cmp.scatter(x, y, s=3, alpha=0.3, color="tab:blue", rasterized=True)
        rho = pd.Series(x.to_numpy()).corr(pd.Series(y.to_numpy()), method="spearman")
        ax_cmp.set_title(f"Cell-type level: spots (labels) vs reference\nSpearman {rho:.2f}, {len(merged)} shared rows")
    else:
        ax_cmp.set_title("no cell-type-level interaction shared by spots and reference")
    ax_cmp.set_xlabel(f"reference: -log10 {score}")
    ax_cmp.set_ylabel(f"imputed spots: -log10 {score}")
    fig.tight_layout()
    return fig
