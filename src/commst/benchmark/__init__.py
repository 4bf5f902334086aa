"""Benchmark of LR imputation: protocols, metrics, data manipulation, jobs and plots.

Modules
-------
:mod:`commst.benchmark.metrics`
    Per-gene PCC/SSIM/RMSE/JS and accuracy score (Li et al. 2022), their LR/non-LR summary,
    and CCC-recovery metrics (Spearman, PR-AUC, top-k Jaccard, false-positive rate).
:mod:`commst.benchmark.data`
    Binomial count thinning, cell-type-stratified split of a spatial dataset (bundled
    STARmap), LR-balanced gene folds.
:mod:`commst.benchmark.heldout`
    The held-out-gene protocol for any imputation method.
:mod:`commst.benchmark.thinning`
    Imputation from thinned data scored against the unthinned truth.
:mod:`commst.benchmark.ccc_recovery`
    LIANA+ results of a method compared with the truth; decoy and absent-ligand pairs.
:mod:`commst.benchmark.spec`
    A configured method (registered, a variant such as a CommST ablation, or test-only).
:mod:`commst.benchmark.jobs`, :mod:`commst.benchmark.ccc_truth`, :mod:`commst.benchmark.summary`
    What the benchmark rules run: one method on one sample in one scenario, the truth of the
    communication scenario once per sample, and the aggregation into ``summary.tsv``.
:mod:`commst.benchmark.plot`
    The benchmark's report figures.
:mod:`commst.benchmark.scale`
    The scale benchmark: synthetic pairs of growing size, measured runs, tables.

The methods compared are the package's own (:mod:`commst.tl.methods`); this package runs its
protocols on them, scores and plots them, and depends on :mod:`commst.tl`, never the reverse.
"""

from __future__ import annotations

from commst.benchmark.data import heldout_folds, load_starmap, split_spatial, thin_counts
from commst.benchmark.heldout import prepare_pair, run_heldout
from commst.benchmark.metrics import accuracy_score, gene_metrics, summarise_gene_metrics
from commst.benchmark.thinning import run_thinning

__all__ = [
    "accuracy_score",
    "gene_metrics",
    "heldout_folds",
    "load_starmap",
    "prepare_pair",
    "run_heldout",
    "run_thinning",
    "split_spatial",
    "summarise_gene_metrics",
    "thin_counts",
]
