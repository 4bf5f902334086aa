"""Input-gene weights of the mixture's likelihood (the LR focus; optional)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._utils import zscore
from ..pp import lognorm

#: Library size of the log shares the weights are computed on (weights do not depend on it much).
_SCALE = 1e4


def lr_gene_weights(
    ref_in: sp.csr_matrix, ref_t: sp.csr_matrix, *, n_pcs: int = 10, floor: float = 0.1, cap: float = 10.0
) -> np.ndarray:
    """How informative each input gene is about the LR targets across reference cells.

    Both are log-normalised over the input-gene depth and z-scored; the weight of input gene
    ``g`` is the share of its variance explained by the top ``n_pcs`` principal components of
    the targets (``R²`` of its regression on them), divided by the mean over input genes and
    clipped to ``[floor, cap]`` (mean ≈ 1, so the likelihood keeps its scale).

    Returns
    -------
    One weight per input gene (float64).
    """
    depth = np.asarray(ref_in.sum(1)).ravel()
    x = zscore(lognorm(ref_in.toarray(), depth, target_sum=_SCALE))
    t = zscore(lognorm(ref_t.toarray(), depth, target_sum=_SCALE))
    n = int(max(1, min(n_pcs, t.shape[1], t.shape[0] - 1)))
    u, _, _ = np.linalg.svd(t, full_matrices=False)
    basis = u[:, :n]
    var = (x**2).sum(0)
    r2 = np.divide(((basis.T @ x) ** 2).sum(0), var, out=np.zeros_like(var), where=var > 0)
    mean = r2.mean()
    if not mean > 0:
        return np.ones(x.shape[1])
    return np.clip(r2 / mean, floor, cap)


def _mean_one(w: np.ndarray) -> np.ndarray:
    mean = float(w.mean()) if w.size else 0.0
    return w / mean if mean > 0 else np.ones_like(w)


def ppi_gene_weights(graph: sp.spmatrix, n_input: int, *, strength: float = 1.0) -> np.ndarray:
    """Input-gene weights from PPI proximity to the LR targets.

    ``graph`` is the symmetric PPI graph over ``inputs + targets`` (that order; built without
    ligand–receptor edges, :func:`commst.priors.ppi_graph` with ``lr=None``). A gene's score is
    its summed edge weight to the targets; the weight is ``1 + strength × score / mean score``,
    rescaled to mean 1.
    """
    graph = sp.csr_matrix(graph)
    score = np.asarray(graph[:n_input, n_input:].sum(1)).ravel()
    mean = score.mean() if score.size else 0.0
    return _mean_one(1.0 + strength * (score / mean if mean > 0 else score))


def nichenet_gene_weights(
    matrix: sp.spmatrix,
    matrix_targets: list[str],
    matrix_ligands: list[str],
    input_genes: list[str],
    targets: list[str],
    *,
    strength: float = 1.0,
) -> np.ndarray:
    """Input-gene weights from NicheNet: how strongly the imputed ligands are predicted to regulate them.

    A gene's score is its largest ligand → target score over the ligands among ``targets``,
    turned into a percentile rank among the input genes (0 where NicheNet has no score); the
    weight is ``1 + strength × rank``, rescaled to mean 1.
    """
    row = {g: i for i, g in enumerate(matrix_targets)}
    lig = [j for j, g in enumerate(matrix_ligands) if g in set(targets)]
    score = np.zeros(len(input_genes))
    rows = [(k, row[g]) for k, g in enumerate(input_genes) if g in row]
    if lig and rows:
        sub = sp.csr_matrix(matrix)[[r for _, r in rows]][:, lig]
        score[[k for k, _ in rows]] = np.asarray(sub.max(axis=1).todense()).ravel()
    rank = np.zeros_like(score)
    pos = score > 0
    if pos.any():
        rank[pos] = (np.argsort(np.argsort(score[pos])) + 1) / pos.sum()
    return _mean_one(1.0 + strength * rank)
