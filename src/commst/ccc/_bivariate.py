"""Spatial bivariate LR scores: LIANA+'s global and local scores, tested by :mod:`._significance`.

:func:`spatial_bivariate` builds LIANA's Gaussian spatial graph, scores every usable LR pair
with LIANA's global bivariate metric (Moran's R by default) and a local metric (per-spot
scores), and tests each global score under the configured null
(:func:`commst.ccc.lr_significance`). Data that leave nothing to score (no LR pair with all its
genes measured, none expressed in enough spots) give an empty table with the same columns and a
warning, not an error.
"""

from __future__ import annotations

import functools
import logging

import anndata as ad
import liana as li
import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors

from .._constants import Keys
from .._errors import CommstInputError
from ._liana import CommstCCCError, liana_errors, probe_data, usable_pairs
from ._significance import DEFAULT_NULL, LABEL_NULLS, NULLS, lr_significance

logger = logging.getLogger(__name__)

#: Above this share of spots without a spatial neighbour, the kernel is wrong for the data.
MAX_ISOLATED_SPOTS = 0.5
#: LIANA's expression filter of bivariate scores: both entities non-zero in this share of spots.
NZ_PROP = 0.05
#: The first columns of a bivariate table, in order.
FIRST_COLUMNS = (
    "interaction",
    "ligand",
    "receptor",
    "global_metric",
    "global_score",
    "pvalue",
    "qvalue",
    "significant",
    "null",
)


def auto_bandwidth(adata: ad.AnnData, *, spatial_key: str = Keys.obsm.spatial) -> float:
    """Median distance from each spot to its nearest other spot.

    With LIANA's Gaussian kernel and the default cutoff of 0.1, this bandwidth connects a
    spot to neighbours up to about two spot spacings away, whatever the coordinate units.
    """
    coords = np.asarray(adata.obsm[spatial_key], dtype=float)
    dist, _ = NearestNeighbors(n_neighbors=2).fit(coords).kneighbors(coords)
    return float(np.median(dist[:, 1]))


def check_neighbourhood(
    adata: ad.AnnData, *, bandwidth: float, cutoff: float, configured: bool, path: str | None = None
) -> int:
    """Count spots the spatial kernel leaves without a neighbour (``obsp['spatial_connectivities']``).

    Returns
    -------
    The number of such spots (a warning names it when there are any).

    Raises
    ------
    CommstInputError
        More than :data:`MAX_ISOLATED_SPOTS` of the spots have no neighbour: the bandwidth does
        not fit the coordinates' units (the message gives the spot spacing to use instead).
    """
    conn = adata.obsp[Keys.obsp.spatial_connectivities]
    isolated = int((np.asarray((conn > 0).sum(axis=1)).ravel() == 0).sum())
    if not isolated:
        return 0
    spacing = auto_bandwidth(adata)
    source = "ccc.bandwidth" if configured else "the automatic bandwidth (median nearest-spot distance)"
    if isolated > MAX_ISOLATED_SPOTS * adata.n_obs:
        raise CommstInputError(
            path or "spatial data",
            f"{source} = {bandwidth:.4g} with ccc.cutoff = {cutoff:g} leaves {isolated} of {adata.n_obs} spots "
            f"without a spatial neighbour (median nearest-spot distance {spacing:.4g} in the coordinates' units)",
            f"set ccc.bandwidth to about {spacing:.4g} (it is in coordinate units, e.g. pixels or µm) or to "
            "null for the automatic choice, or lower ccc.cutoff",
        )
    logger.warning(
        "%s: %s = %.4g with ccc.cutoff = %g leaves %d of %d spots without a spatial neighbour; their "
        "local scores are 0",
        path or "spatial data",
        source,
        bandwidth,
        cutoff,
        isolated,
        adata.n_obs,
    )
    return isolated


