"""Communication recovery: compare LIANA+ results on a method's output with those on the truth.

Inputs are the tables of :mod:`commst.ccc`: :func:`commst.ccc.spatial_bivariate` (one row per
LR pair with ``interaction``, ``global_score``, ``pvalue``) and
:func:`commst.ccc.celltype_communication` with ``rank_aggregate`` (one row per source,
target, ligand complex, receptor complex, with ``magnitude_rank``).

False positives are measured on two kinds of negatives:

- **decoy pairs** (:func:`decoy_pairs`): random gene pairs, not in the LR database, whose two
  genes are matched to a real pair's ligand and receptor on mean expression and sparsity;
  a decoy called significant is a false positive of the pipeline;
- **absent-ligand pairs** (:func:`absent_ligand_pairs`): real LR pairs whose ligand the
  truth does not express; a method that makes them significant invented the ligand.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import anndata as ad
import numpy as np
import pandas as pd

from commst._constants import entity_genes, subunits
from commst.benchmark.metrics import false_positive_rate, jaccard_top_k, pr_auc, spearman
from commst.pp import counts_matrix, target_sum_of

logger = logging.getLogger(__name__)


def _gene_stats(adata: ad.AnnData) -> pd.DataFrame:
    x = counts_matrix(adata)
    lib = np.asarray(x.sum(axis=1)).ravel()
    scale = np.divide(target_sum_of(adata), lib, out=np.zeros_like(lib, dtype=float), where=lib > 0)
    norm = x.multiply(scale[:, None]).tocsc()
    return pd.DataFrame(
        {
            "mean": np.log1p(np.asarray(norm.mean(axis=0)).ravel()),
            "detected": np.asarray((x > 0).mean(axis=0)).ravel(),
        },
        index=adata.var_names.astype(str),
    )


def decoy_pairs(
    adata: ad.AnnData,
    resource: pd.DataFrame,
    *,
    n_bins: int = 5,
    seed: int = 0,
) -> pd.DataFrame:
    """Random gene pairs matched on mean expression and sparsity to the real LR pairs.

    For every single-gene LR pair of ``resource`` whose ligand and receptor are in ``adata``,
    one decoy pair is drawn: a random non-LR gene from the same (mean, detection-rate)
    quantile bin as the ligand, and one from the receptor's bin. Bins are
    ``n_bins x n_bins`` quantiles of the log mean of counts per 10k and of the share of
    observations with a count; an empty bin falls back to the nearest genes in the
    same mean bin, then to any non-LR gene.

    Parameters
    ----------
    adata
        The truth data (raw counts in ``layers['counts']`` or ``X``).
    resource
        LR table with ``ligand`` and ``receptor`` columns (complexes ``_``-joined are skipped).
    n_bins
        Quantile bins per statistic.
    seed
        Seed of the :class:`numpy.random.Generator`.

    Returns
    -------
    Table with ``ligand``, ``receptor`` (the decoy genes) and ``matched_ligand``,
    ``matched_receptor`` (the real pair each decoy mimics), in LIANA resource format.
    """
    if not {"ligand", "receptor"} <= set(resource.columns):
        raise ValueError("resource needs 'ligand' and 'receptor' columns (LIANA format)")
    stats = _gene_stats(adata)
    lr_genes = entity_genes(resource["ligand"]) | entity_genes(resource["receptor"])
    stats["mean_bin"] = pd.qcut(stats["mean"].rank(method="first"), n_bins, labels=False)
    stats["det_bin"] = pd.qcut(stats["detected"].rank(method="first"), n_bins, labels=False)
    pool = stats[~stats.index.isin(lr_genes) & (stats["detected"] > 0)]
    if pool.empty:
        raise ValueError("no expressed non-LR gene to draw decoys from; the data hold only LR genes")
    rng = np.random.default_rng(seed)
    by_bin = pool.groupby(["mean_bin", "det_bin"]).groups
    by_mean = pool.groupby("mean_bin").groups

    def draw(gene: str) -> str:
        row = stats.loc[gene]
        cand = by_bin.get((row["mean_bin"], row["det_bin"]))
        if cand is None or len(cand) == 0:
            cand = by_mean.get(row["mean_bin"], pool.index)
        return str(rng.choice(np.asarray(cand)))

    real = resource[["ligand", "receptor"]].astype(str).drop_duplicates()
    real = real[
        ~real["ligand"].str.contains("_")
        & ~real["receptor"].str.contains("_")
        & real["ligand"].isin(stats.index)
        & real["receptor"].isin(stats.index)
    ]
    real_set = set(map(tuple, real.to_numpy()))
    rows = []
    for lig, rec in real.itertuples(index=False):
        d_l, d_r = draw(lig), draw(rec)
        if d_l != d_r and (d_l, d_r) not in real_set:
            rows.append((d_l, d_r, lig, rec))
    out = pd.DataFrame(rows, columns=["ligand", "receptor", "matched_ligand", "matched_receptor"])
    return out.drop_duplicates(subset=["ligand", "receptor"]).reset_index(drop=True)


def absent_ligand_pairs(truth: ad.AnnData, resource: pd.DataFrame, *, min_detected: float = 0.0) -> pd.DataFrame:
    """LR pairs whose ligand (any subunit) the truth does not express.

    Parameters
    ----------
    truth
        Truth data (raw counts).
    resource
        LR table with ``ligand`` and ``receptor`` columns.
    min_detected
        A ligand gene detected in at most this share of observations counts as absent.

    Returns
    -------
    The rows of ``resource`` whose ligand has a subunit absent from (or not measured in) the truth.
    """
    detected = _gene_stats(truth)["detected"]

    def absent(ligand: str) -> bool:
        return any(detected.get(g, 0.0) <= min_detected for g in subunits(ligand))

    return resource[resource["ligand"].astype(str).map(absent)].reset_index(drop=True)


def _interaction_key(table: pd.DataFrame) -> pd.Series:
    if "interaction" in table.columns:
        return table["interaction"].astype(str)
    return table["ligand"].astype(str) + "^" + table["receptor"].astype(str)


def bivariate_recovery(
    truth: pd.DataFrame,
    pred: pd.DataFrame,
    *,
    alpha: float = 0.05,
    decoys: Iterable[str] = (),
    absent: Iterable[str] = (),
) -> dict[str, float]:
    """Agreement of global bivariate scores (e.g. Moran's R) of a method with the truth.

    Parameters
    ----------
    truth, pred
        :func:`commst.ccc.spatial_bivariate` tables (``interaction`` or ``ligand``/``receptor``,
        ``global_score``, ``pvalue``).
    alpha
        A pair is significant with ``pvalue < alpha`` and a positive score.
    decoys, absent
        Interaction keys (``ligand^receptor``) of decoy pairs and of pairs whose ligand is
        absent in the truth; they are left out of Spearman and PR-AUC.

    Returns
    -------
    ``spearman`` (of scores over the truth's real pairs), ``pr_auc`` (truth-significant pairs
    ranked by the method's score), ``n_pairs``, ``n_truth_significant``, ``n_missing``
    (truth pairs LIANA dropped from the method's output, e.g. below its expression
    threshold: they count as score 0, not significant), ``decoy_fpr`` and
    ``absent_ligand_fpr`` (share called significant by the method among the negatives it
    scored; NaN if none).
    """
    for name, tab in (("truth", truth), ("prediction", pred)):
        if not {"global_score", "pvalue"} <= set(tab.columns):
            raise ValueError(f"{name} table lacks global_score/pvalue; pass commst.ccc.spatial_bivariate output")
    t = pd.DataFrame(
        {"score": truth["global_score"].to_numpy(), "p": truth["pvalue"].to_numpy()}, index=_interaction_key(truth)
    )
    p = pd.DataFrame(
        {"score": pred["global_score"].to_numpy(), "p": pred["pvalue"].to_numpy()}, index=_interaction_key(pred)
    )
    negatives = set(decoys) | set(absent)
    real_t = t[~t.index.isin(negatives)]
    real_p = p[~p.index.isin(negatives)]
    truth_sig = (real_t["p"] < alpha) & (real_t["score"] > 0)
    pred_sig = (p["p"] < alpha) & (p["score"] > 0)
    joined = real_t.join(real_p, how="left", lsuffix="_t", rsuffix="_p")
    n_missing = int(joined["score_p"].isna().sum())
    joined = joined.fillna({"score_p": 0.0, "p_p": 1.0})
    decoy_sig = pred_sig[pred_sig.index.isin(set(decoys))]
    absent_sig = pred_sig[pred_sig.index.isin(set(absent))]
    return {
        "spearman": spearman(joined["score_t"], joined["score_p"]),
        "pr_auc": pr_auc(truth_sig.reindex(joined.index).to_numpy(), joined["score_p"].to_numpy()),
        "n_pairs": float(len(joined)),
        "n_truth_significant": float(truth_sig.sum()),
        "n_missing": float(n_missing),
        "decoy_fpr": false_positive_rate(decoy_sig.to_numpy()),
        "absent_ligand_fpr": false_positive_rate(absent_sig.to_numpy()),
    }


CELLTYPE_KEY: tuple[str, ...] = ("source", "target", "ligand_complex", "receptor_complex")
"""Columns identifying one cell-type-level interaction in LIANA tables."""


def celltype_recovery(
    truth: pd.DataFrame,
    pred: pd.DataFrame,
    *,
    rank_col: str = "magnitude_rank",
    k: int = 50,
    key: Sequence[str] = CELLTYPE_KEY,
) -> dict[str, float]:
    """Agreement of LIANA rank_aggregate results of a method with the truth.

    Parameters
    ----------
    truth, pred
        :func:`commst.ccc.celltype_communication` tables on the same spot labels (or the
        reference, for the reference-agreement comparison).
    rank_col
        Rank column (lower = stronger), ``magnitude_rank`` by default.
    k
        Size of the top lists compared by Jaccard.
    key
        Columns identifying an interaction.

    Returns
    -------
    ``spearman`` of ranks over the truth's interactions (one missing from the method's output
    gets the worst rank, 1), ``jaccard_top_k`` of the top-``k`` interactions,
    ``n_interactions`` (in the truth) and ``n_missing``.
    """

    def ranks(tab: pd.DataFrame, name: str) -> pd.Series:
        missing = [c for c in (*key, rank_col) if c not in tab.columns]
        if missing:
            raise ValueError(f"{name} table lacks {missing}; pass LIANA rank_aggregate output")
        idx = pd.MultiIndex.from_frame(tab[list(key)].astype(str))
        return pd.Series(tab[rank_col].to_numpy(dtype=float), index=idx).groupby(level=list(range(len(key)))).min()

    t, p = ranks(truth, "truth"), ranks(pred, "prediction")
    p_on_t = p.reindex(t.index)
    return {
        "spearman": spearman(t, p_on_t.fillna(1.0)),
        "jaccard_top_k": jaccard_top_k(t, p, k=k, largest=False),
        "n_interactions": float(len(t)),
        "n_missing": float(p_on_t.isna().sum()),
    }
