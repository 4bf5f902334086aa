"""Benchmark metrics: per-gene accuracy (Li et al. 2022) and communication recovery.

This is the one metrics package every CommST benchmark uses: per-gene metrics in ``_genes``,
communication-recovery metrics in ``_recovery``.

Per-gene metrics follow the definitions of Li et al. 2022, *Nat Methods* 19, 662–670
("Benchmarking spatial and single-cell transcriptomics integration methods for transcript
distribution prediction and cell type deconvolution"), as implemented in their
``Benchmarking/GenesMetrics.py`` and ``AccuracyMetrics.ipynb``
(github QuKunLab/SpatialBenchmarking), column by column (one column = one gene, one row =
one spot):

``pcc``
    Pearson correlation of truth and prediction over spots (values as given).
``ssim``
    Structural similarity of the two spot vectors after each is divided by its maximum
    (``scale_max``): ``l * c * s`` with ``C1 = (0.01 L)^2``, ``C2 = (0.03 L)^2``,
    ``C3 = C2 / 2``, population moments and ``L = 1``, the dynamic range of max-scaled data.
``rmse``
    Root mean squared error of the two vectors after each is z-scored over spots
    (``scale_z_score``, population standard deviation).
``js``
    Jensen–Shannon divergence (natural log, range ``[0, ln 2]``) of the two vectors after each
    is divided by its sum (``scale_plus``), i.e. of the gene's distributions over spots.

The accuracy score (AS) ranks methods on each metric's mean over genes (PCC and SSIM: higher
is better; RMSE and JS: lower is better), divides the rank by the number of methods (best
gets 1) and averages the four.

Degenerate columns, which Li et al. leave to produce NaN, get their natural limit here so a
method that predicts a constant (e.g. all zeros) is scored rather than dropped:

- constant prediction: ``pcc = 0``; the z-scored prediction is all zeros (so ``rmse = 1``
  against a non-constant truth); an all-zero prediction is a uniform distribution for ``js``
  and all zeros for ``ssim``;
- constant truth: the gene carries no spatial signal, ``pcc`` is NaN (other metrics are
  still defined). Summaries use NaN-aware medians.

Li et al. pick ``L`` as one of the two columns' maxima (1 after max-scaling unless a column
is all zero); fixing ``L = 1`` is identical whenever both columns are non-zero and keeps
SSIM defined otherwise.
"""

from __future__ import annotations

from ._genes import (
    GENE_METRICS,
    HIGHER_IS_BETTER,
    accuracy_score,
    gene_metrics,
    js,
    pcc,
    rmse,
    ssim,
    summarise_gene_metrics,
)
from ._recovery import false_positive_rate, jaccard_top_k, pr_auc, spearman

__all__ = [
    "GENE_METRICS",
    "HIGHER_IS_BETTER",
    "accuracy_score",
    "false_positive_rate",
    "gene_metrics",
    "jaccard_top_k",
    "js",
    "pcc",
    "pr_auc",
    "rmse",
    "spearman",
    "ssim",
    "summarise_gene_metrics",
]
