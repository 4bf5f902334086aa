"""Figures of communication calls: top pairs, interaction maps, imputed vs measured, Moran's I inflation, dotplots."""

from __future__ import annotations

from typing import Any

import anndata as ad
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .._constants import subunits
from ._spatial import spot_map, spot_panels


def _significance_title(bivariate: pd.DataFrame) -> str:
    null = str(bivariate["null"].iloc[0]) if "null" in bivariate and len(bivariate) else "?"
    n_sig = int(bivariate["significant"].sum()) if "significant" in bivariate else 0
    return f"null {null}: {n_sig} of {len(bivariate)} pairs significant"


def top_interactions(
    bivariate: pd.DataFrame,
    spatial_celltype: pd.DataFrame,
    reference_celltype: pd.DataFrame,
    *,
    n_interactions: int = 20,
) -> Figure:
    """Top spatial LR pairs (global bivariate score, q-values) and spatial vs reference cell-type-level ranks.

    Significant pairs (``significant``) are dark, others light; a pair significant only after
    imputation (``only_after_imputation``) is hatched.
    """
    fig, (ax_bar, ax_cmp) = plt.subplots(1, 2, figsize=(13, max(4.0, 0.28 * n_interactions + 1)))
    top = bivariate.head(n_interactions).iloc[::-1]

    def flag(column: str) -> np.ndarray:
        return top[column].astype(bool).to_numpy() if column in top else np.zeros(len(top), bool)

    significant, only = flag("significant"), flag("only_after_imputation")
    colours = np.where(significant, "#3b0f70", "#c9c9d9")
    bars = ax_bar.barh(top["interaction"], top["global_score"], color=colours)
    for bar, hatched in zip(bars, only):
        if hatched:
            bar.set_hatch("///")
            bar.set_edgecolor("white")
    ax_bar.set_xlabel(f"global score ({top['global_metric'].iloc[0] if len(top) else ''})")
    ax_bar.set_title(
        f"Top {len(top)} spatial LR pairs by score\n{_significance_title(bivariate)} "
        "(dark = significant, hatched = only after imputation)",
        fontsize=9,
    )
    q = top["qvalue"] if "qvalue" in top else pd.Series(np.nan, index=top.index)
    ax_bar.bar_label(bars, labels=[f"q={v:.2g}" if np.isfinite(v) else "untested" for v in q], fontsize=7, padding=2)

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


def _entity_values(imputed: ad.AnnData, entity: str) -> np.ndarray:
    """Per-spot value of an LR entity: a gene, or the minimum over a complex's subunits."""
    genes = subunits(entity)
    x = imputed[:, genes].X
    x = x.toarray() if hasattr(x, "toarray") else np.asarray(x)
    return np.asarray(x, dtype=np.float32).min(axis=1)


def interaction_maps(local_scores: ad.AnnData, imputed: ad.AnnData, bivariate: pd.DataFrame, *, n: int = 4) -> Figure:
    """Per-spot maps of the top interactions: LIANA's local score beside the ligand and the receptor.

    The top ``n`` significant pairs by score; when none is significant, the top-scoring pairs,
    titled "not significant".
    """
    significant = bivariate[bivariate["significant"].astype(bool)] if "significant" in bivariate else bivariate.iloc[:0]
    chosen = (significant if len(significant) else bivariate).head(n)
    chosen = chosen[chosen["interaction"].isin(local_scores.var_names)]
    if chosen.empty:
        fig, ax = plt.subplots(figsize=(6, 2))
        ax.axis("off")
        ax.text(0.5, 0.5, "no LR pair was scored", ha="center", va="center")
        return fig
    values, titles = {}, []
    tag = "" if len(significant) else " (not significant)"
    for _, row in chosen.iterrows():
        inter = str(row["interaction"])
        local = local_scores[:, inter].X
        values[f"{inter} local"] = np.asarray(local.toarray() if hasattr(local, "toarray") else local).ravel()
        q = row.get("qvalue", np.nan)
        titles.append(f"{inter} local score{tag}\nq = {q:.2g}" if np.isfinite(q) else f"{inter} local score{tag}")
        for role in ("ligand", "receptor"):
            values[f"{inter} {role}"] = _entity_values(imputed, row[role])
            titles.append(f"{role} {row[role]} (imputed)")
    fig = spot_map(spot_panels(imputed, values), list(values), title=titles, ncols=3)
    heading = "Top significant interactions" if len(significant) else "Top-scoring interactions: none is significant"
    fig.suptitle(f"{heading} ({_significance_title(bivariate)}): local score, ligand, receptor")
    return fig


