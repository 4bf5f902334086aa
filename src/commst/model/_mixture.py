"""The matched single-cell mixture: each spot's own matched reference cells, weighted by Poisson EM.

For a spot ``s`` and each reference cell type ``t`` the spot's matched cells ``N(s, t)`` are its
``k_within`` nearest cells *of that type* in the matching space (or, ``neighbourhood='global'``,
the cells of type ``t`` among its ``k_global`` nearest cells). Their pooled profile

``P[s, t, g] = sum_{c in N(s,t)} counts[c, g] / sum_{c in N(s,t)} depth[c]``

(``depth`` = a cell's total over the input genes) is specific to the spot: it is built from
those single cells only, never from a type's average. The spot's weights ``w_s`` over its
groups maximise the Poisson (multinomial) likelihood of its own input-gene counts ``y_s``,

``sum_g v_g y_sg log(sum_t w_st P[s, t, g])  +  alpha sum_t pbar_t log w_st``

(``v_g`` optional input-gene weights, mean 1; a Dirichlet prior of ``alpha`` pseudo-counts
toward the mean weights ``pbar``), by EM from uniform weights (``n_iter`` maximum-likelihood
iterations, then ``n_iter_map`` with the prior, warm-started). A target's share is
``sum_t w_st P[s, t, target]``: a combination of specific single cells matched to the spot.
Nothing here is reported as a proportion: the weights are internal (the spot's label comes from
its nearest single cells, :mod:`commst.model._model`).

Everything runs over spots in chunks: the per-chunk profiles are ``chunk × types × genes``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.neighbors import NearestNeighbors

from ._space import MatchingSpace

_TINY = 1e-12


@dataclass
class MatchedCells:
    """Who each spot's matched single cells are: per-type indices (or one global index) in the space.

    Attributes
    ----------
    space
        The matching space.
    codes
        Reference cell-type code of every cell (``0 .. n_types - 1``).
    n_types
        Number of cell types.
    k_within
        Matched cells per type (capped by the type's size).
    max_type_share
        At most this share of a type's cells in one group (at least one cell): below 1, a group
        is never the whole type, so no prediction is a type average.
    neighbourhood
        ``'per_type'`` or ``'global'`` (see the module docstring).
    k_global
        Size of the global neighbourhood.
    """

    space: MatchingSpace
    codes: np.ndarray
    n_types: int
    k_within: int
    neighbourhood: str = "per_type"
    k_global: int = 200
    max_type_share: float = 1.0

    def __post_init__(self) -> None:
        self._members = [np.flatnonzero(self.codes == t) for t in range(self.n_types)]
        self._index: list[NearestNeighbors | None] = []
        if self.neighbourhood == "per_type":
            for cells in self._members:
                if cells.size == 0:
                    self._index.append(None)
                    continue
                k = int(min(self.k_within, max(1, np.floor(self.max_type_share * cells.size))))
                nn = NearestNeighbors(n_neighbors=k, metric="cosine", algorithm="brute")
                self._index.append(nn.fit(self.space.cells[cells]))
        else:
            k = int(min(self.k_global, self.codes.size))
            self._global = NearestNeighbors(n_neighbors=k, metric="cosine", algorithm="brute").fit(self.space.cells)

    def groups(self, spots: np.ndarray) -> sp.csr_matrix:
        """``(len(spots) × n_types) × cells`` 0/1 matrix: row ``i × n_types + t`` marks spot ``spots[i]``'s
        matched cells of type ``t`` (an empty row: the type has none near the spot)."""
        n, T = len(spots), self.n_types
        query = self.space.spots[spots]
        rows, cols = [], []
        if self.neighbourhood == "per_type":
            for t, nn in enumerate(self._index):
                if nn is None:
                    continue
                idx = nn.kneighbors(query, return_distance=False)
                rows.append(np.repeat(np.arange(n) * T + t, idx.shape[1]))
                cols.append(self._members[t][idx].ravel())
        else:
            idx = self._global.kneighbors(query, return_distance=False)
            rows.append(np.repeat(np.arange(n), idx.shape[1]) * T + self.codes[idx].ravel())
            cols.append(idx.ravel())
        r, c = np.concatenate(rows), np.concatenate(cols)
        return sp.csr_matrix((np.ones(r.size, np.float32), (r, c)), shape=(n * T, self.codes.size))


def pooled_profiles(
    groups: sp.csr_matrix, counts: sp.csr_matrix, depth: np.ndarray, n_types: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per spot and group, pooled shares of ``counts``' genes: ``(spots × types × genes, present)``.

    ``present`` (spots × types, bool) marks groups with at least one matched cell of nonzero depth.
    """
    pooled_depth = np.asarray(groups @ depth).ravel()
    num = np.asarray((groups @ counts).toarray(), dtype=np.float32)
    prof = num / np.maximum(pooled_depth, _TINY).astype(np.float32)[:, None]
    n = groups.shape[0] // n_types
    return prof.reshape(n, n_types, -1), (pooled_depth > 0).reshape(n, n_types)


def em_weights(
    y: np.ndarray,
    prof: np.ndarray,
    present: np.ndarray,
    *,
    n_iter: int,
    alpha: float = 0.0,
    prior: np.ndarray | None = None,
    init: np.ndarray | None = None,
    gene_weights: np.ndarray | None = None,
) -> np.ndarray:
    """Group weights maximising the (weighted) multinomial likelihood of ``y`` plus a Dirichlet prior.

    Parameters
    ----------
    y
        Spots × input genes counts.
    prof
        Spots × groups × input genes profiles (renormalised here to sum 1 over the genes).
    present
        Spots × groups: groups that exist (others keep weight 0).
    n_iter
        EM iterations.
    alpha, prior
        Dirichlet pseudo-counts and the composition they pull toward (groups, sums to 1).
    init
        Starting weights (default uniform over the present groups).
    gene_weights
        Per input gene likelihood weights (default 1).

    Returns
    -------
    Spots × groups weights (rows sum to 1; float64).
    """
    y = np.asarray(y, np.float32)
    E = prof / np.maximum(prof.sum(2, keepdims=True), _TINY)
    mask = present.astype(np.float32)
    scale = np.ones_like(mask)
    if gene_weights is not None:
        # weighted genes count w times (w = 0: left out): the multinomial of the weighted counts
        # over weight-renormalised profiles, whose weights are mapped back to input-depth units
        w = np.asarray(gene_weights, np.float32)
        y = y * w[None, :]
        E = E * w[None, None, :]
        scale = E.sum(2)
        E = E / np.maximum(scale[:, :, None], _TINY)
    to_weighted = mask * scale

    def norm(x: np.ndarray) -> np.ndarray:
        return x / np.maximum(x.sum(1, keepdims=True), _TINY)

    pi = norm(mask) if init is None else norm(np.asarray(init, np.float32) * to_weighted)
    pr = np.zeros_like(pi)
    if prior is not None and alpha > 0:
        pr = alpha * norm(np.asarray(prior, np.float32)[None, :] * to_weighted)
    for _ in range(int(n_iter)):
        lam = np.einsum("st,stg->sg", pi, E)
        num = pi * np.einsum("sg,stg->st", y / np.maximum(lam, _TINY), E) + pr
        tot = num.sum(1, keepdims=True)
        pi = np.where(tot > 0, num / np.maximum(tot, _TINY), pi)
    if gene_weights is not None:  # back to weights over the groups' input-depth shares
        pi = norm(np.divide(pi, scale, out=np.zeros_like(pi), where=scale > 0))
    return pi.astype(np.float64)


@dataclass
class MixtureFit:
    """Shares of the output genes under each Dirichlet strength, and the weights behind them.

    Attributes
    ----------
    shares
        ``alpha`` → spots × output genes shares (to be multiplied by the spot's input depth).
    dominant
        ``alpha`` → each spot's dominant group's type code (a diagnostic; not output).
    """

    shares: dict[float, np.ndarray]
    dominant: dict[float, np.ndarray]


def fit_mixture(
    matched: MatchedCells,
    y: sp.csr_matrix,
    ref_in: sp.csr_matrix,
    ref_out: sp.csr_matrix,
    *,
    alphas: Sequence[float],
    n_iter: int,
    n_iter_map: int,
    chunk: int,
    gene_weights: np.ndarray | None = None,
    prior_spots: int = 2000,
    rng: np.random.Generator | None = None,
) -> MixtureFit:
    """The matched single-cell mixture for every spot of ``y`` and every ``alpha`` (see the module docstring).

    Parameters
    ----------
    matched
        The spots' matched cells (its space's spots are the rows of ``y``).
    y
        Spots × input genes counts.
    ref_in, ref_out
        Reference counts of the input genes (likelihood) and of the genes predicted.
    alphas
        Dirichlet strengths wanted (0 = maximum likelihood).
    n_iter, n_iter_map
        EM iterations without, then with, the prior.
    chunk
        Spots per chunk.
    gene_weights
        Input-gene likelihood weights.
    prior_spots
        The prior's mean weights ``pbar`` come from the maximum-likelihood weights of at most
        this many spots (drawn with ``rng``).
    rng
        Source of that draw.
    """
    S, T = y.shape[0], matched.n_types
    depth = np.asarray(ref_in.sum(1)).ravel().astype(np.float64)
    ref_all = sp.hstack([ref_in, ref_out]).tocsr().astype(np.float32)
    n_in = ref_in.shape[1]
    alphas = sorted({float(a) for a in alphas})
    rng = rng or np.random.default_rng(0)

    def chunk_fit(spots: np.ndarray, prior: np.ndarray | None):
        prof, present = pooled_profiles(matched.groups(spots), ref_all, depth, T)
        yy = y[spots].toarray()
        ml = em_weights(yy, prof[:, :, :n_in], present, n_iter=n_iter, gene_weights=gene_weights)
        out = {}
        for a in alphas:
            pi = (
                ml
                if a == 0 or prior is None
                else em_weights(
                    yy,
                    prof[:, :, :n_in],
                    present,
                    n_iter=n_iter_map,
                    alpha=a,
                    prior=prior,
                    init=ml,
                    gene_weights=gene_weights,
                )
            )
            out[a] = (np.einsum("st,stg->sg", pi.astype(np.float32), prof[:, :, n_in:]), pi.argmax(1))
        return ml, out

    prior = None
    if any(a > 0 for a in alphas):
        pilot = np.sort(rng.choice(S, min(S, prior_spots), replace=False))
        ml = np.vstack([chunk_fit(pilot[i : i + chunk], None)[0] for i in range(0, pilot.size, chunk)])
        prior = ml.mean(0)
        prior = prior / max(prior.sum(), _TINY)
    shares = {a: np.empty((S, ref_out.shape[1]), np.float64) for a in alphas}
    dominant = {a: np.empty(S, np.int64) for a in alphas}
    for start in range(0, S, chunk):
        spots = np.arange(start, min(S, start + chunk))
        _, out = chunk_fit(spots, prior)
        for a, (share, dom) in out.items():
            shares[a][spots] = share
            dominant[a][spots] = dom
    return MixtureFit(shares, dominant)
