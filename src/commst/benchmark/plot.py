"""Benchmark figures for the report: metric boxplots, recovery vs capture rate, spatial maps, scale.

Each function returns the :class:`matplotlib.figure.Figure` (the caller saves it, e.g. with
:func:`commst._utils.save_figure`, which writes atomically).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import anndata as ad
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from commst._constants import Keys
from commst._utils import spatial_axes

_LABELS = {"pcc": "PCC", "ssim": "SSIM", "rmse": "RMSE", "js": "JS"}


def plot_gene_metrics(
    table: pd.DataFrame,
    *,
    metrics: Sequence[str] = ("pcc", "ssim", "rmse", "js"),
    method_key: str = "method",
    lr_key: str = "is_lr",
    order: Sequence[str] | None = None,
) -> Figure:
    """Boxplots of per-gene metrics per method, LR genes next to non-LR genes.

    Parameters
    ----------
    table
        Per-gene table (``gene_metrics.tsv``): ``method_key``, ``lr_key`` and the metrics.
    metrics
        Metric columns, one panel each.
    method_key, lr_key
        Method column and boolean LR flag.
    order
        Method order on the x axis (default: by median PCC of LR genes, best first).

    Returns
    -------
    Figure with one panel per metric.
    """
    tab = table.assign(genes=np.where(table[lr_key].astype(bool), "LR", "non-LR"))
    if order is None:
        lr = tab[tab["genes"] == "LR"]
        order = list(lr.groupby(method_key)["pcc"].median().sort_values(ascending=False).index)
        order += [m for m in tab[method_key].unique() if m not in order]
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        sns.boxplot(
            data=tab,
            x=method_key,
            y=metric,
            hue="genes",
            hue_order=["LR", "non-LR"],
            order=order,
            ax=ax,
            fliersize=1,
            showfliers=False,
        )
        ax.set_ylabel(_LABELS.get(metric, metric))
        ax.set_xlabel("")
        ax.tick_params(axis="x", rotation=45)
        if ax is not axes[0][-1] and ax.get_legend() is not None:
            ax.get_legend().remove()
    fig.tight_layout()
    return fig


def plot_thinning(
    table: pd.DataFrame,
    *,
    metric: str = "pcc",
    method_key: str = "method",
    lr_only: bool = True,
) -> Figure:
    """Median metric of imputed genes against capture probability, per method and scenario.

    Parameters
    ----------
    table
        Thinning table (``thinning.tsv``): ``method_key``, ``scenario``, ``p``, ``seed``,
        ``is_lr`` and the metric.
    metric
        Metric column.
    method_key
        Method column.
    lr_only
        Only LR genes.

    Returns
    -------
    Figure with one panel per scenario; x = capture probability (log scale), error bars =
    spread over seeds.
    """
    tab = table[table["is_lr"].astype(bool)] if lr_only else table
    per_seed = tab.groupby([method_key, "scenario", "p", "seed"], observed=True)[metric].median().reset_index()
    scenarios = list(dict.fromkeys(tab["scenario"]))
    fig, axes = plt.subplots(1, len(scenarios), figsize=(4 * len(scenarios), 3.2), squeeze=False, sharey=True)
    for ax, scenario in zip(axes[0], scenarios):
        sns.lineplot(
            data=per_seed[per_seed["scenario"] == scenario],
            x="p",
            y=metric,
            hue=method_key,
            marker="o",
            errorbar=("pi", 100),
            ax=ax,
        )
        ax.set_xscale("log")
        ax.set_title(f"LR genes {scenario}" if lr_only else scenario)
        ax.set_xlabel("capture probability p")
        ax.set_ylabel(f"median {_LABELS.get(metric, metric)}")
    fig.tight_layout()
    return fig


def plot_spatial_genes(
    panels: Mapping[str, ad.AnnData],
    genes: Sequence[str],
    *,
    spatial_key: str = Keys.obsm.spatial,
    point_size: float = 6.0,
) -> Figure:
    """Spatial maps of a few genes: one row per gene, one column per dataset version.

    Parameters
    ----------
    panels
        Column title → spots x genes AnnData with log-normalised ``X`` and
        ``obsm[spatial_key]`` (e.g. truth, thinned, each method's output).
    genes
        Genes to show; a gene a panel lacks is left blank there.
    spatial_key
        Key of the coordinates in ``obsm``.
    point_size
        Marker size.

    Returns
    -------
    Figure of ``len(genes) x len(panels)`` maps; colours share one scale per gene.
    """
    names = list(panels)
    fig, axes = plt.subplots(len(genes), len(names), figsize=(2.4 * len(names), 2.4 * len(genes)), squeeze=False)
    for i, gene in enumerate(genes):
        values = {}
        for name in names:
            adata = panels[name]
            if gene in adata.var_names:
                x = adata[:, gene].X
                values[name] = np.asarray(x.toarray() if hasattr(x, "toarray") else x).ravel()
        vmax = max((float(np.quantile(v, 0.99)) for v in values.values()), default=1.0) or 1.0
        for j, name in enumerate(names):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            spatial_axes(ax)  # the orientation of every spatial map (commst.pl)
            if i == 0:
                ax.set_title(name)
            if j == 0:
                ax.set_ylabel(gene)
            if name not in values:
                ax.text(0.5, 0.5, "not available", ha="center", va="center", transform=ax.transAxes)
                continue
            xy = np.asarray(panels[name].obsm[spatial_key], dtype=float)
            ax.scatter(
                xy[:, 0], xy[:, 1], c=values[name], s=point_size, cmap="viridis", vmin=0, vmax=vmax, linewidths=0
            )
    fig.tight_layout()
    return fig


_FAILED_LABELS = {"oom": "OOM", "timeout": "timeout", "failed": "failed"}


def plot_scale(
    table: pd.DataFrame,
    *,
    time_limit_s: float | None = None,
    memory_limit_mb: float | None = None,
    target_s: float = 600.0,
    target_mb: float = 8192.0,
) -> Figure:
    """Train + impute time and peak memory against the number of spots, log-log (``scale.tsv``).

    Parameters
    ----------
    table
        ``scale.tsv`` (:data:`commst.benchmark.scale.SCALE_COLUMNS`).
    time_limit_s, memory_limit_mb
        Limits of the runs: a run killed past one is marked there (default: its own value).
    target_s, target_mb
        Targets drawn as dashed lines (issue #7: 10 minutes, 8 GB).

    Returns
    -------
    Figure with three panels. One colour per method; CPU runs solid with circles, GPU runs
    dash-dotted with squares. Left: time inside the method (train + impute, ``method_s``)
    as the line, the whole job (``wall_s``, with start-up and loading) dotted. Middle: peak
    RSS of the job's process tree. Right: each method's time over CommST's in the same run
    (``time_vs_commst``; above the line at 1: slower than CommST). A run that did not
    complete is a cross labelled ``OOM``, ``timeout`` or ``failed``: at the memory limit
    (middle) for ``OOM``, at the time limit (left) for ``timeout``, otherwise where it stopped.
    """
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    methods = sorted(table["method"].astype(str).unique())
    colours = {m: plt.get_cmap("tab10")(i % 10) for i, m in enumerate(methods)}
    style = {"cpu": ("-", "o"), "cuda": ("-.", "s")}
    for (method, device), grp in table.groupby(["method", "device"], sort=True):
        grp = grp.sort_values("n_spots")
        colour, (line, marker) = colours[str(method)], style.get(str(device), ("-", "^"))
        ok = grp[grp["status"] == "ok"]
        label = f"{method} ({device})"
        if len(ok):
            axes[0].plot(ok["n_spots"], ok["method_s"], line, marker=marker, color=colour, label=label)
            axes[0].plot(ok["n_spots"], ok["wall_s"], ":", color=colour, alpha=0.6, linewidth=1)
            axes[1].plot(ok["n_spots"], ok["peak_rss_mb"], line, marker=marker, color=colour, label=label)
            if "time_vs_commst" in ok and ok["time_vs_commst"].notna().any():
                axes[2].plot(ok["n_spots"], ok["time_vs_commst"], line, marker=marker, color=colour, label=label)
            label = None
        for row in grp[grp["status"] != "ok"].itertuples():
            text = _FAILED_LABELS.get(str(row.status), str(row.status))
            t_lim = time_limit_s if time_limit_s is not None else row.wall_s
            m_lim = memory_limit_mb if memory_limit_mb is not None else row.peak_rss_mb
            y_time = t_lim if row.status == "timeout" else row.wall_s
            y_mem = m_lim if row.status == "oom" else row.peak_rss_mb
            for ax, y in ((axes[0], y_time), (axes[1], y_mem)):
                if y is None or not np.isfinite(y) or y <= 0:
                    continue
                ax.plot(
                    [row.n_spots],
                    [y],
                    marker="x",
                    markersize=9,
                    markeredgewidth=2,
                    color=colour,
                    linestyle="",
                    label=label,
                )
                ax.annotate(
                    f"{method}: {text}",
                    (row.n_spots, y),
                    textcoords="offset points",
                    xytext=(5, 4),
                    fontsize=7,
                    color=colour,
                )
            label = None
    axes[0].axhline(target_s, linestyle="--", color="grey", linewidth=1, label=f"target {target_s / 60:g} min")
    axes[1].axhline(target_mb, linestyle="--", color="grey", linewidth=1, label=f"target {target_mb / 1024:g} GB")
    if time_limit_s is not None:
        axes[0].axhline(time_limit_s, linestyle=":", color="black", linewidth=0.8, label="time limit")
    if memory_limit_mb is not None:
        axes[1].axhline(memory_limit_mb, linestyle=":", color="black", linewidth=0.8, label="memory limit")
    axes[2].axhline(1.0, linestyle="--", color="grey", linewidth=1, label="as fast as CommST")
    panels = (
        (axes[0], "train + impute time (s); dotted: whole job"),
        (axes[1], "peak RSS (MB)"),
        (axes[2], "time / CommST's time, same run"),
    )
    for ax, ylabel in panels:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("spots (reference cells matched)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="major", alpha=0.3)
    for ax in axes:
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


__all__ = ["plot_gene_metrics", "plot_scale", "plot_spatial_genes", "plot_thinning"]
