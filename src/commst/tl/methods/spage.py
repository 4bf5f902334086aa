"""The ``spage`` baseline: SpaGE (Abdelaal et al. 2020, *Nucleic Acids Res* 48:e107).

An implementation of SpaGE's published algorithm (the authors' code: github
tabdelaal/SpaGE, ``SpaGE/main.py`` and ``principal_vectors.py``):

1. Both modalities are normalised and z-scored per gene over the shared input genes.
2. PRECISE domain adaptation (Mourragui et al. 2019): PCA of the reference (source) and of
   the spatial data (target) with ``n_pv`` components each; the orthonormalised loadings
   ``Ps``, ``Pt`` give the cosine matrix ``Ps Pt^T = U Σ V^T``; the source principal vectors
   are the rows of ``U^T Ps`` (normalised), ranked by similarity to the target.
3. Only principal vectors with cosine similarity > 0.3 to their target partner are kept
   (``effective n_pv``); both datasets are projected onto them.
4. For each spot the ``k = 50`` nearest reference cells (cosine distance) in that space are
   found; neighbours with distance < 1 get weights ``1 - d / sum(d)``, rescaled to sum to 1,
   and the spot's prediction is the weighted mean of their normalised expression.

Normalisation: SpaGE works on log-normalised data; here both modalities use
``log1p(share × target_sum)`` of their input-gene totals (:mod:`._common`), and the weighted mean
of the neighbours' log values is turned into expected counts at the spot's depth.
Spots whose 50 neighbours all have cosine distance >= 1 (SpaGE would predict 0) get the
unweighted mean of the 50 instead, and ``guard`` flags values that are zero because no
neighbour expresses the gene.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import anndata as ad
import numpy as np
import pandas as pd
import scipy.linalg
import scipy.sparse as sp
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import normalize

from ..._constants import Keys
from ..._utils import zscore
from ...pp import counts_from_lognorm, target_sum_of
from .._types import ImputationResult
from ._common import (
    check_genes,
    input_depth,
    log_shares,
)

logger = logging.getLogger(__name__)


def principal_vectors(
    source: np.ndarray, target: np.ndarray, n_pv: int, *, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PRECISE principal vectors of two datasets over the same genes.

    Parameters
    ----------
    source, target
        Observations x genes (z-scored), same genes in the same order.
    n_pv
        Number of principal components per dataset and of principal vectors returned.
    seed
        Seed of the PCA solver.

    Returns
    -------
    ``(source_pvs, target_pvs, cosine)``: ``n_pv x genes`` unit-norm loadings, ranked by
    decreasing similarity, and the ``n_pv x n_pv`` cosine matrix between them (diagonal =
    cosine of the principal angles).
    """
    ps = PCA(n_components=n_pv, random_state=seed).fit(source).components_
    pt = PCA(n_components=n_pv, random_state=seed).fit(target).components_
    ps = scipy.linalg.orth(ps.T).T
    pt = scipy.linalg.orth(pt.T).T
    u, _, vt = np.linalg.svd(ps @ pt.T)
    s_pv = normalize((u.T @ ps)[:n_pv], axis=1)
    t_pv = normalize((vt @ pt)[:n_pv], axis=1)
    return s_pv, t_pv, s_pv @ t_pv.T


def pv_projection(
    source: np.ndarray, target: np.ndarray, n_pv: int | None, *, min_cosine: float, seed: int = 0, method: str = "spage"
) -> tuple[np.ndarray, int]:
    """SpaGE's projection of two z-scored datasets: ``(genes × kept principal vectors, n_pv)``.

    ``n_pv`` (``None``: half the genes when more than 50, else all, as in Li et al. 2022's SpaGE
    runs; capped by the numbers of observations) principal vectors are computed
    (:func:`principal_vectors`) and those with cosine > ``min_cosine`` to their target partner
    kept (the first when none is).
    """
    n_in = source.shape[1]
    if n_pv is None:
        n_pv = n_in // 2 if n_in > 50 else n_in
    n_pv = int(max(1, min(n_pv, n_in, source.shape[0] - 1, target.shape[0] - 1)))
    s_pv, _, cosine = principal_vectors(source, target, n_pv, seed=seed)
    keep = np.diag(cosine) > min_cosine
    if not keep.any():
        logger.warning("%s: no principal vector has cosine > %.2f; using the first", method, min_cosine)
        keep[0] = True
    return s_pv[keep].T, n_pv