def spatial_graph(
    adata: ad.AnnData,
    *,
    bandwidth: float | None = None,
    cutoff: float = 0.1,
    sample: str | None = None,
    path: str | None = None,
    step: str = "ccc_spatial",
) -> float:
    """Build LIANA's Gaussian spatial graph in ``obsp['spatial_connectivities']`` and check it.

    Parameters
    ----------
    adata
        Spots with ``obsm['spatial']``.
    bandwidth
        Kernel bandwidth in coordinate units; ``None`` uses :func:`auto_bandwidth`.
    cutoff
        Kernel weights below this are dropped.
    sample, path, step
        Named in warnings and errors.

    Returns
    -------
    The bandwidth used.

    Raises
    ------
    CommstInputError
        The bandwidth leaves most spots without a neighbour (:func:`check_neighbourhood`).
    CommstCCCError
        LIANA failed.
    """
    configured = bandwidth is not None
    if bandwidth is None:
        bandwidth = auto_bandwidth(adata)
    with liana_errors(f"{step} (LIANA spatial neighbours)", sample=sample):
        # liana's default of 100 neighbours fails on datasets of 100 spots or fewer
        li.ut.spatial_neighbors(adata, bandwidth=bandwidth, cutoff=cutoff, max_neighbours=min(100, adata.n_obs - 1))
    check_neighbourhood(adata, bandwidth=bandwidth, cutoff=cutoff, configured=configured, path=path)
    return float(bandwidth)


def _liana_scores(
    adata: ad.AnnData, resource: pd.DataFrame, *, bandwidth: float, local_name: str, global_name: str
) -> tuple[ad.AnnData, pd.DataFrame]:
    """LIANA's global and local bivariate scores (no LIANA permutations) over the graph in ``obsp``."""
    local = li.mt.bivariate(
        adata,
        resource=resource,
        local_name=local_name,
        global_name=global_name,
        n_perms=None,
        nz_prop=NZ_PROP,
        use_raw=False,
        verbose=False,
    )
    table = local.var.rename(columns={global_name: "global_score"})
    table = table.drop(columns=[c for c in table.columns if c.endswith("_pvals")])
    table = table.rename_axis("interaction").reset_index()
    table["global_metric"] = global_name
    table["bandwidth"] = bandwidth
    return local, table


@functools.cache
def _bivariate_columns(local_name: str, global_name: str) -> tuple[str, ...]:
    adata, resource = probe_data()
    li.ut.spatial_neighbors(adata, bandwidth=1.5, cutoff=0.1, max_neighbours=adata.n_obs - 1)
    _, table = _liana_scores(adata, resource, bandwidth=1.5, local_name=local_name, global_name=global_name)
    return tuple(_order(table.assign(pvalue=np.nan, qvalue=np.nan, significant=False, null="")).columns)


def _order(table: pd.DataFrame) -> pd.DataFrame:
    first = [c for c in FIRST_COLUMNS if c in table.columns]
    return table[first + [c for c in table.columns if c not in first]]


def empty_bivariate_table(local_name: str = "cosine", global_name: str = "morans") -> pd.DataFrame:
    """A bivariate table without rows, with the columns :func:`spatial_bivariate` gives."""
    return pd.DataFrame(columns=list(_bivariate_columns(local_name, global_name)))


