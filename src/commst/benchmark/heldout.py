"""Held-out-gene benchmark (Li et al. 2022 protocol) for any imputation method.

The shared genes are split into folds with the LR genes spread over them
(:func:`commst.benchmark.data.heldout_folds`). For each fold the fold's genes are removed from
the spatial data, the method imputes them from the reference using the other shared genes as
input, and the prediction is compared with the held-out truth gene by gene
(:func:`commst.benchmark.metrics.gene_metrics`).

Scale of the comparison: truth and prediction are both log-normalised with the spot library
sizes of the *full* spatial data (all genes, before any gene is held out),
``log1p(counts / library_size × target_sum)`` (:func:`commst.pp.lognorm`). The method returns
expected counts at each spot's depth (:class:`commst.tl.ImputationResult`), so this puts both
on the scale of the prepared spatial ``X``; using the full library size for both keeps the normalisation of the truth
independent of the fold and the same for every method.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from commst._constants import Keys
from commst.benchmark.data import heldout_folds
from commst.benchmark.metrics import GENE_METRICS, gene_metrics
from commst.pp import counts_matrix, library_size, lognorm, normalise, target_sum_of
from commst.tl._types import ImputationResult

logger = logging.getLogger(__name__)

ImputationMethod = Callable[..., ImputationResult]
"""``f(spatial, reference, *, targets, input_genes, seed=0, **params) -> ImputationResult``."""

HELDOUT_COLUMNS: tuple[str, ...] = ("fold", "gene", "is_lr", *GENE_METRICS, "status", "runtime_s")
"""Columns of :func:`run_heldout`'s table."""


def prepare_pair(
    spatial: ad.AnnData, reference: ad.AnnData, *, cell_type_key: str = Keys.obs.cell_type
) -> tuple[ad.AnnData, ad.AnnData]:
    """Minimal preparation of a raw pair: counts in ``layers['counts']``, ``X`` log-normalised.

    Parameters
    ----------
    spatial
        Spots x genes with raw counts (``layers['counts']`` or ``X``) and ``obsm['spatial']``.
    reference
        Cells x genes with raw counts and cell types in ``obs[cell_type_key]``.
    cell_type_key
        Column of ``reference.obs`` with cell types (copied to ``obs['cell_type']``).

    Returns
    -------
    ``(spatial, reference)`` copies; gene names are made unique, nothing is filtered.
    """
    if cell_type_key not in reference.obs:
        raise ValueError(
            f"reference.obs has no column {cell_type_key!r} (columns: {list(reference.obs.columns)}); "
            "pass cell_type_key= naming the reference cell types"
        )
    if Keys.obsm.spatial not in spatial.obsm:
        raise ValueError("spatial data has no obsm['spatial']; store spot coordinates there")
    out = []
    for adata in (spatial, reference):
        adata = adata.copy()
        adata.var_names_make_unique()
        normalise(adata)
        out.append(adata)
    out[1].obs[Keys.obs.cell_type] = out[1].obs[cell_type_key].astype(str).astype("category")
    return out[0], out[1]


def _failed_rows(fold: int, genes: Sequence[str], lr: set[str], seconds: float) -> pd.DataFrame:
    rows = pd.DataFrame({"gene": list(genes)})
    for m in GENE_METRICS:
        rows[m] = np.nan
    rows["fold"] = fold
    rows["is_lr"] = rows["gene"].isin(lr)
    rows["status"] = "failed"
    rows["runtime_s"] = seconds
    return rows


