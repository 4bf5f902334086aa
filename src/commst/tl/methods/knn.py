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

from ..._constants import Keys
from ..._utils import zscore
from ...pp import counts_matrix, lognorm, target_sum_of
from .._types import ImputationResult

logger = logging.getLogger(__name__)


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
    nn = NearestNeighbors(n_neighbors=k, metric=metric).fit(ref_emb)
    _, idx = nn.kneighbors(sp_emb)

    ref_input_totals = np.asarray(counts_matrix(reference[:, list(input_genes)]).sum(1)).ravel()
    ref_share = sp.diags(1.0 / np.maximum(ref_input_totals, 1.0)) @ counts_matrix(reference[:, targets])
    ref_share = sp.csr_matrix(ref_share)
    spot_depth = np.asarray(counts_matrix(spatial[:, list(input_genes)]).sum(1)).ravel()

    n_spots = spatial.n_obs
    rows = np.repeat(np.arange(n_spots), k)
    weights = sp.csr_matrix((np.full(rows.size, 1.0 / k), (rows, idx.ravel())), shape=(n_spots, reference.n_obs))
    mean_share = np.asarray((weights @ ref_share).todense())
    mean_sq = np.asarray((weights @ ref_share.multiply(ref_share)).todense())
    sd_share = np.sqrt(np.maximum(mean_sq - mean_share**2, 0.0))
    n_expressing = np.asarray((weights @ (ref_share > 0).astype(np.float64)).todense()) * k

    counts = mean_share * spot_depth[:, None]
    cell_types = reference.obs[Keys.obs.cell_type].astype(str).to_numpy()
    labels = pd.DataFrame(cell_types[idx]).mode(axis=1)[0]
    labels.index = spatial.obs_names
    return ImputationResult(
        counts=counts,
        targets=targets,
        uncertainty=sd_share * spot_depth[:, None],
        guard=n_expressing == 0,
        labels=labels.astype("category"),
        extra={"k": k, "n_pcs": int(sp_emb.shape[1]), "metric": metric},
    )
