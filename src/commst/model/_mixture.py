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

A prediction is a spots × cells weight matrix (each matched cell weighted by its group's weight
over the group's depth), so predicting all spots never needs per-group profiles of the output
genes: only the input genes' profiles (``chunk × types × input genes``, float32) exist, chunk by
chunk. Where many alphas are scored on the same genes (the masked rounds),
:meth:`MixtureWeights.shares` pools the output genes per group once per chunk instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np
import scipy.sparse as sp

from ._search import TypeNeighbours
from ._sparse import dense_product

_TINY = 1e-12


@dataclass
class MatchedCells:
    """Who a set of spots' matched single cells are, from their per-type nearest cells.

    Attributes
    ----------
    neighbours
        The spots' nearest cells of every type (:class:`commst.model._search.TypeNeighbours`).
    codes
        Reference cell-type code of every cell (``0 .. n_types - 1``).
    n_types
        Number of cell types.
    k_within
        Matched cells per type (capped by the type's size).
    neighbourhood
        ``'per_type'`` or ``'global'`` (see the module docstring).
    k_global
        Size of the global neighbourhood.
    max_type_share
        At most this share of a type's cells in one group (at least one cell): below 1, a group
        is never the whole type, so no prediction is a type average.
    """

    neighbours: TypeNeighbours
    codes: np.ndarray
    n_types: int
    k_within: int
    neighbourhood: str = "per_type"
    k_global: int = 200
    max_type_share: float = 1.0

    def groups(self) -> sp.csr_matrix:
        """``(spots × n_types) × cells`` 0/1 matrix: row ``i × n_types + t`` marks spot ``i``'s matched
        cells of type ``t`` (an empty row: the type has none near the spot)."""
        nb, T = self.neighbours, self.n_types
        n = nb.idx.shape[0]
        rows, cols = [], []
        if self.neighbourhood == "per_type":
            sizes = np.bincount(self.codes, minlength=T)
            for t in range(T):
                if sizes[t] == 0:
                    continue
                k = int(min(self.k_within, max(1, np.floor(self.max_type_share * sizes[t]))))
                idx = nb.of_type(t, k)
                rows.append(np.repeat(np.arange(n) * T + t, idx.shape[1]))
                cols.append(idx.ravel())
        else:
            _, idx = nb.nearest(self.k_global)
            rows.append(np.repeat(np.arange(n), idx.shape[1]) * T + self.codes[idx].ravel())
            cols.append(idx.ravel())
        r, c = np.concatenate(rows), np.concatenate(cols)
        return sp.csr_matrix((np.ones(r.size, np.float32), (r, c)), shape=(n * T, self.codes.size))


def pooled_profiles(
    groups: sp.csr_matrix, counts: sp.csr_matrix, depth: np.ndarray, n_types: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per spot and group, pooled shares of ``counts``' genes: ``(spots × types × genes, present, pooled depth)``.

    ``present`` (spots × types, bool) marks groups with at least one matched cell of nonzero
    depth; the pooled depth (spots × types) is the groups' summed ``depth``.
    """
    pooled_depth = np.asarray(groups @ depth).ravel()
    num = dense_product(groups, counts, np.float32)
    prof = num / np.maximum(pooled_depth, _TINY).astype(np.float32)[:, None]
    n = groups.shape[0] // n_types
    return prof.reshape(n, n_types, -1), (pooled_depth > 0).reshape(n, n_types), pooled_depth.reshape(n, n_types)


@numba.njit(cache=True, parallel=True, nogil=True, fastmath=True)
def _em_iterations(
    y: np.ndarray, E: np.ndarray, pi0: np.ndarray, pr: np.ndarray, n_iter: int
) -> np.ndarray:  # pragma: no cover - compiled
    """``n_iter`` EM updates ``pi_t <- pi_t sum_g y_g E_tg / lam_g + pr_t`` (renormalised), spot by spot.

    Only the genes a spot detected enter (``y_g = 0`` adds nothing), so a spot costs
    ``types × detected genes`` per iteration, within cache; spots run in parallel.
    """
    S, T, G = E.shape
    out = pi0.copy()
    for s in numba.prange(S):
        nz = np.flatnonzero(y[s])
        m = nz.size
        Es = np.empty((T, m), np.float32)
        for t in range(T):
            for j in range(m):
                Es[t, j] = E[s, t, nz[j]]
        ys = y[s][nz]
        pi = out[s].copy()
        lam = np.empty(m, np.float32)
        num = np.empty(T, np.float32)
        for _ in range(n_iter):
            lam[:] = 0
            for t in range(T):
                p = pi[t]
                for j in range(m):
                    lam[j] += p * Es[t, j]
            for j in range(m):
                lam[j] = ys[j] / max(lam[j], np.float32(1e-12))
            tot = np.float32(0.0)
            for t in range(T):
                acc = np.float32(0.0)
                for j in range(m):
                    acc += Es[t, j] * lam[j]
                num[t] = pi[t] * acc + pr[s, t]
                tot += num[t]
            if tot > 0:
                for t in range(T):
                    pi[t] = num[t] / tot
        out[s] = pi
    return out


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
    pi = _em_iterations(
        np.ascontiguousarray(y, np.float32),
        np.ascontiguousarray(E, np.float32),
        np.ascontiguousarray(pi, np.float32),
        np.ascontiguousarray(pr, np.float32),
        int(n_iter),
    )
    if gene_weights is not None:  # back to weights over the groups' input-depth shares
        pi = norm(np.divide(pi, scale, out=np.zeros_like(pi), where=scale > 0))
    return pi.astype(np.float64)


def cell_weights(groups: sp.csr_matrix, pi: np.ndarray, pooled_depth: np.ndarray) -> sp.csr_matrix:
    """Spots × cells weights of the mixture: a matched cell of group ``t`` gets ``pi[s, t] / pooled_depth[s, t]``.

    ``cell_weights(...) @ counts`` is ``sum_t pi[s, t] P[s, t, :]`` for any genes' ``counts``.
    """
    n, T = pi.shape
    g = groups.tocoo()
    scale = (pi / np.maximum(pooled_depth, _TINY)).ravel()
    return sp.csr_matrix((scale[g.row] * g.data, (g.row // T, g.col)), shape=(n, groups.shape[1]))


@dataclass
class MixtureWeights:
    """The mixture's weights for a set of spots under every ``alpha``, by group.

    Attributes
    ----------
    groups
        The ``(spots × types) × cells`` matched-cell groups (:meth:`MatchedCells.groups`).
    pooled_depth
        Spots × types summed input-gene depth of each group.
    pi
        ``alpha`` → spots × types group weights.
    """

    groups: sp.csr_matrix
    pooled_depth: np.ndarray
    pi: dict[float, np.ndarray]

    def cells(self, alpha: float) -> sp.csr_matrix:
        """Spots × cells weights under ``alpha`` (:func:`cell_weights`)."""
        return cell_weights(self.groups, self.pi[alpha], self.pooled_depth)

    def shares(self, counts: sp.csr_matrix, chunk: int) -> dict[float, np.ndarray]:
        """``alpha`` → spots × genes ``sum_t pi[s, t] P[s, t, :]`` of ``counts``' genes (float64).

        The groups' pooled counts are formed once per chunk of ``chunk`` spots and shared by all
        alphas (one sparse product, not one per alpha).
        """
        n, T = self.pooled_depth.shape
        G = counts.shape[1]
        out = {a: np.empty((n, G), np.float64) for a in self.pi}
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            num = dense_product(self.groups[start * T : stop * T], counts, np.float32)
            num = num.reshape(stop - start, T, G)
            inv = 1.0 / np.maximum(self.pooled_depth[start:stop], _TINY)
            for a, pi in self.pi.items():
                scale = (pi[start:stop] * inv).astype(np.float32)[:, None, :]
                out[a][start:stop] = np.matmul(scale, num)[:, 0, :]
        return out


def mixture_weights(
    matched: MatchedCells,
    y: np.ndarray,
    ref_in: sp.csr_matrix,
    depth: np.ndarray,
    *,
    alphas: Sequence[float],
    n_iter: int,
    n_iter_map: int,
    chunk: int,
    prior: np.ndarray | None = None,
    gene_weights: np.ndarray | None = None,
) -> tuple[np.ndarray, MixtureWeights]:
    """The matched single-cell mixture of a set of spots for every ``alpha`` (see the module docstring).

    Parameters
    ----------
    matched
        The spots' matched cells.
    y
        Spots × input genes counts (dense).
    ref_in, depth
        Reference counts of the input genes (likelihood) and each cell's total over them.
    alphas
        Dirichlet strengths wanted (0 = maximum likelihood; ``> 0`` needs ``prior``).
    n_iter, n_iter_map
        EM iterations without, then with, the prior.
    chunk
        Spots per chunk (the profiles are ``chunk × types × input genes``).
    prior
        The mean group weights ``pbar`` the prior pulls toward.
    gene_weights
        Input-gene likelihood weights.

    Returns
    -------
    ``(ml, weights)``: the maximum-likelihood group weights (spots × types) and the group
    weights under every ``alpha`` (:class:`MixtureWeights`).
    """
    T = matched.n_types
    groups = matched.groups()
    alphas = sorted({float(a) for a in alphas})
    n = y.shape[0]
    ml_all, pooled_all, parts = [], [], {a: [] for a in alphas}
    for start in range(0, n, chunk):
        rows = slice(start * T, min(n, start + chunk) * T)
        g = groups[rows]
        prof, present, pooled = pooled_profiles(g, ref_in, depth, T)
        yy = y[start : start + chunk]
        ml = em_weights(yy, prof, present, n_iter=n_iter, gene_weights=gene_weights)
        ml_all.append(ml)
        pooled_all.append(pooled)
        for a in alphas:
            if a == 0 or prior is None:
                pi = ml
            else:
                pi = em_weights(
                    yy, prof, present, n_iter=n_iter_map, alpha=a, prior=prior, init=ml, gene_weights=gene_weights
                )
            parts[a].append(pi)
    pi_all = {a: np.vstack(p) for a, p in parts.items()}
    return np.vstack(ml_all), MixtureWeights(groups, np.vstack(pooled_all), pi_all)
