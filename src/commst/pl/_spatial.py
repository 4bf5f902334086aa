"""Spatial maps of spots: imputed genes and per-spot values, drawn with squidpy without an image."""

from __future__ import annotations

from collections.abc import Sequence

import anndata as ad
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import squidpy as sq
from matplotlib.figure import Figure

from .._constants import Keys, subunits


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
    fig = spot_maps(imputed, color, ncols=min(4, len(color)))
    fig.suptitle("Imputed LR expression (log-normalised) and matched reference cell-type label")
    return fig


def spot_maps(
    adata: ad.AnnData, color: Sequence[str], *, ncols: int, cmap: str = "viridis", title: Sequence[str] | None = None
) -> Figure:
    """One squidpy spatial scatter per ``color`` key, drawn without an image (``shape=None``)."""
    sq.pl.spatial_scatter(
        adata,
        color=list(color),
        shape=None,
        size=spot_size(adata.n_obs),
        ncols=ncols,
        cmap=cmap,
        frameon=False,
        title=None if title is None else list(title),
        return_ax=False,
    )
    return plt.gcf()


def spot_size(n_obs: int) -> float:
    """Marker size of a spatial scatter with ``n_obs`` spots (about the same ink at any count)."""
    return max(2.0, 12000 / max(n_obs, 1))


def spot_panels(adata: ad.AnnData, values: dict[str, np.ndarray]) -> ad.AnnData:
    """An AnnData of named per-spot values on ``adata``'s spots, for one spatial scatter."""
    out = ad.AnnData(
        X=np.column_stack(list(values.values())).astype(np.float32),
        obs=pd.DataFrame(index=adata.obs_names.copy()),
        var=pd.DataFrame(index=pd.Index(list(values))),
    )
    out.obsm[Keys.obsm.spatial] = np.asarray(adata.obsm[Keys.obsm.spatial], dtype=float)
    return out