def neighbour_weights(dist: np.ndarray) -> np.ndarray:
    """SpaGE weights of ``k`` neighbours per spot (rows sum to 1)."""
    close = dist < 1
    d = np.where(close, dist, 0.0)
    total = d.sum(axis=1, keepdims=True)
    n_close = close.sum(axis=1, keepdims=True)
    w = np.where(close, 1.0 - np.divide(d, total, out=np.zeros_like(d), where=total > 0), 0.0)
    w = np.divide(w, w.sum(axis=1, keepdims=True), out=np.zeros_like(w), where=n_close > 0)
    none = n_close.ravel() == 0
    w[none] = 1.0 / dist.shape[1]
    return w


def impute_spage(
    spatial: ad.AnnData,
    reference: ad.AnnData,
    *,
    targets: Sequence[str],
    input_genes: Sequence[str],
    seed: int = 0,
    n_pv: int | None = None,
    k: int = 50,
    min_cosine: float = 0.3,
) -> ImputationResult:
    """Impute targets with SpaGE (PRECISE alignment + weighted kNN).

    Parameters
    ----------
    spatial, reference
        Raw counts in ``layers['counts']`` (or ``X``); reference ``obs['cell_type']``.
    targets
        Genes to impute (reference genes).
    input_genes
        Genes measured in both, used for the alignment.
    seed
        Seed of the PCA solvers.
    n_pv
        Number of principal vectors; default as in Li et al. 2022's SpaGE runs: half the
        input genes if more than 50, else all, capped by the number of spots and cells.
    k
        Number of reference neighbours (50 in SpaGE).
    min_cosine
        Principal vectors with a smaller cosine similarity are dropped (0.3 in SpaGE).

    Returns
    -------
    :class:`commst.tl.ImputationResult`; ``labels`` = cell type with the largest total
    neighbour weight; ``extra`` holds ``n_pv`` and ``effective_n_pv``.
    """
    targets, input_genes = check_genes(spatial, reference, targets, input_genes, "spage")
    k = int(min(k, reference.n_obs))
    ref_x = zscore(log_shares(reference, input_genes, input_genes))
    sp_x = zscore(log_shares(spatial, input_genes, input_genes))
    proj, n_pv = pv_projection(ref_x, sp_x, n_pv, min_cosine=min_cosine, seed=seed)
    ref_t, sp_t = ref_x @ proj, sp_x @ proj

    nn = NearestNeighbors(n_neighbors=k, metric="cosine").fit(ref_t)
    dist, idx = nn.kneighbors(sp_t)
    w = neighbour_weights(dist)

    ref_log = log_shares(reference, targets, input_genes)
    # weighted mean over the k neighbours as a sparse spots x cells product: no spots x k x
    # targets array (31 GB at 10^5 spots, k = 50, 839 targets)
    rows = np.repeat(np.arange(idx.shape[0]), idx.shape[1])
    weights = sp.csr_matrix((w.ravel(), (rows, idx.ravel())), shape=(idx.shape[0], reference.n_obs))
    pred_log = np.asarray(weights @ ref_log)
    counts = counts_from_lognorm(
        pred_log, input_depth(spatial, input_genes), target_sum=target_sum_of(spatial), clip=True
    )
    positive = weights.copy()
    positive.data = (positive.data > 0).astype(np.float32)
    expressed = np.asarray(positive @ (ref_log > 0).astype(np.float32)) > 0

    cell_types = reference.obs[Keys.obs.cell_type].astype(str).to_numpy()
    labels = _weighted_labels(w, cell_types[idx])
    labels.index = spatial.obs_names
    return ImputationResult(
        counts=counts,
        targets=targets,
        guard=~expressed,
        labels=labels,
        extra={"n_pv": n_pv, "effective_n_pv": int(proj.shape[1]), "k": k},
    )


def _weighted_labels(w: np.ndarray, neighbour_types: np.ndarray) -> pd.Series:
    """Per spot, the cell type with the largest summed neighbour weight."""
    types, codes = np.unique(neighbour_types, return_inverse=True)
    codes = codes.reshape(neighbour_types.shape)
    score = np.zeros((w.shape[0], types.size))
    np.add.at(score, (np.repeat(np.arange(w.shape[0]), w.shape[1]), codes.ravel()), w.ravel())
    return pd.Series(pd.Categorical(types[score.argmax(axis=1)]))
