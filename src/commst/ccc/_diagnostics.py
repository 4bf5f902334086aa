"""What imputation did to the communication calls: driving spots and the data as measured.

- :func:`driver_status`: whether each pair's ligand and receptor were measured, imputed or
  guarded in the spots that drive its score.
- :func:`measured_view` and :func:`compare_measured`: the same test on the spatial data as
  measured (the LR genes it has), beside the imputed result; pairs significant only after
  imputation are marked.

The Moran's I inflation check of the measured LR genes is in :mod:`._moran`.
"""

from __future__ import annotations

import logging

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._constants import Keys, subunits
from ..pp import target_sum_of
from ._liana import usable_pairs
from ._significance import Entities, _dense, statistic_weights, unit_z

logger = logging.getLogger(__name__)

#: Share of the spots with the largest local contribution that drive a pair's score.
DRIVER_SHARE = 0.1
#: A gene is guarded / measured in a pair's driving spots when it is so in at least this share.
STATUS_SHARE = 0.5


def local_contributions(
    adata: ad.AnnData, pairs: pd.DataFrame, *, connectivity_key: str = Keys.obsp.spatial_connectivities
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
    measured_key: str = Keys.var.measured_in_spatial,
    guard_layer: str = Keys.layers.guarded,
    observed_layer: str = Keys.layers.observed,
    connectivity_key: str = Keys.obsp.spatial_connectivities,
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


def measured_view(
    spatial: ad.AnnData, imputed: ad.AnnData, *, labels_key: str = Keys.obs.matched_cell_type
) -> ad.AnnData:
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
    ``X`` is normalised by and stays right when the genes are subset), ``uns['commst']
    ['target_sum']``, without an uncertainty layer: measured values are not redrawn.
    """
    missing = imputed.obs_names.difference(spatial.obs_names)
    if len(missing):
        raise ValueError(f"{len(missing)} imputed spots are not in the spatial data (e.g. {list(missing[:3])})")
    view = spatial[imputed.obs_names]
    out = ad.AnnData(
        X=view.X.copy(),
        obs=pd.DataFrame(index=imputed.obs_names.copy()),
        var=pd.DataFrame(index=view.var_names.copy()),
        obsm={Keys.obsm.spatial: np.asarray(view.obsm[Keys.obsm.spatial], dtype=float).copy()},
    )
    if Keys.layers.counts in view.layers:
        out.layers[Keys.layers.counts] = view.layers[Keys.layers.counts].copy()
    counts = view.layers[Keys.layers.counts] if Keys.layers.counts in view.layers else None
    if Keys.obs.total_counts in view.obs:
        out.obs[Keys.obs.total_counts] = view.obs[Keys.obs.total_counts].to_numpy(dtype=np.float64)
    elif counts is not None:
        out.obs[Keys.obs.total_counts] = np.asarray(counts.sum(axis=1), dtype=np.float64).ravel()
    if labels_key in imputed.obs:
        out.obs[labels_key] = imputed.obs[labels_key].to_numpy()
    out.uns[Keys.uns.commst] = {Keys.uns.target_sum: target_sum_of(spatial)}
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
    if Keys.var.measured_in_spatial not in imputed.var:
        return list(imputed.var_names)
    return list(imputed.var_names[imputed.var[Keys.var.measured_in_spatial].to_numpy(bool)])
