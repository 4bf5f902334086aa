"""Several imputation methods of one sample compared with the primary one."""

from __future__ import annotations

from collections.abc import Mapping

import anndata as ad
import numpy as np
import pandas as pd

from .._constants import Keys
from ._quality import quality_summary

#: Columns of :func:`compare_methods`' table, in order.
COMPARISON_COLUMNS = (
    "method",
    "primary",
    "heldout_genes",
    "heldout_pcc_counts",
    "heldout_pcc_lognorm",
    "knn_pcc_counts",
    "knn_pcc_lognorm",
    "label_agreement",
    "top_pairs_shared",
    "n_top_pairs",
    "n_significant",
    "lr_genes_compared",
    "lr_gene_corr_lognorm",
    "lr_gene_corr_counts",
)


def _dense(x) -> np.ndarray:
    return np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=np.float64)


def gene_correlations(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each column of ``a`` with the same column of ``b`` (NaN where one is constant)."""
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    denom = np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (a * b).sum(axis=0) / np.where(denom > 0, denom, 1.0), np.nan)


def per_gene_agreement(imputed: ad.AnnData, primary: ad.AnnData, *, layer: str | None = None) -> pd.Series:
    """Per LR gene, the Pearson correlation across shared spots of two methods' imputed values.

    ``layer=None`` compares ``X`` (log-normalised); ``layer="imputed_counts"`` the counts.
    """
    spots = imputed.obs_names.intersection(primary.obs_names, sort=False)
    genes = imputed.var_names.intersection(primary.var_names, sort=False)
    a, b = imputed[spots, genes], primary[spots, genes]
    values = [_dense(x.X if layer is None else x.layers[layer]) for x in (a, b)]
    return pd.Series(gene_correlations(*values), index=genes, name="pearson")


def _median(values: pd.Series) -> float:
    values = pd.to_numeric(values, errors="coerce").dropna()
    return float(values.median()) if len(values) else np.nan


def _top(bivariate: pd.DataFrame, n_top: int) -> list[str]:
    order = bivariate.sort_values("global_score", ascending=False, kind="stable")
    return list(order["interaction"].astype(str).head(n_top))


def compare_methods(
    imputed: Mapping[str, ad.AnnData],
    quality: Mapping[str, pd.DataFrame],
    bivariate: Mapping[str, pd.DataFrame],
    *,
    primary: str,
    n_top: int = 20,
) -> pd.DataFrame:
    """One row per method: its built-in held-out check and its agreement with the primary method.

    Parameters
    ----------
    imputed
        Method name → its imputed AnnData (``results/{sample}/{method}/imputed.h5ad``).
    quality
        Method name → its built-in held-out check (``quality.tsv``: ``pcc_counts``,
        ``pcc_lognorm`` and, for commst, ``baseline_pcc_counts``/``baseline_pcc_lognorm`` of knn
        on the same genes); an empty table where the method has none.
    bivariate
        Method name → its spatial LR pairs (``ccc/bivariate.tsv``: ``interaction``,
        ``global_score``, ``significant``).
    primary
        The method the others are compared with (``impute: method:``).
    n_top
        Spatial LR pairs by global score whose overlap with the primary's is counted.

    Returns
    -------
    A table with the columns of :data:`COMPARISON_COLUMNS`, the primary first: median held-out
    PCC of the method (NaN without a built-in check) and of knn on the same genes, on both
    scales; the share of shared spots whose ``obs['matched_cell_type']`` equals the primary's;
    how many of its top ``n_top`` pairs are among the primary's; its significant pairs; the
    median over LR genes of the per-gene correlation of its imputed values with the primary's
    (log-normalised ``X`` and ``layers['imputed_counts']``).
    """
    if primary not in imputed:
        raise ValueError(f"primary method {primary!r} is not among the compared ones {sorted(imputed)}")
    label = Keys.obs.matched_cell_type
    ref, ref_top = imputed[primary], _top(bivariate[primary], n_top)
    rows = []
    for method in [primary, *(m for m in imputed if m != primary)]:
        adata, check, pairs = imputed[method], quality[method], bivariate[method]
        spots = adata.obs_names.intersection(ref.obs_names, sort=False)
        if label in adata.obs and label in ref.obs and len(spots):
            agree = float(
                np.mean(
                    adata.obs.loc[spots, label].astype(str).to_numpy()
                    == ref.obs.loc[spots, label].astype(str).to_numpy()
                )
            )
        else:
            agree = np.nan
        lognorm = per_gene_agreement(adata, ref)
        counts = per_gene_agreement(adata, ref, layer=Keys.layers.imputed_counts)
        top = _top(pairs, n_top)
        held = quality_summary(check).set_index("scale")  # per-gene means over rounds, then medians (the verdict's)
        rows.append(
            {
                "method": method,
                "primary": method == primary,
                "heldout_genes": int(held["n_genes"].max()) if len(held) else 0,
                "heldout_pcc_counts": held["method"].get("counts", np.nan),
                "heldout_pcc_lognorm": held["method"].get("depth-free", np.nan),
                "knn_pcc_counts": held["baseline"].get("counts", np.nan),
                "knn_pcc_lognorm": held["baseline"].get("depth-free", np.nan),
                "label_agreement": agree,
                "top_pairs_shared": len(set(top) & set(ref_top)),
                "n_top_pairs": len(top),
                "n_significant": int(pairs["significant"].astype(bool).sum()) if "significant" in pairs else 0,
                "lr_genes_compared": int(lognorm.notna().sum()),
                "lr_gene_corr_lognorm": _median(lognorm),
                "lr_gene_corr_counts": _median(counts),
            }
        )
    return pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))


__all__ = ["COMPARISON_COLUMNS", "compare_methods", "gene_correlations", "per_gene_agreement"]