def imputed_vs_measured(bivariate: pd.DataFrame) -> Figure:
    """Global score of each pair on the imputed spots against the same test on the data as measured.

    ``bivariate`` is the imputed table with the measured comparison (``measured_score``,
    ``measured_significant``, ``measured_testable``, ``only_after_imputation``).
    """
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    testable = bivariate[bivariate["measured_testable"].astype(bool)]
    sig_i, sig_m = testable["significant"].astype(bool), testable["measured_significant"].astype(bool)
    groups = [
        ("significant in both", sig_i & sig_m, "#3b0f70"),
        ("only after imputation", sig_i & ~sig_m, "#de4968"),
        ("only as measured", ~sig_i & sig_m, "#1f9e89"),
        ("in neither", ~sig_i & ~sig_m, "#c9c9d9"),
    ]
    for label, mask, colour in groups[::-1]:
        sub = testable[mask]
        ax.scatter(
            sub["measured_score"],
            sub["global_score"],
            s=10,
            color=colour,
            label=f"{label} ({len(sub)})",
            rasterized=True,
        )
    if len(testable):
        lo = float(np.nanmin([testable["measured_score"].min(), testable["global_score"].min(), 0]))
        hi = float(np.nanmax([testable["measured_score"].max(), testable["global_score"].max(), 0.05]))
        ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8, ls="--")
    untestable = int((~bivariate["measured_testable"].astype(bool)).sum())
    only = int(bivariate["only_after_imputation"].astype(bool).sum())
    ax.set_xlabel("global score on the data as measured")
    ax.set_ylabel("global score on the imputed spots")
    ax.set_title(
        f"Imputed vs measured: {len(testable)} pairs testable on the measured data, {untestable} not\n"
        f"{only} pairs significant only after imputation ({_significance_title(bivariate)})",
        fontsize=9,
    )
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def moran_inflation(moran: pd.DataFrame, *, n_labels: int = 10) -> Figure:
    """Moran's I of measured LR genes: imputed against the measurement's noise-corrected value.

    Genes above the bound (``inflated``) are red and the largest excesses named; the dashed
    line is ``imputed = observed``.
    """
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    if moran.empty:
        ax.axis("off")
        ax.text(0.5, 0.5, "no measured LR gene to compare", ha="center", va="center")
        return fig
    x = moran["moran_observed_denoised"].fillna(moran["moran_observed"]).to_numpy(dtype=float)
    y = moran["moran_imputed"].to_numpy(dtype=float)
    flagged = moran["inflated"].astype(bool).to_numpy()
    ax.errorbar(
        x[~flagged],
        y[~flagged],
        xerr=moran["moran_observed_denoised_sd"].to_numpy(dtype=float)[~flagged],
        fmt="o",
        ms=3,
        color="#7f7f9f",
        ecolor="#d0d0e0",
        lw=0.6,
        label=f"within bound ({(~flagged).sum()})",
    )
    ax.scatter(x[flagged], y[flagged], s=14, color="#de4968", label=f"inflated ({flagged.sum()})", zorder=3)
    lo, hi = float(np.nanmin([x.min(), y.min(), 0])), float(np.nanmax([x.max(), y.max(), 0.2]))
    ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8, ls="--")
    excess = pd.Series(y - moran["bound"].to_numpy(dtype=float), index=moran["gene"])
    for gene in excess[flagged].sort_values(ascending=False).index[:n_labels]:
        i = int(np.flatnonzero(moran["gene"].to_numpy() == gene)[0])
        ax.annotate(gene, (x[i], y[i]), fontsize=7, xytext=(3, 2), textcoords="offset points")
    ax.set_xlabel("Moran's I observed, noise-corrected (split-half)")
    ax.set_ylabel("Moran's I imputed")
    verdict = (
        f"imputation inflated the spatial structure of {flagged.sum()} of {len(moran)} measured LR genes"
        if flagged.any()
        else f"no inflation flagged among {len(moran)} measured LR genes"
    )
    ax.set_title(
        f"{verdict}\n(inflated: imputed > corrected observed + max(0.1, 2 sd), at least observed + 0.1)", fontsize=9
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


#: Largest side of a plotnine figure (plotnine refuses to save above 25 inches).
MAX_INCHES = 24.0


def celltype_dotplot(table: pd.DataFrame, method: str, *, top_n: int = 20, title: str = "") -> Any:
    """LIANA's own dotplot (``li.pl.dotplot``) of a cell-type-level table: the ``top_n`` interactions.

    Colour is the method's magnitude score and size its specificity (LIANA's method metadata);
    for rank_aggregate both are ranks, smaller is stronger, so they are inverted.

    Returns
    -------
    A plotnine figure (``.save(path)``), or ``None`` when the table is empty.
    """
    import liana as li

    if table.empty:
        return None
    meta = getattr(li.mt, method)
    magnitude, specificity = meta.magnitude, meta.specificity
    rank = method == "rank_aggregate"
    colour = magnitude or specificity
    size = specificity or magnitude
    ascending = rank if colour == magnitude else False
    n_groups = max(table["source"].nunique(), table["target"].nunique())
    plot = li.pl.dotplot(
        liana_res=table,
        colour=colour,
        size=size,
        inverse_colour=rank,
        inverse_size=rank,
        top_n=top_n,
        orderby=colour,
        orderby_ascending=ascending,
        return_fig=True,
        figure_size=(min(max(10.0, 1.6 * n_groups + 4), MAX_INCHES), min(max(5.0, 0.25 * top_n + 3), MAX_INCHES)),
    )
    import plotnine as p9

    return (
        plot
        + p9.labs(title=title or f"{method}: top {top_n} interactions")
        + p9.theme(
            plot_title=p9.element_text(size=10),
            strip_text=p9.element_text(size=7),
            axis_text_x=p9.element_text(rotation=90, size=6),
            axis_text_y=p9.element_text(size=7),
        )
    )