def spatial_bivariate(
    adata: ad.AnnData,
    resource: pd.DataFrame,
    *,
    bandwidth: float | None = None,
    cutoff: float = 0.1,
    local_name: str = "cosine",
    global_name: str = "morans",
    null: str = DEFAULT_NULL,
    n_perms: int = 199,
    n_draws: int = 10,
    fdr: float = 0.05,
    labels_key: str | None = Keys.obs.matched_cell_type,
    uncertainty_layer: str | None = Keys.layers.uncertainty,
    seed: int = 0,
    sample: str | None = None,
    path: str | None = None,
    step: str = "ccc_spatial",
) -> tuple[ad.AnnData | None, pd.DataFrame]:
    """LIANA+ bivariate ligand–receptor scores over spatial neighbours, tested under ``null``.

    Parameters
    ----------
    adata
        Spots × genes with log-normalised ``X`` and ``obsm['spatial']``; ``obs[labels_key]``
        for the label nulls, ``layers[uncertainty_layer]`` (sd of ``X``) for the draw nulls.
        The spatial neighbour graph is written to ``obsp['spatial_connectivities']``.
    resource
        LR table with ``ligand`` and ``receptor`` columns (complexes ``_``-joined).
    bandwidth
        Gaussian kernel bandwidth in coordinate units; ``None`` uses :func:`auto_bandwidth`.
    cutoff
        Kernel weights below this are dropped.
    local_name, global_name
        LIANA local and global metrics (the global one is tested).
    null
        Null of the test (:data:`commst.ccc.NULLS`, see :func:`commst.ccc.lr_significance`).
    n_perms, n_draws, fdr
        Permutations, redraws of imputed values, false discovery rate of ``significant``.
    labels_key, uncertainty_layer
        Where the per-spot labels and the imputation's sd are; an absent uncertainty layer
        means no draws (measured data).
    seed
        Seed of draws and permutations.
    sample, path, step
        Named in warnings and errors.

    Returns
    -------
    ``(local_scores, table)``: LIANA's spots × interactions AnnData of local scores (``var``
    holds the table's columns, ``obsm['spatial']`` the coordinates) and a long table, one row
    per scored LR pair, sorted by score: ``interaction``, ``ligand``, ``receptor``,
    ``global_metric``, ``global_score``, ``pvalue``, ``qvalue`` (Benjamini–Hochberg over the
    table), ``significant`` (``qvalue < fdr`` and a positive score), ``null``, LIANA's
    ligand/receptor means and expressing shares, the mean and sd of the local scores and
    ``bandwidth``. With no LR pair to score the table is empty, with the same columns,
    ``local_scores`` is ``None`` and a warning says why.

    Raises
    ------
    CommstInputError
        The bandwidth leaves most spots without a neighbour (:func:`check_neighbourhood`); a
        label null on data without ``obs[labels_key]``.
    CommstCCCError
        LIANA failed.
    """
    if null not in NULLS:
        raise ValueError(f"unknown null {null!r}; choose one of {NULLS}")
    what = path or "spatial data"
    if null in LABEL_NULLS and (labels_key is None or labels_key not in adata.obs):
        raise CommstInputError(
            what,
            f"ccc.null_model = {null} permutes spots within their labels, but obs has no {labels_key!r} column",
            "impute with a method that labels spots (knn, commst), or set ccc.null_model: spots",
        )
    bandwidth = spatial_graph(adata, bandwidth=bandwidth, cutoff=cutoff, sample=sample, path=path, step=step)
    step = f"{step} (LIANA bivariate {local_name}/{global_name})"
    pairs = usable_pairs(resource, adata.var_names)
    empty = empty_bivariate_table(local_name, global_name)
    if pairs.empty:
        logger.warning(
            "%s: none of the %d LR pairs of the resource has all its genes among the %d genes here; "
            "the spatial communication table is empty",
            what,
            len(resource),
            adata.n_vars,
        )
        return None, empty
    try:
        with liana_errors(step, sample=sample):
            local, table = _liana_scores(
                adata, pairs, bandwidth=bandwidth, local_name=local_name, global_name=global_name
            )
    except CommstCCCError as err:
        if "No features with non-zero proportions" not in err.problem:
            raise
        logger.warning(
            "%s: none of the %d LR pairs with measured genes is expressed in enough spots (LIANA's nz_prop); "
            "the spatial communication table is empty",
            what,
            len(pairs),
        )
        return None, empty
    tested = lr_significance(
        adata,
        table,
        null=null,
        labels_key=labels_key,
        uncertainty_layer=uncertainty_layer,
        global_name=global_name,
        n_perms=n_perms,
        n_draws=n_draws,
        fdr=fdr,
        seed=seed,
    )
    for column in ("pvalue", "qvalue", "significant", "null"):
        table[column] = tested[column].to_numpy()
    table["significant"] = (table["qvalue"] < fdr) & (table["global_score"] > 0)
    table = _order(table).sort_values("global_score", ascending=False, kind="stable").reset_index(drop=True)
    local = local[:, table["interaction"].to_numpy()].copy()
    local.var = table.set_index("interaction")
    logger.info(
        "bivariate %s/%s: %d LR pairs, bandwidth %.3g, null %s: %d significant at FDR %g",
        local_name,
        global_name,
        len(table),
        bandwidth,
        null,
        int(table["significant"].sum()),
        fdr,
    )
    return local, table
