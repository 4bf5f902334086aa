"""Helpers shared by the baseline methods: input-gene normalisation and depth scaling.

All baselines follow the convention of :func:`commst.tl.impute_knn`: a cell's or spot's
expression of gene ``g`` is its *share* ``counts_g / sum(counts over input genes)``; a method
predicts a share per spot and the expected count is that share times the spot's own total
over the input genes (its depth).
"""

from __future__ import annotations

from collections.abc import Sequence

import anndata as ad
import numpy as np
import scipy.sparse as sp

from commst.pp import counts_matrix
from commst.tl._knn import log_profile

SHARE_SCALE = 1e4
"""Shares are log-transformed as ``log1p(share * SHARE_SCALE)``."""


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
    """``log1p(share * 1e4)`` of ``genes`` (dense), the normalised scale baselines work on."""
    return log_profile(counts_matrix(adata[:, list(genes)]), input_depth(adata, input_genes))


def counts_from_log_shares(log_share: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Expected counts at spot depth from predicted ``log1p(share * 1e4)`` values."""
    return np.maximum(np.expm1(log_share), 0.0) / SHARE_SCALE * depth[:, None]
