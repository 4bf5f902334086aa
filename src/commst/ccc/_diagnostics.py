"""What imputation did to the communication calls: driving spots, measured data, Moran's I.

- :func:`driver_status`: whether each pair's ligand and receptor were measured, imputed or
  guarded in the spots that drive its score.
- :func:`measured_view` and :func:`compare_measured`: the same test on the spatial data as
  measured (the LR genes it has), beside the imputed result; pairs significant only after
  imputation are marked.
- :func:`moran_inflation`: Moran's I of measured LR genes, observed (raw and noise-corrected)
  against imputed, with a rule that says when imputation made a gene more spatially structured
  than its measurement supports.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._liana import subunits, usable_pairs
from ._significance import Entities, _dense, statistic_weights, unit_z

logger = logging.getLogger(__name__)

#: Share of the spots with the largest local contribution that drive a pair's score.
DRIVER_SHARE = 0.1
#: A gene is guarded / measured in a pair's driving spots when it is so in at least this share.
STATUS_SHARE = 0.5
#: Moran's I margin of the inflation rule (:func:`moran_inflation`).
INFLATION_MARGIN = 0.1
#: Binomial split-halves of the noise-corrected Moran's I.
N_SPLITS = 5


def local_contributions(
    adata: ad.AnnData, pairs: pd.DataFrame, *, connectivity_key: str = "spatial_connectivities"
) -> np.ndarray:
    """Spots × pairs contributions ``z_r[i] (W z_l)[i]`` to each pair's global Moran's R.

    They sum (over spots) to the global score. Only spots where both the ligand neighbourhood
    and the receptor are above their mean count (LIANA's ``mask_negatives``: co-absence is no
    interaction); the others are 0.
    """
    pairs = pairs[["ligand", "receptor"]].astype(str).reset_index(drop=True)
    entities = Entities(pairs, pd.Index(adata.var_names.astype(str)))
    x = _dense(adata.X[:, entities.gene_columns]).astype(np.float64)
    weights, _ = statistic_weights(adata.obsp[connectivity_key], "morans")
    z_l = unit_z(entities.build(x, entities.ligands))
    z_r = unit_z(entities.build(x, entities.receptors))
    wz_l = np.asarray(weights @ z_l)[:, entities.l_pos]
    z_r = z_r[:, entities.r_pos]
    return np.where((wz_l > 0) & (z_r > 0), wz_l * z_r, 0.0)


def _layer(adata: ad.AnnData, name: str) -> np.ndarray | None:
    return _dense(adata.layers[name]) if name in adata.layers else None


def _row_normalised(connectivities: sp.spmatrix) -> sp.csr_matrix:
    w = sp.csr_matrix(connectivities, dtype=np.float64)
    totals = np.asarray(w.sum(axis=1)).ravel()
    return sp.diags(np.divide(1.0, totals, out=np.zeros_like(totals), where=totals > 0)) @ w


def driver_status(
    adata: ad.AnnData,
    table: pd.DataFrame,
    *,
    share: float = DRIVER_SHARE,
    measured_key: str = "measured_in_spatial",
    guard_layer: str = "guarded",
    observed_layer: str = "observed",
    connectivity_key: str = "spatial_connectivities",
) -> pd.DataFrame:
    """Measured / imputed / guarded status of each pair's ligand and receptor where it is driven.

    The driving spots of a pair are the ``share`` of all spots with the largest positive local
    contribution ``z_r (W z_l)`` (:func:`local_contributions`): the receptor in the spot, the
    ligand in its neighbourhood. So the receptor is looked at in the driving spots and the
    ligand in their neighbours (weighted as in the score). There an entity (a gene, or every
    subunit of a complex) is

    - ``guarded`` when the imputation guarded it (set it to 0: no matched reference cell
      expresses it; any subunit, for a complex) in at least half of the places looked at;
    - ``measured`` when the spatial data measured it (``var[measured_key]``) and detected it
      (``layers[observed_layer] > 0``, every subunit) in at least half of them;
    - ``imputed`` otherwise: the score rests on imputed values.

    Parameters
    ----------
    adata
        The imputed data with the spatial graph (:func:`commst.ccc.spatial_bivariate`).
    table
        Bivariate table (``ligand``, ``receptor``).
    share
        Share of spots that drive a pair.
    measured_key, guard_layer, observed_layer, connectivity_key
        Where the flags, layers and graph are (absent ones count as not measured / not guarded).

    Returns
    -------
    ``table`` with ``n_driver_spots``, ``ligand_status``, ``receptor_status``,
    ``ligand_guarded_share`` and ``receptor_guarded_share`` (share of the places looked at
    where the entity is guarded).
    """
    out = table.copy()
    columns = ("n_driver_spots", "ligand_status", "receptor_status", "ligand_guarded_share", "receptor_guarded_share")
    if out.empty:
        for column in columns:
            out[column] = pd.Series(dtype=float if "share" in column or column.startswith("n_") else object)
        return out
    contributions = local_contributions(adata, out, connectivity_key=connectivity_key)
    k = max(1, int(round(share * adata.n_obs)))
    genes = pd.Index(adata.var_names.astype(str))
    guard = _layer(adata, guard_layer)
    observed = _layer(adata, observed_layer)
    detected = None if observed is None else observed > 0
    measured = adata.var[measured_key].to_numpy(bool) if measured_key in adata.var else np.zeros(adata.n_vars, bool)
    around = _row_normalised(adata.obsp[connectivity_key])

    def shares(flags: np.ndarray | None, cols: np.ndarray, role: str, combine: str) -> np.ndarray:
        """Per spot: whether the entity is flagged there (receptor) or the flagged share of its neighbours (ligand)."""
        if flags is None:
            return np.zeros(adata.n_obs)
        sub = flags[:, cols].astype(bool)
        per_spot = (sub.any(axis=1) if combine == "any" else sub.all(axis=1)).astype(np.float64)
        return np.asarray(around @ per_spot).ravel() if role == "ligand" else per_spot

    cache: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
    result: dict[str, list] = {c: [] for c in columns}
    for j, (ligand, receptor) in enumerate(zip(out["ligand"].astype(str), out["receptor"].astype(str))):
        col = contributions[:, j]
        top = np.argsort(-col, kind="stable")[:k]
        drivers = top[col[top] > 0]
        result["n_driver_spots"].append(int(drivers.size))
        for role, entity in (("ligand", ligand), ("receptor", receptor)):
            cols = genes.get_indexer(subunits(entity))
            if (role, entity) not in cache:
                cache[(role, entity)] = (shares(guard, cols, role, "any"), shares(detected, cols, role, "all"))
            guarded_at, detected_at = cache[(role, entity)]
            guarded = float(guarded_at[drivers].mean()) if drivers.size else 0.0
            seen = bool(measured[cols].all()) and (
                observed is None or bool(drivers.size and detected_at[drivers].mean() >= STATUS_SHARE)
            )
            status = "guarded" if guarded >= STATUS_SHARE else ("measured" if seen else "imputed")
            result[f"{role}_status"].append(status)
            result[f"{role}_guarded_share"].append(guarded)
    for column, values in result.items():
        out[column] = values
    return out


def measured_view(spatial: ad.AnnData, imputed: ad.AnnData, *, labels_key: str = "matched_cell_type") -> ad.AnnData:
    """The spatial data as measured, on the imputed spots, with the imputed spots' labels.

    Parameters
    ----------
    spatial
        The prepared spatial data (log-normalised ``X``, ``layers['counts']``, ``obsm['spatial']``).
    imputed
        The imputed output of the same spots (``obs[labels_key]``).
    labels_key
        Label column carried over, so the measured test permutes within the same labels (same
        spots: no second label transfer).

    Returns
    -------
    Spots × measured genes AnnData (``X``, ``layers['counts']``, ``obsm['spatial']``,
    ``obs[labels_key]``, ``obs['total_counts']``: each spot's library over all its genes, which
    ``X`` is normalised by and stays right when the genes are subset), without an uncertainty
    layer: measured values are not redrawn.
    """
    missing = imputed.obs_names.difference(spatial.obs_names)
    if len(missing):
        raise ValueError(f"{len(missing)} imputed spots are not in the spatial data (e.g. {list(missing[:3])})")
    view = spatial[imputed.obs_names]
    out = ad.AnnData(
        X=view.X.copy(),
        obs=pd.DataFrame(index=imputed.obs_names.copy()),
        var=pd.DataFrame(index=view.var_names.copy()),
        obsm={"spatial": np.asarray(view.obsm["spatial"], dtype=float).copy()},
    )
    if "counts" in view.layers:
        out.layers["counts"] = view.layers["counts"].copy()
    counts = view.layers["counts"] if "counts" in view.layers else None
    if "total_counts" in view.obs:
        out.obs["total_counts"] = view.obs["total_counts"].to_numpy(dtype=np.float64)
    elif counts is not None:
        out.obs["total_counts"] = np.asarray(counts.sum(axis=1), dtype=np.float64).ravel()
    if labels_key in imputed.obs:
        out.obs[labels_key] = imputed.obs[labels_key].to_numpy()
    return out


def measured_pairs(table: pd.DataFrame, measured: ad.AnnData) -> pd.DataFrame:
    """The pairs of an imputed bivariate table whose genes the measured data all have."""
    return usable_pairs(table[["ligand", "receptor"]], measured.var_names)


def compare_measured(imputed_table: pd.DataFrame, measured_table: pd.DataFrame) -> pd.DataFrame:
    """The imputed result next to the same test on the data as measured.

    Parameters
    ----------
    imputed_table
        Bivariate table of the imputed data (``interaction``, ``global_score``, ``significant``).
    measured_table
        Bivariate table of the same test on the measured data (the pairs whose genes it has
        and expresses in enough spots; a pair missing from it is not testable there).

    Returns
    -------
    ``imputed_table`` with ``measured_score``, ``measured_qvalue``, ``measured_significant``,
    ``measured_testable`` and ``only_after_imputation`` (significant on the imputed data and
    not on the measured data, untestable there included).
    """
    m = measured_table.set_index("interaction")
    out = imputed_table.copy()
    key = out["interaction"]
    out["measured_score"] = key.map(m["global_score"]).astype(float)
    out["measured_qvalue"] = key.map(m["qvalue"]).astype(float)
    out["measured_significant"] = key.map(m["significant"].astype(bool)).eq(True)
    out["measured_testable"] = key.isin(m.index)
    out["only_after_imputation"] = out["significant"].astype(bool) & ~out["measured_significant"]
    return out


def measured_genes(imputed: ad.AnnData) -> list[str]:
    """The imputed genes the spatial data measured (``var['measured_in_spatial']``; all when absent)."""
    if "measured_in_spatial" not in imputed.var:
        return list(imputed.var_names)
    return list(imputed.var_names[imputed.var["measured_in_spatial"].to_numpy(bool)])


def _moran(z: np.ndarray, weights: sp.csr_matrix) -> np.ndarray:
    """Moran's I of unit-norm columns ``z`` with weights summing to the number of spots."""
    return (z * np.asarray(weights @ z)).sum(axis=0)


