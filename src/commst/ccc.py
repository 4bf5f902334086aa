"""Cell–cell communication with LIANA+: spatial bivariate scores and cell-type-level methods."""

from __future__ import annotations

import logging

import anndata as ad
import liana as li
import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors

logger = logging.getLogger(__name__)

#: Cell-type-level methods of LIANA+ (``li.mt.<name>``) selectable in the config.
CELLTYPE_METHODS = (
    "rank_aggregate",
    "cellphonedb",
    "cellchat",
    "connectome",
    "natmi",
    "logfc",
    "singlecellsignalr",
    "geometric_mean",
    "scseqcomm",
)


def auto_bandwidth(adata: ad.AnnData, *, spatial_key: str = "spatial") -> float:
    """Median distance from each spot to its nearest other spot.

    With LIANA's Gaussian kernel and the default cutoff of 0.1, this bandwidth connects a
    spot to neighbours up to about two spot spacings away, whatever the coordinate units.
    """
    coords = np.asarray(adata.obsm[spatial_key], dtype=float)
    dist, _ = NearestNeighbors(n_neighbors=2).fit(coords).kneighbors(coords)
    return float(np.median(dist[:, 1]))


def spatial_bivariate(
    adata: ad.AnnData,
    resource: pd.DataFrame,
    *,
    bandwidth: float | None = None,
    cutoff: float = 0.1,
    local_name: str = "cosine",
    global_name: str = "morans",
    n_perms: int = 100,
    seed: int = 0,
) -> tuple[ad.AnnData, pd.DataFrame]:
    """LIANA+ bivariate ligand–receptor scores over spatial neighbours.

    Parameters
    ----------
    adata
        Spots × genes with log-normalised ``X`` and ``obsm['spatial']``. The spatial
        neighbour graph is written to ``obsp['spatial_connectivities']``.
    resource
        LR table with ``ligand`` and ``receptor`` columns (complexes ``_``-joined).
    bandwidth
        Gaussian kernel bandwidth in coordinate units; ``None`` uses :func:`auto_bandwidth`.
    cutoff
        Kernel weights below this are dropped.
    local_name, global_name
        LIANA local and global metrics.
    n_perms
        Permutations for p-values.
    seed
        Permutation seed.

    Returns
    -------
    ``(local_scores, table)``: the spots × interactions AnnData of local scores and a long
    table, one row per LR pair, with ``ligand``, ``receptor``, ``global_score``,
    ``pvalue`` and the ligand/receptor means and expressing shares, sorted by score.
    """
    if bandwidth is None:
        bandwidth = auto_bandwidth(adata)
    # liana's default of 100 neighbours fails on datasets of 100 spots or fewer
    li.ut.spatial_neighbors(adata, bandwidth=bandwidth, cutoff=cutoff, max_neighbours=min(100, adata.n_obs - 1))
    local = li.mt.bivariate(
        adata,
        resource=resource,
        local_name=local_name,
        global_name=global_name,
        n_perms=n_perms,
        seed=seed,
        use_raw=False,
        verbose=False,
    )
    table = local.var.rename(columns={global_name: "global_score", f"{global_name}_pvals": "pvalue"})
    table = table.rename_axis("interaction").reset_index()
    table["global_metric"] = global_name
    table["bandwidth"] = bandwidth
    first = ["interaction", "ligand", "receptor", "global_metric", "global_score", "pvalue"]
    table = table[first + [c for c in table.columns if c not in first]]
    table = table.sort_values("global_score", ascending=False, kind="stable").reset_index(drop=True)
    logger.info("bivariate %s/%s: %d LR pairs, bandwidth %.3g", local_name, global_name, len(table), bandwidth)
    return local, table


def celltype_communication(
    adata: ad.AnnData,
    resource: pd.DataFrame,
    *,
    groupby: str,
    method: str = "rank_aggregate",
    expr_prop: float = 0.1,
    min_cells: int = 5,
    n_perms: int = 100,
    seed: int = 0,
) -> pd.DataFrame:
    """Run a LIANA+ cell-type-level method and return its result table.

    Parameters
    ----------
    adata
        Observations × genes with log-normalised ``X`` and ``obs[groupby]``.
    resource
        LR table with ``ligand`` and ``receptor`` columns.
    groupby
        Column of ``obs`` with the group of each observation (cell type, or for imputed
        spots their ``matched_cell_type`` label).
    method
        One of :data:`CELLTYPE_METHODS`.
    expr_prop, min_cells, n_perms, seed
        Passed to LIANA.

    Returns
    -------
    LIANA's long table (one row per source, target, ligand complex, receptor complex).
    """
    if method not in CELLTYPE_METHODS:
        raise ValueError(f"unknown LIANA method {method!r}; choose one of {CELLTYPE_METHODS}")
    kwargs = {"n_perms": n_perms, "seed": seed} if method in {"rank_aggregate", "cellphonedb", "cellchat", "geometric_mean"} else {}
    getattr(li.mt, method)(
        adata,
        groupby=groupby,
        resource=resource,
        expr_prop=expr_prop,
        min_cells=min_cells,
        use_raw=False,
        key_added="liana_res",
        verbose=False,
        **kwargs,
    )
    result = adata.uns.pop("liana_res")
    logger.info("%s over %s: %d rows", method, groupby, len(result))
    return result.reset_index(drop=True)


def celltype_tables(
    adata: ad.AnnData,
    resource: pd.DataFrame,
    *,
    groupby: str,
    methods: list[str],
    options: dict,
    seed: int = 0,
) -> dict[str, pd.DataFrame]:
    """Run several cell-type-level methods with the workflow's ``ccc:`` options.

    Returns
    -------
    Method name → LIANA result table (see :func:`celltype_communication`).
    """
    return {
        method: celltype_communication(
            adata,
            resource,
            groupby=groupby,
            method=method,
            expr_prop=options["expr_prop"],
            min_cells=options["min_cells"],
            n_perms=options["n_perms"],
            seed=seed,
        )
        for method in methods
    }
