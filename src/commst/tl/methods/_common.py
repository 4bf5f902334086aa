"""Helpers shared by the baseline methods: input-gene normalisation and depth scaling.

All baselines follow the convention of :func:`commst.tl.impute_knn`: a cell's or spot's
expression of gene ``g`` is its *share* ``counts_g / sum(counts over input genes)``; a method
predicts a share per spot and the expected count is that share times the spot's own total
over the input genes (its depth). Shares are log-transformed as ``log1p(share × target_sum)``
(:func:`commst.pp.lognorm` with the input-gene depth as the library), with the data's
``target_sum`` (:func:`commst.pp.target_sum_of`).
"""

from __future__ import annotations

from collections.abc import Sequence

import anndata as ad
import numpy as np
import scipy.sparse as sp

from ...pp import counts_matrix, lognorm, target_sum_of


def check_genes(
    spatial: ad.AnnData, reference: ad.AnnData, targets: Sequence[str], input_genes: Sequence[str], method: str
) -> tuple[list[str], list[str]]:
    """Validate the gene sets of an imputation call; return them as lists."""
    targets, input_genes = [str(g) for g in targets], [str(g) for g in input_genes]
    if not targets:
        raise ValueError(f"{method}: no target gene to impute")
    missing_ref = [g for g in [*targets, *input_genes] if g not in reference.var_names]
    if missing_ref:
        raise ValueError(
            f"{method}: {len(missing_ref)} target/input genes are not in the reference "
            f"(e.g. {missing_ref[:3]}); targets and inputs must be reference genes"
        )
    missing_sp = [g for g in input_genes if g not in spatial.var_names]
    if missing_sp:
        raise ValueError(
            f"{method}: {len(missing_sp)} input genes are not in the spatial data "
            f"(e.g. {missing_sp[:3]}); inputs must be measured in both"
        )
    if len(input_genes) < 2:
        raise ValueError(f"{method}: needs at least 2 input genes, got {len(input_genes)}")
    return targets, input_genes


def input_depth(adata: ad.AnnData, input_genes: Sequence[str]) -> np.ndarray:
    """Total raw counts over the input genes per observation (float64)."""
    return np.asarray(counts_matrix(adata[:, list(input_genes)]).sum(axis=1), dtype=np.float64).ravel()


def shares(adata: ad.AnnData, genes: Sequence[str], input_genes: Sequence[str]) -> sp.csr_matrix:
    """Counts of ``genes`` divided by each observation's input-gene total (CSR, float64)."""
    depth = input_depth(adata, input_genes)
    inv = np.divide(1.0, depth, out=np.zeros_like(depth), where=depth > 0)
    return sp.csr_matrix(sp.diags(inv) @ counts_matrix(adata[:, list(genes)]).astype(np.float64))


def log_shares(adata: ad.AnnData, genes: Sequence[str], input_genes: Sequence[str]) -> np.ndarray:
    """``log1p(share × target_sum)`` of ``genes`` (dense float64), the normalised scale baselines work on."""
    counts = counts_matrix(adata[:, list(genes)]).toarray()
    return lognorm(counts, input_depth(adata, input_genes), target_sum=target_sum_of(adata))