def run_heldout(
    spatial: ad.AnnData,
    reference: ad.AnnData,
    method: ImputationMethod,
    *,
    lr_genes: Sequence[str],
    n_folds: int = 10,
    seed: int = 0,
    genes_to_score: Sequence[str] | None = None,
    method_params: Mapping[str, Any] | None = None,
    on_error: str = "record",
    verbose: bool = True,
) -> pd.DataFrame:
    """Held-out-gene benchmark of one imputation method (Li et al. 2022 protocol).

    Parameters
    ----------
    spatial
        Spots x genes; raw counts in ``layers['counts']`` (or in ``X``), ``obsm['spatial']``.
    reference
        Cells x genes; raw counts in ``layers['counts']`` (or ``X``), ``obs['cell_type']``.
        Pass raw data through :func:`prepare_pair` first if ``X`` is not log-normalised;
        methods read counts, so prepared data from :func:`commst.pp.prepare` work as is.
    method
        Imputation function ``f(spatial, reference, *, targets, input_genes, seed, **params)``
        returning :class:`commst.tl.ImputationResult`.
    lr_genes
        LR genes (e.g. of the LR database); they are spread over the folds and flagged
        ``is_lr`` in the output.
    n_folds
        Number of folds of the shared genes.
    seed
        Seed of the fold split and of the method.
    genes_to_score
        Only hold out and score these shared genes (e.g. the LR genes, to save time); the
        folds still cover all shared genes, so inputs are the same as in the full run.
    method_params
        Extra keyword arguments for ``method``.
    on_error
        ``"record"``: a fold on which the method raises is logged and recorded with NaN
        metrics and ``status = "failed"``; ``"raise"``: re-raise.
    verbose
        Show a progress bar over folds.

    Returns
    -------
    Long table with columns ``fold, gene, is_lr, pcc, ssim, rmse, js, status, runtime_s``,
    one row per scored gene; ``runtime_s`` is the method's wall time on the gene's fold.
    """
    if on_error not in ("record", "raise"):
        raise ValueError(f"on_error must be 'record' or 'raise', got {on_error!r}")
    if Keys.obs.cell_type not in reference.obs:
        raise ValueError("reference.obs['cell_type'] is missing; run prepare_pair(..., cell_type_key=...)")
    ref_genes = set(reference.var_names)
    shared = [g for g in spatial.var_names if g in ref_genes]
    lr = set(map(str, lr_genes))
    folds = heldout_folds(shared, lr, n_folds=n_folds, seed=seed)
    scored = set(shared) if genes_to_score is None else set(map(str, genes_to_score)) & set(shared)
    if not scored:
        raise ValueError("no gene to score: genes_to_score has no gene measured in both datasets")

    sp_counts = counts_matrix(spatial)
    library, target_sum = library_size(spatial), target_sum_of(spatial)
    col = {g: i for i, g in enumerate(spatial.var_names)}
    params = dict(method_params or {})
    name = getattr(method, "__name__", str(method))
    tables = []
    for fold, fold_genes in enumerate(tqdm(folds, desc=f"held-out {name}", disable=not verbose)):
        targets = [g for g in fold_genes if g in scored]
        if not targets:
            continue
        held = set(fold_genes)
        inputs = [g for g in shared if g not in held]
        sp_in = spatial[:, [g for g in spatial.var_names if g not in held]].copy()
        start = time.perf_counter()
        try:
            res = method(sp_in, reference, targets=targets, input_genes=inputs, seed=seed, **params)
        except Exception:
            if on_error == "raise":
                raise
            seconds = time.perf_counter() - start
            logger.exception("%s failed on fold %d (%d genes); recorded as failed", name, fold, len(targets))
            tables.append(_failed_rows(fold, targets, lr, seconds))
            continue
        seconds = time.perf_counter() - start
        pred = pd.DataFrame(res.counts, columns=res.targets).reindex(columns=targets)
        if pred.isna().any().any():
            missing = pred.columns[pred.isna().any()].tolist()
            raise ValueError(f"{name} did not return targets {missing[:5]} on fold {fold}")
        truth = sp_counts[:, [col[g] for g in targets]]
        tab = gene_metrics(
            lognorm(truth.toarray(), library, target_sum=target_sum),
            lognorm(pred.to_numpy(), library, target_sum=target_sum),
            genes=targets,
        )
        tab["fold"] = fold
        tab["is_lr"] = tab["gene"].isin(lr)
        tab["status"] = "ok"
        tab["runtime_s"] = seconds
        tables.append(tab)
        logger.info("%s fold %d: %d genes in %.1f s", name, fold, len(targets), seconds)
    return pd.concat(tables, ignore_index=True)[list(HELDOUT_COLUMNS)]
