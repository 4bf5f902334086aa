"""Neighbours in latent space: kNN of spots among reference cells, weights, mutual pairs."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.neighbors import NearestNeighbors

#: Largest index searched exactly (scikit-learn); above, pynndescent's approximate search.
EXACT_KNN_MAX = 50_000


def knn(query: np.ndarray, index: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``k`` nearest rows of ``index`` for each row of ``query``: (indices, distances).

    Exact (scikit-learn) up to 50,000 index rows, approximate (pynndescent) above.
    """
    k = min(k, index.shape[0])
    if index.shape[0] <= EXACT_KNN_MAX:
        dist, idx = NearestNeighbors(n_neighbors=k).fit(index).kneighbors(query)
        return idx, dist.astype(np.float32)
    from pynndescent import NNDescent

    nnd = NNDescent(index, n_neighbors=max(k, 30), random_state=seed, n_jobs=max(1, torch.get_num_threads()))
    idx, dist = nnd.query(query, k=k)
    return idx, dist.astype(np.float32)


def neighbour_weights(dist: np.ndarray) -> np.ndarray:
    """Gaussian weights ``exp(-(d / d_k)^2)`` per row, normalised to sum to one."""
    scale = np.maximum(dist[:, -1:], 1e-6)
    w = np.exp(-((dist / scale) ** 2))
    return (w / w.sum(1, keepdims=True)).astype(np.float32)


def gather_rows(X: sp.csr_matrix, idx: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted mean over neighbours: ``sum_j weights[:, j] * X[idx[:, j]]`` (dense, batch × genes)."""
    rows = X[idx.ravel()].toarray().reshape(idx.shape[0], idx.shape[1], X.shape[1])
    return np.einsum("bk,bkg->bg", weights, rows)


def mutual_partners(idx: np.ndarray, z_spots: np.ndarray, z_cells: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Each spot's mutual-nearest-neighbour partner among the cells (position in ``z_cells``; -1: none).

    Spot ``s`` and cell ``c`` are partners when each is among the other's ``k`` nearest; of a
    spot's mutual neighbours, the nearest (first in ``idx``, the spot's own kNN) is its partner.
    """
    ridx, _ = knn(z_cells, z_spots, k, seed)
    n_cells, n_spots = len(z_cells), len(z_spots)
    back = sp.csr_matrix(
        (np.ones(ridx.size, dtype=bool), (np.repeat(np.arange(n_cells), ridx.shape[1]), ridx.ravel())),
        shape=(n_cells, n_spots),
    )
    local = np.repeat(np.arange(n_spots), idx.shape[1])
    mutual = np.asarray(back[idx.ravel(), local]).reshape(idx.shape)
    first = np.where(mutual.any(1), mutual.argmax(1), -1)
    return np.where(first >= 0, idx[np.arange(len(first)), np.maximum(first, 0)], -1)
