"""The methods of one sample compared: held-out quality and agreement with the primary method."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def _heldout_panel(ax, table: pd.DataFrame) -> None:
    bars = [(row.method, row.heldout_pcc_counts, row.heldout_pcc_lognorm) for row in table.itertuples()]
    primary = table[table["primary"]].iloc[0]
    if np.isfinite(primary["knn_pcc_counts"]) or np.isfinite(primary["knn_pcc_lognorm"]):
        bars.append(
            (f"knn on {primary['method']}'s\nheld-out genes", primary["knn_pcc_counts"], primary["knn_pcc_lognorm"])
        )
    x = np.arange(len(bars))
    for offset, scale, index in ((-0.2, "counts", 1), (0.2, "log-normalised", 2)):
        values = np.array([b[index] for b in bars], dtype=float)
        ax.bar(x + offset, np.nan_to_num(values), width=0.4, label=scale)
        for xi, value in zip(x, values):
            ax.text(
                xi + offset,
                max(np.nan_to_num(value), 0),
                "–" if np.isnan(value) else f"{value:.2f}",
                ha="center",
                va="bottom",
                fontsize=7,
            )
    ax.set_xticks(x, [b[0] for b in bars], fontsize=8)
    ax.axhline(0, color="black", lw=0.5)
    ax.set_ylabel("median PCC, held-out measured genes")
    ax.set_title("Built-in held-out check (– : the method has none)", fontsize=9)
    ax.legend(fontsize=7, frameon=False)


def _agreement_panel(ax, table: pd.DataFrame) -> None:
    others = table[~table["primary"]]
    primary = table[table["primary"]].iloc[0]["method"]
    measures = {
        "same matched label\n(share of spots)": others["label_agreement"].to_numpy(float),
        "top pairs shared\n(share of top)": (others["top_pairs_shared"] / others["n_top_pairs"].clip(lower=1)).to_numpy(
            float
        ),
        "LR gene correlation\n(median, log-norm.)": others["lr_gene_corr_lognorm"].to_numpy(float),
        "LR gene correlation\n(median, counts)": others["lr_gene_corr_counts"].to_numpy(float),
    }
    y = np.arange(len(measures))
    height = 0.8 / max(len(others), 1)
    for i, method in enumerate(others["method"]):
        values = np.array([v[i] for v in measures.values()])
        ax.barh(y + i * height, np.nan_to_num(values), height=height, label=method)
        for yi, value in zip(y, values):
            label = "–" if np.isnan(value) else f"{value:.2f}"
            ax.text(max(np.nan_to_num(value), 0) + 0.01, yi + i * height, label, va="center", fontsize=7)
    ax.set_yticks(y + height * (len(others) - 1) / 2, list(measures), fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(min(0.0, float(np.nanmin([np.nanmin(v) for v in measures.values()] + [0.0]))), 1.1)
    ax.axvline(0, color="black", lw=0.5)
    ax.set_title(f"Agreement with {primary}", fontsize=9)
    ax.legend(fontsize=7, frameon=False, loc="lower right")


def _per_gene_panel(ax, per_gene: Mapping[str, pd.Series], primary: str) -> None:
    bins = np.linspace(-1, 1, 41)
    for method, values in per_gene.items():
        values = pd.to_numeric(values, errors="coerce").dropna()
        ax.hist(
            values,
            bins=bins,
            histtype="step",
            lw=1.5,
            label=f"{method} ({len(values)} genes, median {values.median():.2f})",
        )
    ax.set_xlabel(f"per-gene Pearson r with {primary} across spots (log-normalised)")
    ax.set_ylabel("LR genes")
    ax.set_title("Per-gene agreement of the imputed values", fontsize=9)
    ax.legend(fontsize=7, frameon=False, loc="upper left")


def method_comparison(table: pd.DataFrame, per_gene: Mapping[str, pd.Series] | None = None) -> Figure:
    """The methods of a sample side by side (the table of :func:`commst.tl.compare_methods`).

    Left: median held-out PCC of each method's built-in check, counts and log-normalised, and of
    knn on the primary's held-out genes. Middle: each other method's agreement with the primary
    (matched labels, top spatial LR pairs, LR gene correlation). Right, when ``per_gene`` (method
    → per-gene correlation with the primary, :func:`commst.tl.per_gene_agreement`) is given: their
    distribution.
    """
    primary = str(table.loc[table["primary"], "method"].iloc[0])
    n = 3 if per_gene else 2
    fig, axes = plt.subplots(1, n, figsize=(5.2 * n, 4.2), layout="constrained")
    _heldout_panel(axes[0], table)
    if (~table["primary"]).any():
        _agreement_panel(axes[1], table)
    else:
        axes[1].axis("off")
        axes[1].text(0.5, 0.5, "one method only: nothing to compare", ha="center", va="center")
    if per_gene:
        _per_gene_panel(axes[2], per_gene, primary)
    fig.suptitle(f"Methods compared with the primary method {primary}")
    return fig
