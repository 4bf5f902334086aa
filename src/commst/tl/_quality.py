"""The run's built-in held-out check as a table: per held-out input gene PCC of the method and of knn
on the same genes (``results/{sample}/{method}/quality.tsv``, ``uns['commst']['method_info']['quality']``),
and its medians — the one definition the report's verdict and the method comparison both use."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

from ._selection import SCALE_NAMES as QUALITY_SCALES
from ._selection import method_info


def quality_frame(data: ad.AnnData | pd.DataFrame) -> pd.DataFrame:
    """The quality table of an imputed AnnData (``uns['commst']['method_info']['quality']``) or as given."""
    if isinstance(data, ad.AnnData):
        return pd.DataFrame(method_info(data).get("quality") or {})
    return data


def per_gene_quality(data: ad.AnnData | pd.DataFrame) -> pd.DataFrame:
    """Per held-out gene PCC, averaged over the mask rounds that hid it.

    Returns
    -------
    One row per gene (index): ``pcc_counts``, ``pcc_lognorm`` and, when the run scored the
    baseline, ``baseline_pcc_counts``, ``baseline_pcc_lognorm``. Empty without a quality table.
    """
    quality = quality_frame(data)
    if quality.empty or "gene" not in quality:
        return pd.DataFrame()
    columns = [c for c in quality.columns if c.startswith(("pcc_", "baseline_pcc_"))]
    return quality.groupby("gene")[columns].mean()


def quality_summary(data: ad.AnnData | pd.DataFrame) -> pd.DataFrame:
    """Median per-gene held-out PCC of the method and of the baseline, per scale.

    Returns
    -------
    One row per scale (``counts``, ``depth-free``): ``scale``, ``n_genes``, ``method``,
    ``baseline`` (NaN when not scored) and ``difference`` (method − baseline). Empty without a
    quality table.
    """
    genes = per_gene_quality(data)
    if genes.empty:
        return pd.DataFrame(columns=["scale", "n_genes", "method", "baseline", "difference"])
    rows = []
    for suffix, name in QUALITY_SCALES.items():
        ours = genes[f"pcc_{suffix}"]
        peer = genes.get(f"baseline_pcc_{suffix}")
        baseline = float(np.nanmedian(peer)) if peer is not None else np.nan
        method = float(np.nanmedian(ours))
        rows.append((name, int(ours.notna().sum()), method, baseline, method - baseline))
    return pd.DataFrame(rows, columns=["scale", "n_genes", "method", "baseline", "difference"])


__all__ = ["QUALITY_SCALES", "per_gene_quality", "quality_frame", "quality_summary"]
