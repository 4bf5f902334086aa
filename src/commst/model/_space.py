"""The matching space: SpaGE/PRECISE principal vectors of the input genes, reference thinned to spot depth."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from .._utils import zscore
from ..pp import lognorm
from ..tl.methods.spage import pv_projection

logger = logging.getLogger(__name__)

#: Library size of the log shares the space is built on (any constant gives the same space).
_SCALE = 1e4


def quantile_thin(
    counts: sp.csr_matrix, depth: np.ndarray, spot_depth: np.ndarray, rng: np.random.Generator
) -> sp.csr_matrix:
    """Binomially thin each cell to the spot depth at the same depth quantile, only where the cell is deeper.

    Parameters
    ----------
    counts
        Cells × genes counts (CSR).
    depth
        Each cell's total over these genes.
    spot_depth
        The spots' totals over the same genes.
    rng
        Source of the binomial draws.

    Returns
    -------
    Thinned copy (CSR, float64); cells shallower than their quantile's spot depth are unchanged.
    """
    ranks = (np.argsort(np.argsort(depth, kind="stable"), kind="stable") + 0.5) / depth.size
    # the spot depth at each rank: np.quantile's linear interpolation, on one sort (not one partition per rank)
    n = spot_depth.size
    at_rank = np.interp(ranks * (n - 1), np.arange(n), np.sort(np.asarray(spot_depth, np.float64)))
    keep = np.minimum(1.0, at_rank / np.maximum(depth, 1.0))
    out = sp.csr_matrix(counts, dtype=np.float64, copy=True)
    out.data = rng.binomial(np.round(out.data).astype(np.int64), np.repeat(keep, np.diff(out.indptr))).astype(
        np.float64
    )
    out.eliminate_zeros()
    return out


@dataclass
class MatchingSpace:
    """Spots and reference cells in the principal-vector space (rows unit-norm: cosine = dot).

    Attributes
    ----------
    spots, cells
        Spot and cell coordinates (float32).
    n_pv
        Principal vectors kept (cosine to their spatial partner above ``min_cosine``).
    """

    spots: np.ndarray
    cells: np.ndarray
    n_pv: int


def matching_space(
    sp_in: sp.csr_matrix,
    ref_in: sp.csr_matrix,
    *,
    n_pv: int | None,
    min_cosine: float,
    thin: bool,
    rng: np.random.Generator,
    seed: int = 0,
) -> MatchingSpace:
    """SpaGE/PRECISE space of spots and cells over the input genes.

    Both are log-normalised over the input genes and z-scored per gene within their modality;
    the reference is first thinned to the spots' depth where it is deeper (:func:`quantile_thin`);
    principal vectors with cosine > ``min_cosine`` to their spatial partner are kept
    (:func:`commst.tl.methods.spage.pv_projection`).
    """
    sp_depth = np.asarray(sp_in.sum(1)).ravel()
    ref_depth = np.asarray(ref_in.sum(1)).ravel()
    ref_use = quantile_thin(ref_in, ref_depth, sp_depth, rng) if thin else ref_in
    # log of the non-zero counts only (sparse), then dense for the z-scores
    ref_x = zscore(lognorm(ref_use, np.asarray(ref_use.sum(1)).ravel(), target_sum=_SCALE).toarray())
    sp_x = zscore(lognorm(sp.csr_matrix(sp_in), sp_depth, target_sum=_SCALE).toarray())
    proj, _ = pv_projection(ref_x, sp_x, n_pv, min_cosine=min_cosine, seed=seed, method="commst")
    return MatchingSpace(
        spots=normalize(sp_x @ proj).astype(np.float32),
        cells=normalize(ref_x @ proj).astype(np.float32),
        n_pv=int(proj.shape[1]),
    )
