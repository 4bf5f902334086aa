"""Spatial maps of spots: imputed genes and per-spot values, drawn with squidpy without an image.

Every map is drawn by :func:`spot_map` in one orientation whatever the input format: x to the
right, y **down**, as rows of a tissue image (:func:`spatial_axes`). That is how both readers
store ``obsm['spatial']``: Visium as full-resolution pixel (column, row) of the H&E image, a
Stereo-seq GEM as the chip's DNB (x, y), registered to its ssDNA image in the same way
(Stereopy draws it with ``invert_y=True``). CSV and h5ad coordinates are drawn the same way: store
them with y growing downward (the scanpy/squidpy convention) to see the tissue as in its image.
No image is read or drawn (``uns['spatial']`` is never passed to the plot).
"""

from __future__ import annotations

from collections.abc import Sequence

import anndata as ad
import numpy as np
import pandas as pd
import squidpy as sq
from matplotlib.figure import Figure

from .._constants import Keys, subunits
from .._utils import spatial_axes


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
    fig = spot_map(imputed, color, ncols=min(4, len(color)))
    fig.suptitle("Imputed LR expression (log-normalised) and matched reference cell-type label")
    return fig


def spot_map(
    adata: ad.AnnData,
    color: Sequence[str],
    *,
    title: Sequence[str] | None = None,
    ncols: int = 4,
    cmap: str = "viridis",
) -> Figure:
    """One spatial scatter per entry of ``color`` (a gene of ``adata`` or an ``obs`` column).

    Drawn by :func:`squidpy.pl.spatial_scatter` on a copy holding only the spots' coordinates and
    the values to draw (no ``uns['spatial']``: never an image, never a scale factor), with
    ``shape=None``; every panel is then put in :func:`spatial_axes`' orientation.
    """
    color = list(color)
    genes = [c for c in color if c not in adata.obs and c in adata.var_names]
    columns = [c for c in color if c in adata.obs]
    lean = ad.AnnData(
        X=np.asarray(
            adata[:, genes].X.toarray() if hasattr(adata.X, "toarray") else adata[:, genes].X, dtype=np.float32
        ),
        obs=adata.obs[columns].copy(),
        var=pd.DataFrame(index=pd.Index(genes)),
    )
    lean.obsm[Keys.obsm.spatial] = np.asarray(adata.obsm[Keys.obsm.spatial], dtype=float)[:, :2]
    for column in columns:  # the categories' own colours, when the data carry them
        if f"{column}_colors" in adata.uns:
            lean.uns[f"{column}_colors"] = adata.uns[f"{column}_colors"]
    axes = sq.pl.spatial_scatter(
        lean,
        color=color,
        title=list(title) if title is not None else None,
        shape=None,
        img=False,
        library_id="",
        scale_factor=1.0,
        size=spot_size(lean.n_obs),
        ncols=min(ncols, len(color)),
        cmap=cmap,
        frameon=False,
        return_ax=True,
    )
    axes = list(np.ravel(axes)) if isinstance(axes, (list, tuple, np.ndarray)) else [axes]
    for ax in axes:
        spatial_axes(ax)
    return axes[0].figure


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
