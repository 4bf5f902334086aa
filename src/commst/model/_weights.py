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
