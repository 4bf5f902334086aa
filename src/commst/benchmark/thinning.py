"""Capture-thinning benchmark: impute from binomially thinned data, score against the unthinned truth.

Two scenarios (issue #5):

``thinned``
    The spatial counts of *all* genes are thinned with capture probability ``p``; the LR
    targets stay in the data at their thinned level (``raw`` then reports them as observed).
``removed``
    As ``thinned``, but the targets are removed from the spatial data, so methods must
    impute them from the input genes alone.

Scale of the comparison: the truth is ``log1p(counts / library_size × target_sum)``
(:func:`commst.pp.lognorm`) with the *unthinned* library sizes; a method's expected counts are
at the *thinned* spot depth, so they are log-normalised with the thinned library sizes. A
perfect method (one that recovers each spot's expression profile) scores perfectly, and
``raw`` at ``p < 1`` shows what capture loss alone does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from commst.benchmark.data import thin_counts
from commst.benchmark.heldout import ImputationMethod
from commst.benchmark.metrics import GENE_METRICS, gene_metrics
from commst.pp import counts_matrix, library_size, lognorm, target_sum_of

logger = logging.getLogger(__name__)

SCENARIOS: tuple[str, ...] = ("thinned", "removed")
"""Thinning scenarios."""

THINNING_COLUMNS: tuple[str, ...] = (
    "scenario",
    "p",
    "seed",
    "gene",
    "is_lr",
    *GENE_METRICS,
    "status",
    "runtime_s",
)
"""Columns of :func:`run_thinning`'s table."""


def run_thinning(
    spatial: ad.AnnData,
    reference: ad.AnnData,
    method: ImputationMethod,
    *,
    targets: Sequence[str],
    input_genes: Sequence[str],
    lr_genes: Sequence[str] = (),
    p_values: Sequence[float] = (0.5, 0.25, 0.1, 0.05),
    seeds: Sequence[int] = (0,),
    scenarios: Sequence[str] = SCENARIOS,
    method_params: Mapping[str, Any] | None = None,
    on_error: str = "record",
    verbose: bool = True,
) -> pd.DataFrame:
    """Score a method on binomially thinned spatial data against the unthinned truth.

    Parameters
    ----------
    spatial
        Spots x genes with raw counts (``layers['counts']`` or ``X``) and ``obsm['spatial']``:
        the higher-capture truth.
    reference
        Cells x genes with raw counts and ``obs['cell_type']``.
    method
        Imputation function with the common signature.
    targets
        Genes to impute and score (e.g. the LR targets); must be measured in ``spatial``.
    input_genes
        Genes the method may use as input (measured in both, disjoint from ``targets``).
    lr_genes
        Genes flagged ``is_lr`` in the output.
    p_values
        Capture probabilities.
    seeds
        Thinning seeds (also passed to the method).
    scenarios
        Any of ``"thinned"`` and ``"removed"``.
    method_params
        Extra keyword arguments for ``method``.
    on_error
        ``"record"`` (failed runs get NaN metrics and ``status = "failed"``) or ``"raise"``.
    verbose
        Show a progress bar.

    Returns
    -------
    Long table with columns ``scenario, p, seed, gene, is_lr, pcc, ssim, rmse, js, status,
    runtime_s``.
    """
    targets, input_genes = [str(g) for g in targets], [str(g) for g in input_genes]
    bad = [s for s in scenarios if s not in SCENARIOS]
    if bad:
        raise ValueError(f"unknown thinning scenario(s) {bad}; choose from {SCENARIOS}")
    if on_error not in ("record", "raise"):
        raise ValueError(f"on_error must be 'record' or 'raise', got {on_error!r}")
    missing = [g for g in targets if g not in spatial.var_names]
    if missing:
        raise ValueError(
            f"{len(missing)} targets are not measured in the spatial data (e.g. {missing[:3]}); "
            "thinning needs a measured truth, pass targets present in spatial.var_names"
        )
    overlap = set(targets) & set(input_genes)
    if overlap:
        raise ValueError(f"targets and input_genes overlap ({sorted(overlap)[:3]} ...); inputs exclude targets")
    lr = set(map(str, lr_genes))
    target_sum = target_sum_of(spatial)
    truth = lognorm(counts_matrix(spatial[:, targets]).toarray(), library_size(spatial), target_sum=target_sum)
    params = dict(method_params or {})
    name = getattr(method, "__name__", str(method))
    runs = [(p, s) for p in p_values for s in seeds]
    tables = []
    for p, seed in tqdm(runs, desc=f"thinning {name}", disable=not verbose):
        thinned = thin_counts(spatial, p, seed=seed)
        thinned_lib = library_size(thinned)
        for scenario in scenarios:
            data = thinned
            if scenario == "removed":
                data = thinned[:, [g for g in thinned.var_names if g not in set(targets)]].copy()
            start = time.perf_counter()
            try:
                res = method(data, reference, targets=targets, input_genes=input_genes, seed=seed, **params)
                pred = pd.DataFrame(res.counts, columns=res.targets)[targets].to_numpy()
                tab = gene_metrics(truth, lognorm(pred, thinned_lib, target_sum=target_sum), genes=targets)
                tab["status"] = "ok"
            except Exception:
                if on_error == "raise":
                    raise
                logger.exception("%s failed at p=%s seed=%s (%s); recorded as failed", name, p, seed, scenario)
                tab = pd.DataFrame({"gene": targets, **{m: np.nan for m in GENE_METRICS}})
                tab["status"] = "failed"
            tab["runtime_s"] = time.perf_counter() - start
            tab["scenario"], tab["p"], tab["seed"] = scenario, float(p), int(seed)
            tab["is_lr"] = tab["gene"].isin(lr)
            tables.append(tab)
    return pd.concat(tables, ignore_index=True)[list(THINNING_COLUMNS)]
