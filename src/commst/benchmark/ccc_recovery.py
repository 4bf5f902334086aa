"""Communication recovery: compare LIANA+ results on a method's output with those on the truth.

Inputs are the tables of :mod:`commst.ccc`: :func:`commst.ccc.spatial_bivariate` /
:func:`commst.ccc.lr_significance` (one row per LR pair with ``interaction``, ``global_score``,
``pvalue``; truth and method tested with the same null) and
:func:`commst.ccc.celltype_communication` with ``rank_aggregate`` (one row per source,
target, ligand complex, receptor complex, with ``magnitude_rank``).

False positives are measured on two kinds of negatives:

- **decoy pairs** (:func:`decoy_pairs`): random gene pairs, not in the LR database, whose two
  genes are matched to a real pair's ligand and receptor on mean expression and sparsity;
  a decoy called significant is a false positive of the pipeline;
- **cross decoys** (:func:`commst.ccc.cross_decoys`): a ligand gene × a receptor gene of the
  imputed LR targets that are partners in no pair of the resource; imputed like the real
  pairs, so they show what imputation alone makes co-localise;
- **absent-ligand pairs** (:func:`absent_ligand_pairs`): real LR pairs whose ligand the
  truth does not express; a method that makes them significant invented the ligand.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence

import anndata as ad
import numpy as np
import pandas as pd

from commst._constants import entity_genes, subunits
from commst.benchmark.metrics import false_positive_rate, jaccard_top_k, pr_auc, spearman
from commst.ccc import bh
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


def family_calls(table: pd.DataFrame, families: Mapping[str, Iterable[str]], *, alpha: float = 0.05) -> pd.Series:
    """Significance calls with Benjamini–Hochberg q-values computed within each family of pairs.

    Real pairs and each kind of negative control are tested as separate families, as a user
    would test the real pairs alone: a decoy is called when it would have been called among
    decoys only.

    Parameters
    ----------
    table
        ``interaction`` (or ``ligand``/``receptor``), ``global_score``, ``pvalue``.
    families
        Family name → interaction keys; a pair in no family is tested with the ``"real"``
        family (pairs not named as negatives are real).
    alpha
        FDR: called with ``q < alpha`` and a positive score.

    Returns
    -------
    Boolean series indexed by interaction.
    """
    key = _interaction_key(table).to_numpy()
    score = table["global_score"].to_numpy(dtype=float)
    p = table["pvalue"].to_numpy(dtype=float)
    member = {k: name for name, keys in families.items() if name != "real" for k in keys}
    kind = np.array([member.get(k, "real") for k in key])
    q = np.full(len(key), np.nan)
    for name in np.unique(kind):
        mask = kind == name
        q[mask] = bh(p[mask])
    return pd.Series((q < alpha) & (score > 0), index=key)


#: Metrics of :func:`bivariate_recovery` that depend on the scores only, not on the null.
SCORE_METRICS: tuple[str, ...] = ("spearman", "n_pairs", "n_missing")


def bivariate_recovery(
    truth: pd.DataFrame,
    pred: pd.DataFrame,
    *,
    alpha: float = 0.05,
    decoys: Iterable[str] = (),
    absent: Iterable[str] = (),
    cross: Iterable[str] = (),
) -> dict[str, float]:
    """Agreement of global bivariate scores (e.g. Moran's R) and their calls with the truth's.

    Truth and prediction must be tested with the same null. Calls are made with
    Benjamini–Hochberg q-values within each family (:func:`family_calls`): real pairs, matched
    decoys, cross decoys and absent-ligand pairs apart.

    Parameters
    ----------
    truth, pred
        Bivariate tables (``interaction`` or ``ligand``/``receptor``, ``global_score``,
        ``pvalue``), e.g. :func:`commst.ccc.spatial_bivariate` output.
    alpha
        FDR of the calls (``q < alpha`` and a positive score).
    decoys, absent, cross
        Interaction keys (``ligand^receptor``) of matched decoy pairs, of pairs whose ligand is
        absent in the truth and of cross decoys (:func:`commst.ccc.cross_decoys`); they are left
        out of Spearman, PR-AUC and recall.

    Returns
    -------
    ``spearman`` (of scores over the truth's real pairs), ``pr_auc`` (truth-significant pairs
    ranked by the method's score), ``n_pairs``, ``n_truth_significant``, ``n_significant``
    (real pairs the method calls), ``recall`` (share of the truth-significant real pairs the
    method calls; NaN when the truth calls none), ``n_missing`` (truth pairs absent from the
    method's output, e.g. below LIANA's expression threshold: score 0, not called),
    ``decoy_fpr``, ``cross_decoy_fpr`` and ``absent_ligand_fpr`` (share called among the
    negatives of each kind that the method scored; NaN if none).
    """
    for name, tab in (("truth", truth), ("prediction", pred)):
        if not {"global_score", "pvalue"} <= set(tab.columns):
            raise ValueError(f"{name} table lacks global_score/pvalue; pass commst.ccc.spatial_bivariate output")
    families = {"decoy": set(decoys), "absent": set(absent), "cross": set(cross)}
    negatives = set().union(*families.values())
    t_called, p_called = family_calls(truth, families, alpha=alpha), family_calls(pred, families, alpha=alpha)
    t = pd.Series(truth["global_score"].to_numpy(dtype=float), index=_interaction_key(truth))
    p = pd.Series(pred["global_score"].to_numpy(dtype=float), index=_interaction_key(pred))
    real_t = t[~t.index.isin(negatives)]
    truth_sig = t_called.reindex(real_t.index).fillna(False).astype(bool)
    joined = pd.DataFrame({"score_t": real_t, "score_p": p.reindex(real_t.index)})
    n_missing = int(joined["score_p"].isna().sum())
    joined["score_p"] = joined["score_p"].fillna(0.0)
    called = p_called.reindex(real_t.index).fillna(False).astype(bool)

    def rate(kind: str) -> float:
        return false_positive_rate(p_called[p_called.index.isin(families[kind])].to_numpy())

    return {
        "spearman": spearman(joined["score_t"], joined["score_p"]),
        "pr_auc": pr_auc(truth_sig.to_numpy(), joined["score_p"].to_numpy()),
        "n_pairs": float(len(joined)),
        "n_truth_significant": float(truth_sig.sum()),
        "n_significant": float(called.sum()),
        "recall": float(called[truth_sig].mean()) if truth_sig.any() else float("nan"),
        "n_missing": float(n_missing),
        "decoy_fpr": rate("decoy"),
        "cross_decoy_fpr": rate("cross"),
        "absent_ligand_fpr": rate("absent"),
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
