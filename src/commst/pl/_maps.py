"""Spatial maps that show whether the imputation can be trusted: imputed beside observed for
measured LR genes, and the uncertainty and guard of the imputed values."""

from __future__ import annotations

from collections.abc import Sequence

import anndata as ad
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scipy.sparse as sp
from matplotlib.figure import Figure

from .._constants import Keys
from .._utils import pcc
from ._spatial import spot_map, spot_panels


def _dense(values: np.ndarray | sp.spmatrix) -> np.ndarray:
    return values.toarray() if sp.issparse(values) else np.asarray(values)


def measured_lr_genes(imputed: ad.AnnData, n: int | None = None) -> pd.DataFrame:
    """Imputed LR genes the spatial data also measured, with how well the imputation follows them.

    The imputation never reads these measurements: LR targets are not input genes
    (:func:`commst.pp.prepare`), so at a measured LR gene the imputed value is a held-out
    prediction and ``layers['observed']`` its truth.

    Parameters
    ----------
    imputed
        Output of :func:`commst.tl.impute` / ``results/{sample}/imputed.h5ad``.
    n
        Keep the ``n`` genes detected in most spots (all when ``None``).

    Returns
    -------
    One row per measured LR gene (index), sorted by ``detected`` (share of spots with an
    observed count): ``detected``, ``pcc`` (spots' observed log-normalised value against the
    imputed ``X``).
    """
    measured = imputed.var_names[imputed.var[Keys.var.measured_in_spatial].astype(bool).to_numpy()]
    if not len(measured):
        return pd.DataFrame(columns=["detected", "pcc"])
    sub = imputed[:, measured]
    observed = _dense(sub.layers[Keys.layers.observed])
    table = pd.DataFrame(
        {"detected": (observed > 0).mean(0), "pcc": pcc(observed, _dense(sub.X))}, index=pd.Index(measured)
    )
    table = table.sort_values(["detected", "pcc"], ascending=False)
    return table if n is None else table.head(n)


def imputed_vs_observed(imputed: ad.AnnData, genes: Sequence[str] | None = None, *, n: int = 4) -> Figure:
    """Per measured LR gene, the observed log-normalised map beside the imputed one.

    Parameters
    ----------
    imputed
        Output of :func:`commst.tl.impute` / ``results/{sample}/imputed.h5ad``.
    genes
        Measured LR genes to map (default: the ``n`` detected in most spots,
        :func:`measured_lr_genes`).
    n
        Genes mapped when ``genes`` is not given.

    Returns
    -------
    Pairs of panels (observed, imputed) per gene, each with its own colour scale, the PCC across
    spots in the imputed panel's title; a note panel when no LR gene was measured.
    """
    table = measured_lr_genes(imputed)
    if genes is None:
        genes = list(table.index[:n])
    if not len(genes):
        fig, ax = plt.subplots(figsize=(6, 1.5))
        ax.axis("off")
        ax.text(0, 0.5, "No imputed LR gene was measured by the spatial data: nothing to compare.", fontsize=10)
        return fig
    observed = _dense(imputed[:, list(genes)].layers[Keys.layers.observed])
    values = _dense(imputed[:, list(genes)].X)
    panels, titles = {}, []
    for i, gene in enumerate(genes):
        panels[f"{gene} observed"] = observed[:, i]
        panels[f"{gene} imputed"] = values[:, i]
        r = table["pcc"].get(gene, np.nan)
        titles += [f"{gene}: observed", f"{gene}: imputed (PCC {r:.2f})"]
    fig = spot_map(spot_panels(imputed, panels), list(panels), ncols=4, title=titles)
    fig.suptitle(
        "Measured LR genes: observed (log-normalised) beside the imputation, which never read them (held out); "
        f"median PCC over all {len(table)} measured LR genes {table['pcc'].median():.2f}"
    )
    return fig


def uncertainty_maps(imputed: ad.AnnData, genes: Sequence[str]) -> Figure:
    """Where the imputation is unsure or flagged: share of guarded targets per spot, and per gene
    its uncertainty (SD of ``X``) and predictive P(0) (or the guard flag when no P(0) is stored).

    Parameters
    ----------
    imputed
        Output of :func:`commst.tl.impute` / ``results/{sample}/imputed.h5ad`` with
        ``layers['uncertainty']`` and ``layers['guarded']``.
    genes
        Imputed genes to map (e.g. the top LR genes, :func:`commst.pl.top_lr_genes`).
    """
    genes = [g for g in genes if g in imputed.var_names]
    panels: dict[str, np.ndarray] = {}
    titles: list[str] = []
    if Keys.layers.guarded in imputed.layers:
        guarded = _dense(imputed.layers[Keys.layers.guarded]).astype(float)
        panels["guarded share"] = guarded.mean(1)
        titles.append(f"share of the {imputed.n_vars} targets guarded (all: {guarded.mean():.1%})")
    zero_layer = Keys.layers.p_zero if Keys.layers.p_zero in imputed.layers else Keys.layers.guarded
    for gene in genes:
        col = imputed[:, gene]
        if Keys.layers.uncertainty in imputed.layers:
            sd = _dense(col.layers[Keys.layers.uncertainty]).ravel().astype(float)
            top = float(np.nanpercentile(sd, 99)) if sd.size else 0.0
            panels[f"{gene} sd"] = np.minimum(sd, top)  # a few near-zero spots would set the scale
            titles.append(f"{gene}: uncertainty (SD of X, capped at p99)")
        if zero_layer in imputed.layers:
            panels[f"{gene} zero"] = _dense(col.layers[zero_layer]).ravel().astype(float)
            titles.append(f"{gene}: {'P(0)' if zero_layer == Keys.layers.p_zero else 'guarded'}")
    if not panels:
        fig, ax = plt.subplots(figsize=(6, 1.5))
        ax.axis("off")
        ax.text(0, 0.5, "This output has no uncertainty or guard layer.", fontsize=10)
        return fig
    fig = spot_map(spot_panels(imputed, panels), list(panels), ncols=min(3, len(panels)), cmap="magma", title=titles)
    fig.suptitle("Uncertainty and guard of the imputed values")
    return fig


__all__ = ["imputed_vs_observed", "measured_lr_genes", "uncertainty_maps"]
