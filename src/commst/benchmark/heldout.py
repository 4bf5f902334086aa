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

Further scales (:data:`SCALE_METRICS`, PCC per gene), because at low counts a log-normalised
truth depends on depth and a prediction that tracks depth scores higher whatever its merit:

``pcc_counts``    predicted expected counts vs raw counts;
``pcc_own``       the method's own best depth-free estimate (``layers['expected_lognorm']`` when
                  the method returns it, CommST does; else the same as ``pcc``);
``pcc_lognormE``  every method's counts through the same ``E[log1p(Y / library × target_sum)]``
                  (:func:`commst.model.expected_lognorm`): like compared with like;
``pcc_partial``   ``pcc`` with log library size regressed out of truth and prediction.

``split_seeds`` repeats the protocol over several fold splits (column ``split``).
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
from commst.benchmark.metrics import GENE_METRICS, gene_metrics, pcc
from commst.pp import counts_matrix, library_size, lognorm, normalise, target_sum_of
from commst.tl._types import ImputationResult

logger = logging.getLogger(__name__)

ImputationMethod = Callable[..., ImputationResult]
"""``f(spatial, reference, *, targets, input_genes, seed=0, **params) -> ImputationResult``."""

#: Per-gene PCC on the further scales (module docstring).
SCALE_METRICS: tuple[str, ...] = ("pcc_counts", "pcc_own", "pcc_lognormE", "pcc_partial")

HELDOUT_COLUMNS: tuple[str, ...] = (
    "split",
    "fold",
    "gene",
    "is_lr",
    *GENE_METRICS,
    *SCALE_METRICS,
    "status",
    "runtime_s",
)
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


def scale_pccs(
    truth: np.ndarray,
    pred: np.ndarray,
    t_log: np.ndarray,
    p_log: np.ndarray,
    library: np.ndarray,
    target_sum: float,
    own: np.ndarray | None,
    targets: Sequence[str],
    result_targets: Sequence[str],
) -> dict[str, np.ndarray]:
    """Per-gene PCC of one fold on the further scales (:data:`SCALE_METRICS`).

    ``truth``/``pred``: spots × ``targets`` counts; ``t_log``/``p_log`` their log-normalised
    values; ``own``: the method's ``expected_lognorm`` layer over ``result_targets`` (or None).
    """
    from commst.model import expected_lognorm

    if own is None:
        own_log = p_log
    else:
        own_log = np.asarray(pd.DataFrame(own, columns=list(result_targets))[list(targets)], np.float64)
    design = np.column_stack([np.ones(library.size), np.log(np.maximum(library, 1.0))])

    def resid(y: np.ndarray) -> np.ndarray:
        return y - design @ np.linalg.lstsq(design, y, rcond=None)[0]

    return {
        "pcc_counts": pcc(truth, pred),
        "pcc_own": pcc(t_log, own_log),
        "pcc_lognormE": pcc(t_log, expected_lognorm(pred, library, target_sum=target_sum)),
        "pcc_partial": pcc(resid(t_log), resid(p_log)),
    }


def _failed_rows(fold: int, genes: Sequence[str], lr: set[str], seconds: float) -> pd.DataFrame:
    rows = pd.DataFrame({"gene": list(genes)})
    for m in (*GENE_METRICS, *SCALE_METRICS):
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
    split_seeds: Sequence[int] | None = None,
    fold_sets: Sequence[Sequence[str]] | None = None,
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
        Seed of the method (and of the fold split unless ``split_seeds`` is given).
    split_seeds
        Seeds of the fold splits to run (default ``(seed,)``); each split's rows carry it as ``split``.
    fold_sets
        Given folds instead of the seeded splits (one split, ``seed``): e.g. ``[every shared LR
        gene]`` for the cross-platform check, all LR genes masked from the spatial side.
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
    Long table with :data:`HELDOUT_COLUMNS`, one row per scored gene and split; ``runtime_s``
    is the method's wall time on the gene's fold.
    """
    if on_error not in ("record", "raise"):
        raise ValueError(f"on_error must be 'record' or 'raise', got {on_error!r}")
    if Keys.obs.cell_type not in reference.obs:
        raise ValueError("reference.obs['cell_type'] is missing; run prepare_pair(..., cell_type_key=...)")
    ref_genes = set(reference.var_names)
    shared = [g for g in spatial.var_names if g in ref_genes]
    lr = set(map(str, lr_genes))
    scored = set(shared) if genes_to_score is None else set(map(str, genes_to_score)) & set(shared)
    if not scored:
        raise ValueError("no gene to score: genes_to_score has no gene measured in both datasets")

    sp_counts = counts_matrix(spatial)
    library, target_sum = library_size(spatial), target_sum_of(spatial)
    col = {g: i for i, g in enumerate(spatial.var_names)}
    params = dict(method_params or {})
    name = getattr(method, "__name__", str(method))
    splits = [int(seed)] if split_seeds is None else [int(s) for s in split_seeds]
    if fold_sets is not None:
        jobs = [(int(seed), f, [str(g) for g in genes]) for f, genes in enumerate(fold_sets)]
    else:
        jobs = [(s, f, g) for s in splits for f, g in enumerate(heldout_folds(shared, lr, n_folds=n_folds, seed=s))]
    tables = []
    for split, fold, fold_genes in tqdm(jobs, desc=f"held-out {name}", disable=not verbose):
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
            tables.append(_failed_rows(fold, targets, lr, seconds).assign(split=split))
            continue
        seconds = time.perf_counter() - start
        pred = pd.DataFrame(res.counts, columns=res.targets).reindex(columns=targets)
        if pred.isna().any().any():
            missing = pred.columns[pred.isna().any()].tolist()
            raise ValueError(f"{name} did not return targets {missing[:5]} on fold {fold}")
        truth = sp_counts[:, [col[g] for g in targets]].toarray().astype(np.float64)
        t_log = lognorm(truth, library, target_sum=target_sum)
        p_log = lognorm(pred.to_numpy(), library, target_sum=target_sum)
        tab = gene_metrics(t_log, p_log, genes=targets)
        own = res.layers.get(Keys.layers.expected_lognorm)
        for key, value in scale_pccs(
            truth, pred.to_numpy(np.float64), t_log, p_log, library, target_sum, own, targets, res.targets
        ).items():
            tab[key] = value
        tab["split"] = split
        tab["fold"] = fold
        tab["is_lr"] = tab["gene"].isin(lr)
        tab["status"] = "ok"
        tab["runtime_s"] = seconds
        tables.append(tab)
        logger.info("%s split %d fold %d: %d genes in %.1f s", name, split, fold, len(targets), seconds)
    return pd.concat(tables, ignore_index=True)[list(HELDOUT_COLUMNS)]
