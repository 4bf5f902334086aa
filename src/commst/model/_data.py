"""Matrices the CommST model trains on: sparse counts, libraries, gene sets, scaling."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import anndata as ad
import numpy as np
import scipy.sparse as sp
import torch

from ..pp import counts_matrix

logger = logging.getLogger(__name__)

#: Library size of the log-normalisation ``log1p(counts / library * TARGET_SUM)``.
TARGET_SUM = 1e4
#: Largest reference (cells x input genes) thinned as a dense array when computing input moments.
_DENSE_MAX = 20_000_000


def _columns(adata: ad.AnnData, genes: Sequence[str], what: str) -> sp.csr_matrix:
    """Raw counts of ``genes`` (in that order) as float32 CSR, with a clear error if missing."""
    missing = [g for g in genes if g not in adata.var_names]
    if missing:
        raise ValueError(
            f"{len(missing)} {what} genes are not in the {what} AnnData (e.g. {missing[:5]}); "
            "pass gene lists taken from spatial.uns['commst']['genes'] of the prepared data"
        )
    idx = adata.var_names.get_indexer(list(genes))
    return counts_matrix(adata)[:, idx].astype(np.float32).tocsr()


def lognorm(counts: np.ndarray, library: np.ndarray) -> np.ndarray:
    """``log1p(counts / library * 1e4)`` row-wise (library 0 gives 0)."""
    scale = TARGET_SUM / np.maximum(library, 1.0)
    return np.log1p(counts * scale[:, None]).astype(np.float32)


@dataclass
class ModelData:
    """Everything the model needs from a spatial/reference pair, sparse where large.

    Attributes
    ----------
    sp_in, ref_in
        Counts of the input genes ``S`` (spots / cells × S), CSR float32.
    sp_lib, ref_lib
        Totals over ``S`` per spot / cell.
    ref_out
        Reference counts of the decoded genes (cells × D), CSR.
    ref_out_log
        ``log1p(ref_out / ref_lib * 1e4)`` as CSR (targets of the reference loss and of the
        spot soft targets).
    sp_obs, obs_idx
        Spatial counts of the decoded target genes the spatial data measured, and their
        column positions among the decoded genes (empty when none or switched off).
    mean_sp, sd_sp, mean_ref, sd_ref
        Per-gene scaling of the log-normalised input of each modality.
    """

    input_genes: list[str]
    targets: list[str]
    decoded: list[str]
    observed: list[str]
    sp_in: sp.csr_matrix
    ref_in: sp.csr_matrix
    sp_lib: np.ndarray
    ref_lib: np.ndarray
    ref_out: sp.csr_matrix
    ref_out_log: sp.csr_matrix
    sp_obs: sp.csr_matrix
    obs_idx: np.ndarray
    cell_types: np.ndarray | None
    mean_sp: np.ndarray
    sd_sp: np.ndarray
    mean_ref: np.ndarray
    sd_ref: np.ndarray

    @property
    def n_spots(self) -> int:
        return self.sp_in.shape[0]

    @property
    def n_cells(self) -> int:
        return self.ref_in.shape[0]


def _moments(X: sp.csr_matrix, lib: np.ndarray, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Per-gene mean and sd of the log-normalised rows of ``X`` (computed in chunks)."""
    total = np.zeros(X.shape[1], dtype=np.float64)
    total_sq = np.zeros(X.shape[1], dtype=np.float64)
    for start in range(0, X.shape[0], chunk):
        block = lognorm(X[start : start + chunk].toarray(), lib[start : start + chunk])
        total += block.sum(0)
        total_sq += (block.astype(np.float64) ** 2).sum(0)
    mean = total / X.shape[0]
    sd = np.sqrt(np.maximum(total_sq / X.shape[0] - mean**2, 0.0))
    return mean.astype(np.float32), np.maximum(sd, 1e-2).astype(np.float32)