def split_half_moran(
    counts: np.ndarray,
    library: np.ndarray,
    weights: sp.csr_matrix,
    *,
    n_splits: int = N_SPLITS,
    target_sum: float = 1e4,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Noise-corrected Moran's I of count data from binomial split-halves.

    Each molecule goes to half A or half B with probability 1/2, so the halves carry
    independent sampling noise: their cross-Moran ``I(A, B)`` keeps only the signal's spatial
    covariance, their correlation ``corr(A, B)`` only the signal's share of the variance, and
    ``I(A, B) / corr(A, B)`` estimates the Moran's I the gene would have without sampling
    noise. A split whose halves correlate below 0.05 gives no estimate (no signal to correct);
    a gene with estimates from fewer than half of the splits gets NaN.

    Parameters
    ----------
    counts
        Spots × genes raw counts.
    library
        Each spot's library (total counts over all its genes); each half is log-normalised by
        half of it, as ``X`` is by the whole.
    weights
        Moran weights (summing to the number of spots).
    n_splits
        Random splits; the estimate is their mean.
    target_sum
        Library size of the log-normalisation.
    seed
        Seed of the splits.

    Returns
    -------
    ``(mean, sd)`` over the splits, per gene.
    """
    rng = np.random.default_rng(seed)
    counts = np.round(np.asarray(counts, dtype=np.float64))
    library = np.asarray(library, dtype=np.float64).ravel()
    scale = np.divide(target_sum, library / 2, out=np.zeros_like(library), where=library > 0)[:, None]
    estimates = []
    for _ in range(n_splits):
        a = rng.binomial(counts.astype(np.int64), 0.5).astype(np.float64)
        b = counts - a
        za, zb = unit_z(np.log1p(a * scale)), unit_z(np.log1p(b * scale))
        cross = 0.5 * ((za * np.asarray(weights @ zb)).sum(0) + (zb * np.asarray(weights @ za)).sum(0))
        corr = (za * zb).sum(0)
        estimates.append(np.divide(cross, corr, out=np.full_like(corr, np.nan), where=corr > 0.05))
    est = np.array(estimates)
    with np.errstate(all="ignore"):
        # a gene whose halves rarely correlate is too sparse for the correction: one lucky split is no estimate
        valid = np.isfinite(est).sum(axis=0) >= max(1, math.ceil(n_splits / 2))
        mean = np.full(est.shape[1], np.nan)
        sd = np.full(est.shape[1], np.nan)
        mean[valid] = np.nanmean(est[:, valid], axis=0)
        sd[valid] = np.nanstd(est[:, valid], axis=0)
    return mean, sd


def squidpy_moran(
    adata: ad.AnnData, genes: Sequence[str], *, connectivity_key: str = "spatial_connectivities"
) -> np.ndarray:
    """Moran's I of ``genes`` in ``X`` with squidpy over the graph in ``obsp`` (no row normalisation)."""
    import squidpy as sq

    table = sq.gr.spatial_autocorr(
        adata, connectivity_key=connectivity_key, genes=list(genes), mode="moran", transformation=False,
        n_perms=None, copy=True, show_progress_bar=False,
    )
    return table["I"].reindex(list(genes)).to_numpy(dtype=float)


def moran_inflation(
    measured: ad.AnnData,
    imputed: ad.AnnData,
    genes: Sequence[str] | None = None,
    *,
    margin: float = INFLATION_MARGIN,
    n_splits: int = N_SPLITS,
    connectivity_key: str = "spatial_connectivities",
    seed: int = 0,
) -> pd.DataFrame:
    """Moran's I of measured LR genes: observed, noise-corrected observed and imputed.

    Rule: a gene is ``inflated`` when its imputed Moran's I exceeds the noise-corrected
    observed one by more than ``max(margin, 2 sd)`` (sd over the split-halves,
    :func:`split_half_moran`); the bound is never below the observed I plus ``margin``, which
    is also the bound where the correction is undefined (too few informative splits). The
    noise-corrected value is what the measurement supports once sampling noise is removed, the
    most an honest denoiser can reach; an imputed value above it is spatial structure the
    imputation put there (e.g. cell-type layout copied from the reference).

    Parameters
    ----------
    measured
        The data as measured on the imputed spots (:func:`measured_view`): log-normalised
        ``X``, raw ``layers['counts']``, the spatial graph in ``obsp[connectivity_key]``.
    imputed
        The imputed data on the same spots, with the same graph.
    genes
        Genes to check; default the imputed genes the spatial data measured
        (``var['measured_in_spatial']``) and expressed in at least two spots.
    margin, n_splits, seed
        Rule margin, split-halves and their seed.
    connectivity_key
        ``obsp`` key of the spatial graph (of both objects).

    Returns
    -------
    One row per gene: ``gene``, ``moran_observed`` and ``moran_imputed`` (squidpy
    ``spatial_autocorr``), ``moran_observed_denoised``, ``moran_observed_denoised_sd``,
    ``bound`` and ``inflated``.
    """
    columns = ["gene", "moran_observed", "moran_observed_denoised", "moran_observed_denoised_sd", "moran_imputed",
               "bound", "inflated"]
    if genes is None:
        genes = [g for g in measured_genes(imputed) if g in measured.var_names]
    genes = [str(g) for g in genes]
    if genes:
        detected = (_dense(measured[:, genes].X) > 0).sum(axis=0)
        genes = [g for g, n in zip(genes, detected) if n >= 2]
    if not genes:
        return pd.DataFrame(columns=columns)
    sub_measured = measured[:, genes].copy()
    sub_imputed = imputed[:, genes].copy()
    observed = squidpy_moran(sub_measured, genes, connectivity_key=connectivity_key)
    imputed_i = squidpy_moran(sub_imputed, genes, connectivity_key=connectivity_key)
    weights, _ = statistic_weights(measured.obsp[connectivity_key], "morans")
    if "counts" not in measured.layers:
        raise ValueError("the measured data need raw counts in layers['counts'] for the split-half correction")
    counts = _dense(sub_measured.layers["counts"])
    if "total_counts" in measured.obs:  # the library X was normalised by (all genes, not only these)
        library = measured.obs["total_counts"].to_numpy(dtype=np.float64)
    else:
        library = np.asarray(measured.layers["counts"].sum(axis=1), dtype=np.float64).ravel()
    denoised, spread = split_half_moran(counts, library, weights, n_splits=n_splits, seed=seed)
    table = pd.DataFrame({
        "gene": genes, "moran_observed": observed, "moran_observed_denoised": denoised,
        "moran_observed_denoised_sd": spread, "moran_imputed": imputed_i,
    })
    # the corrected I can only raise the bound: a split-half ratio below the observed I is noise
    # (sampling noise shrinks I towards 0), so the observed I + margin is the floor
    bound = table["moran_observed_denoised"] + np.maximum(margin, 2 * table["moran_observed_denoised_sd"])
    table["bound"] = np.fmax(bound, table["moran_observed"] + margin)
    table["inflated"] = table["moran_imputed"] > table["bound"]
    return table[columns]
