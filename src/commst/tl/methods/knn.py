"""The ``knn`` imputation method: single-cell neighbours in a shared PCA space."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import normalize

from ..._constants import Keys
from ..._utils import zscore
from ...pp import counts_matrix, lognorm, target_sum_of
from .._types import ImputationResult

logger = logging.getLogger(__name__)

#: Spots per chunk of the neighbour statistics (bounds memory; results do not depend on it).
CHUNK_SPOTS = 4096


def _input_profile(adata: ad.AnnData, genes: list[str]) -> np.ndarray:
    """Log-normalised counts of the input genes over their own totals, z-scored per gene."""
    counts = counts_matrix(adata[:, genes])
    totals = np.asarray(counts.sum(1)).ravel()
    return zscore(lognorm(counts.toarray(), totals, target_sum=target_sum_of(adata)))


def shared_embedding(
    spatial: ad.AnnData,
    reference: ad.AnnData,
    input_genes: Sequence[str],
    *,
    n_pcs: int = 30,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Embed spots and reference cells in one PCA space of the input genes.

    Each modality is log-normalised over the input genes only (so panels of different size
    compare) and z-scored per gene within its own modality (removing platform-wide shifts);
    PCA is fitted on the reference and applied to the spots.

    Returns
    -------
    ``(spot_embedding, cell_embedding)``.
    """
    genes = list(input_genes)
    sp_x = _input_profile(spatial, genes)
    ref_x = _input_profile(reference, genes)
    n_comp = int(min(n_pcs, len(genes) - 1, reference.n_obs - 1))
    pca = PCA(n_components=n_comp, random_state=seed).fit(ref_x)
    return pca.transform(sp_x), pca.transform(ref_x)


def impute_knn(
    spatial: ad.AnnData,
    reference: ad.AnnData,
    *,
    targets: Sequence[str],
    input_genes: Sequence[str],
    seed: int = 0,
    k: int = 20,
    n_pcs: int = 30,
    metric: str = "cosine",
) -> ImputationResult:
    """Impute each spot as the mean of its ``k`` nearest reference cells.

    Spots and cells are embedded with :func:`shared_embedding`; a spot's expected count of a
    target gene is the neighbours' mean share of that gene relative to their input-gene
    counts, times the spot's own input-gene counts (the spot's depth).

    Parameters
    ----------
    spatial, reference
        Prepared data (:func:`commst.pp.prepare`): raw counts in ``layers['counts']``;
        reference ``obs['cell_type']``.
    targets
        Genes to impute (must be in the reference).
    input_genes
        Genes used to match spots to cells (measured in both).
    seed
        Seed of the PCA solver.
    k
        Number of reference neighbours per spot.
    n_pcs
        Number of principal components of the shared space.
    metric
        Distance in the PCA space (any scikit-learn metric).

    Returns
    -------
    :class:`ImputationResult` with ``uncertainty`` = standard deviation of the neighbours'
    estimates (count units, like ``counts``), ``guard`` = no neighbour expresses the gene (the value is then zero) and
    ``labels`` = the most frequent cell type among the neighbours.
    """
    targets = list(targets)
    k = int(min(k, reference.n_obs))
    sp_emb, ref_emb = shared_embedding(spatial, reference, input_genes, n_pcs=n_pcs, seed=seed)
    if metric == "cosine":  # the same neighbours as Euclidean ones of unit vectors: scikit-learn's fast path
        nn = NearestNeighbors(n_neighbors=k, metric="euclidean", algorithm="brute").fit(normalize(ref_emb))
        sp_emb = normalize(sp_emb)
    else:
        nn = NearestNeighbors(n_neighbors=k, metric=metric).fit(ref_emb)
    _, idx = nn.kneighbors(sp_emb)

    ref_input_totals = np.asarray(counts_matrix(reference[:, list(input_genes)]).sum(1)).ravel()
    ref_share = sp.diags(1.0 / np.maximum(ref_input_totals, 1.0)) @ counts_matrix(reference[:, targets])
    spot_depth = np.asarray(counts_matrix(spatial[:, list(input_genes)]).sum(1)).ravel()
    counts, sd, guard = neighbour_statistics(idx, sp.csr_matrix(ref_share), spot_depth)

    cell_types = reference.obs[Keys.obs.cell_type].astype(str).to_numpy()
    return ImputationResult(
        counts=counts,
        targets=targets,
        uncertainty=sd,
        guard=guard,
        labels=neighbour_labels(idx, cell_types, spatial.obs_names),
        extra={"k": k, "n_pcs": int(sp_emb.shape[1]), "metric": metric},
    )


def neighbour_statistics(
    idx: np.ndarray, ref_share: sp.csr_matrix, spot_depth: np.ndarray, *, chunk_size: int = CHUNK_SPOTS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, spread and guard of the neighbours' target shares, scaled to each spot's depth.

    Works through the spots in chunks of ``chunk_size`` (float64 inside a chunk, float32
    outputs), so the only spots × targets arrays are the three results; a spot's numbers do
    not depend on the chunk size.

    Parameters
    ----------
    idx
        Spots × k indices of each spot's reference neighbours.
    ref_share
        Cells × targets counts divided by each cell's input-gene total.
    spot_depth
        Each spot's total counts over the input genes.
    chunk_size
        Spots per chunk.

    Returns
    -------
    ``(counts, sd, guard)``: the neighbours' mean share and its standard deviation times the
    spot's depth (float32), and where no neighbour expresses the gene (bool).
    """
    n_spots, k = idx.shape
    n_cells, n_targets = ref_share.shape
    ref_sq = ref_share.multiply(ref_share).tocsr()
    ref_on = (ref_share > 0).astype(np.float64).tocsr()
    counts = np.empty((n_spots, n_targets), dtype=np.float32)
    sd = np.empty((n_spots, n_targets), dtype=np.float32)
    guard = np.empty((n_spots, n_targets), dtype=bool)
    for start in range(0, n_spots, max(int(chunk_size), 1)):
        block = idx[start : start + chunk_size]
        rows = np.repeat(np.arange(block.shape[0]), k)
        weights = sp.csr_matrix((np.full(rows.size, 1.0 / k), (rows, block.ravel())), shape=(block.shape[0], n_cells))
        mean_share = (weights @ ref_share).toarray()
        mean_sq = (weights @ ref_sq).toarray()
        depth = spot_depth[start : start + chunk_size, None]
        counts[start : start + chunk_size] = mean_share * depth
        sd[start : start + chunk_size] = np.sqrt(np.maximum(mean_sq - mean_share**2, 0.0)) * depth
        guard[start : start + chunk_size] = (weights @ ref_on).toarray() * k == 0
    return counts, sd, guard


def neighbour_labels(idx: np.ndarray, cell_types: np.ndarray, spot_names: pd.Index) -> pd.Series:
    """The most frequent cell type among each spot's neighbours (ties: the first name in sorted order)."""
    names, codes = np.unique(np.asarray(cell_types, dtype=str), return_inverse=True)
    neighbour_codes = codes[idx]
    tally = np.zeros((idx.shape[0], names.size), dtype=np.int32)
    np.add.at(tally, (np.repeat(np.arange(idx.shape[0]), idx.shape[1]), neighbour_codes.ravel()), 1)
    return pd.Series(names[tally.argmax(axis=1)], index=spot_names).astype("category")