def thin_to_library(
    counts: np.ndarray, library: np.ndarray, target_libraries: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Binomially thin rows of ``counts`` to libraries drawn from ``target_libraries``.

    Each row keeps every molecule with probability ``min(1, L / library)``, ``L`` drawn from
    the empirical spatial library sizes; rows already below ``L`` stay as they are.
    """
    drawn = rng.choice(target_libraries, size=counts.shape[0], replace=True)
    p = np.minimum(1.0, drawn / np.maximum(library, 1.0))
    return rng.binomial(counts.astype(np.int64), p[:, None]).astype(np.float32)


def thin_sparse(
    counts: sp.csr_matrix, library: np.ndarray, target_libraries: np.ndarray, rng: np.random.Generator
) -> sp.csr_matrix:
    """:func:`thin_to_library` for CSR counts, without densifying."""
    drawn = rng.choice(target_libraries, size=counts.shape[0], replace=True)
    p = np.minimum(1.0, drawn / np.maximum(library, 1.0))
    out = counts.copy().tocsr()
    row_p = np.repeat(p, np.diff(out.indptr))
    out.data = rng.binomial(out.data.astype(np.int64), row_p).astype(np.float32)
    out.eliminate_zeros()
    return out


def build_model_data(
    spatial: ad.AnnData,
    reference: ad.AnnData,
    *,
    targets: Sequence[str],
    input_genes: Sequence[str],
    lr_focus: bool,
    spatial_observed: bool,
    input_scaling: str,
    thinning: bool,
    seed: int,
) -> ModelData:
    """Collect the model's matrices from prepared AnnData objects.

    Parameters
    ----------
    spatial, reference
        Prepared data (raw counts in ``layers['counts']``, else ``X``).
    targets
        LR target genes ``T`` (must be in ``reference``); any of them present in ``spatial``
        counts as observed there (held-out genes must therefore be removed from ``spatial``).
    input_genes
        Input genes ``S`` (in both objects, disjoint from ``targets``).
    lr_focus
        ``False`` decodes ``targets + input_genes`` (ablation "no LR focus").
    spatial_observed
        Collect the observed targets for the spatial likelihood.
    input_scaling, thinning, seed
        See :class:`~commst.model.CommSTConfig`.
    """
    targets = list(dict.fromkeys(map(str, targets)))
    input_genes = list(dict.fromkeys(map(str, input_genes)))
    if not targets:
        raise ValueError("no target genes given: targets must name at least one LR gene of the reference")
    overlap = set(targets) & set(input_genes)
    if overlap:
        raise ValueError(
            f"{len(overlap)} genes are both targets and inputs (e.g. {sorted(overlap)[:5]}); "
            "LR targets are never model inputs: remove them from input_genes"
        )
    if len(input_genes) < 2:
        raise ValueError("fewer than 2 input genes; the model needs genes measured in both datasets")
    sp_in = _columns(spatial, input_genes, "spatial")
    ref_in = _columns(reference, input_genes, "reference")
    sp_lib = np.asarray(sp_in.sum(1)).ravel().astype(np.float32)
    ref_lib = np.asarray(ref_in.sum(1)).ravel().astype(np.float32)
    for lib, what in ((sp_lib, "spots"), (ref_lib, "reference cells")):
        if (lib <= 0).any():
            logger.warning("%d %s have no counts over the input genes", int((lib <= 0).sum()), what)
    decoded = targets if lr_focus else targets + input_genes
    ref_out = _columns(reference, decoded, "reference")
    scale = sp.diags((TARGET_SUM / np.maximum(ref_lib, 1.0)).astype(np.float32))
    ref_out_log = (scale @ ref_out).tocsr()
    ref_out_log.data = np.log1p(ref_out_log.data).astype(np.float32)
    observed = [g for g in targets if g in spatial.var_names] if spatial_observed else []
    sp_obs = _columns(spatial, observed, "spatial") if observed else sp.csr_matrix((spatial.n_obs, 0), dtype=np.float32)
    obs_idx = np.array([decoded.index(g) for g in observed], dtype=np.int64)

    mean_sp, sd_sp = _moments(sp_in, sp_lib)
    if thinning:
        rng = np.random.default_rng(seed)
        if ref_in.shape[0] * ref_in.shape[1] <= _DENSE_MAX:
            thinned = sp.csr_matrix(thin_to_library(ref_in.toarray(), ref_lib, sp_lib, rng))
        else:  # large references: moments from (at most 20,000) thinned cells, kept sparse
            rows = np.sort(rng.choice(ref_in.shape[0], min(20000, ref_in.shape[0]), replace=False))
            thinned = thin_sparse(ref_in[rows], ref_lib[rows], sp_lib, rng)
        mean_ref, sd_ref = _moments(thinned, np.asarray(thinned.sum(1)).ravel())
    else:
        mean_ref, sd_ref = _moments(ref_in, ref_lib)
    if input_scaling == "reference":
        mean_sp, sd_sp = mean_ref, sd_ref
    cell_types = reference.obs["cell_type"].astype(str).to_numpy() if "cell_type" in reference.obs else None
    logger.info(
        "model data: %d spots, %d cells, %d input genes, %d targets (%d decoded, %d observed in spatial)",
        sp_in.shape[0], ref_in.shape[0], len(input_genes), len(targets), len(decoded), len(observed),
    )
    return ModelData(
        input_genes=input_genes, targets=targets, decoded=decoded, observed=observed,
        sp_in=sp_in, ref_in=ref_in, sp_lib=sp_lib, ref_lib=ref_lib, ref_out=ref_out,
        ref_out_log=ref_out_log, sp_obs=sp_obs.tocsr(), obs_idx=obs_idx, cell_types=cell_types,
        mean_sp=mean_sp, sd_sp=sd_sp, mean_ref=mean_ref, sd_ref=sd_ref,
    )


def encoder_input(
    counts: np.ndarray, library: np.ndarray, mean: np.ndarray, sd: np.ndarray, device: torch.device
) -> torch.Tensor:
    """Scaled log-normalised input rows as a tensor on ``device``."""
    return torch.from_numpy((lognorm(counts, library) - mean) / sd).to(device)
