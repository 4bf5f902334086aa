"""Benchmark of LR imputation: metrics, data manipulation, held-out genes and baselines.

Modules
-------
:mod:`commst.benchmark.metrics`
    Per-gene PCC/SSIM/RMSE/JS and accuracy score (Li et al. 2022); CCC-recovery metrics.
:mod:`commst.benchmark.data`
    Binomial count thinning, cell-type-stratified split of a spatial dataset, gene folds.
:mod:`commst.benchmark.heldout`
    The held-out-gene protocol for any imputation method.
:mod:`commst.benchmark.methods`
    Baseline imputation methods (``raw``, ``spage``, ``tangram``, ``gimvi``, ``hvg_ae``).
"""

from __future__ import annotations

from commst.benchmark import metrics

__all__ = ["metrics"]
