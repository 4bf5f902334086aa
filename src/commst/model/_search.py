"""Each spot's nearest reference cells of every cell type, in one search (exact, or clustered past a size).

The mixture needs each spot's ``k_within`` nearest cells *of each type* and the PV-kNN its
``k_knn`` nearest cells overall; both come from one per-type search: every type's ``depth``
nearest cells of the spot (cosine, the space's rows are unit-norm), from which the global
nearest cells are the best of the union (exact: a global neighbour is among its type's
``depth`` nearest whenever ``depth >= k``).

- ``exact``: every spot against every cell, in chunks of spots (similarities by one matrix
  product per chunk; the top cells of each type by a partition threshold, not a full sort);
- ``clustered``: the cells of each type larger than ``n_probe × cluster_cells`` are split into
  k-means clusters of about ``cluster_cells`` cells (scikit-learn's MiniBatchKMeans on the unit
  vectors); a spot is compared with the cells of its own ``n_probe`` nearest clusters of that
  type only (an inverted-file search, as FAISS' IVF), the per-cluster best merged. Smaller
  types are searched exactly.
  Measured recall of the exact neighbours: see the tests and the README.

``auto`` (the default) is exact while spots × cells is at most ``exact_pairs``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.cluster import MiniBatchKMeans
from sklearn.preprocessing import normalize

#: Similarities computed per block of an exact search (bounds its memory: 4 bytes each).
_BLOCK = 1 << 24


def top_k(sim: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of each row's ``k`` largest entries, largest first.

    The ``k``-th largest value of each row is found by :func:`numpy.partition` (no argsort of
    the whole row); the entries at least that large are then sorted. Ties at the threshold are
    broken by the lower column index.
    """
    n, m = sim.shape
    k = int(min(k, m))
    if k == 0:
        return np.empty((n, 0), np.int64), np.empty((n, 0), sim.dtype)
    if k == m:
        order = np.argsort(-sim, axis=1, kind="stable")
        return order, np.take_along_axis(sim, order, 1)
    tau = np.partition(sim, m - k, axis=1)[:, m - k : m - k + 1]  # each row's k-th largest
    keep = sim >= tau
    if (np.count_nonzero(keep, axis=1) == k).all():  # no ties at the threshold (the usual case)
        cols = np.nonzero(keep)[1].reshape(n, k)  # ascending within a row
        vals = np.take_along_axis(sim, cols, 1)
        order = np.argsort(-vals, axis=1, kind="stable")  # ties: the lower column first
        return np.take_along_axis(cols, order, 1), np.take_along_axis(vals, order, 1)
    rows, cols = np.nonzero(keep)
    vals = -sim[rows, cols]
    order = np.lexsort((cols, vals, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    start = np.searchsorted(rows, np.arange(n))
    pick = (start[:, None] + np.arange(k)[None, :]).ravel()
    return cols[pick].reshape(n, k), -vals[pick].reshape(n, k)


@dataclass
class TypeNeighbours:
    """Per spot, the nearest cells of each type (largest cosine first).

    Attributes
    ----------
    idx
        Spots × ``sum(depth)`` reference cell indices; type ``t``'s are columns
        ``offsets[t] : offsets[t + 1]``.
    sim
        Their cosine similarities (float32).
    offsets
        Column offsets of the types (``n_types + 1``).
    """

    idx: np.ndarray
    sim: np.ndarray
    offsets: np.ndarray

    def of_type(self, t: int, k: int) -> np.ndarray:
        """Spots × ``min(k, depth_t)`` nearest cells of type ``t``."""
        lo, hi = self.offsets[t], self.offsets[t + 1]
        return self.idx[:, lo : min(hi, lo + k)]

    def nearest(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Each spot's ``k`` nearest cells of any type: ``(cosine distance, idx)``, nearest first."""
        cols, sim = top_k(self.sim, k)
        return 1.0 - sim.astype(np.float64), np.take_along_axis(self.idx, cols, 1)


class NeighbourIndex:
    """The reference cells of each type, ready to be searched for each spot's nearest ones.

    Parameters
    ----------
    cells
        Cells × dimensions, rows unit-norm (float32).
    codes, n_types
        Cell-type code of every cell and the number of types.
    depth
        Nearest cells wanted per type (capped by the type's size).
    method
        ``'exact'``, ``'clustered'`` or ``'auto'`` (see the module docstring).
    n_spots
        Spots that will be searched (``auto`` decides on spots × cells).
    exact_pairs, cluster_cells, n_probe
        See the module docstring.
    exact_type_cells
        Types up to this size are searched exactly (default ``n_probe × cluster_cells``).
    seed
        Seed of the k-means.
    """

    def __init__(
        self,
        cells: np.ndarray,
        codes: np.ndarray,
        n_types: int,
        depth: int,
        *,
        method: str = "auto",
        n_spots: int = 0,
        exact_pairs: float = 2e8,
        exact_type_cells: int | None = None,
        cluster_cells: int = 250,
        n_probe: int = 4,
        seed: int = 0,
    ) -> None:
        if method not in ("auto", "exact", "clustered"):
            raise ValueError(f"search must be 'auto', 'exact' or 'clustered', got {method!r}")
        if method == "auto":
            method = "exact" if float(n_spots) * cells.shape[0] <= exact_pairs else "clustered"
        self.method = method
        self.cells = np.ascontiguousarray(cells, np.float32)
        self.members = [np.flatnonzero(codes == t) for t in range(n_types)]
        self.type_cells = [self.cells[m] for m in self.members]
        self.depth = np.array([min(int(depth), m.size) for m in self.members])
        self.offsets = np.concatenate([[0], np.cumsum(self.depth)])
        self.n_probe = int(n_probe)
        self.clusters: list[tuple[np.ndarray, list[np.ndarray]] | None] = []
        if exact_type_cells is None:
            exact_type_cells = self.n_probe * cluster_cells
        for t, m in enumerate(self.members):
            if method == "exact" or m.size <= max(exact_type_cells, self.depth[t]):
                self.clusters.append(None)
                continue
            n_c = int(max(2, round(m.size / cluster_cells)))
            km = MiniBatchKMeans(n_c, init="random", random_state=seed + t, n_init=1, batch_size=4096, max_iter=20)
            labels = km.fit_predict(self.cells[m])
            centres = normalize(km.cluster_centers_).astype(np.float32)
            self.clusters.append((centres, [m[labels == c] for c in range(n_c)]))

    def _exact(self, q: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
        m, cells = self.members[t], self.type_cells[t]
        rows = max(1, _BLOCK // max(1, m.size))
        idx, sim = [], []
        for start in range(0, q.shape[0], rows):
            cols, s = top_k(q[start : start + rows] @ cells.T, self.depth[t])
            idx.append(m[cols])
            sim.append(s)
        return np.vstack(idx), np.vstack(sim)

    def _clustered(self, q: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
        centres, groups = self.clusters[t]
        n_probe = min(self.n_probe, centres.shape[0])
        probe = top_k(q @ centres.T, n_probe)[0]  # each spot's nearest clusters of the type
        k = self.depth[t]
        idx = np.zeros((q.shape[0], n_probe, k), np.int64)
        sim = np.full((q.shape[0], n_probe, k), -np.inf, np.float32)
        for c, cells in enumerate(groups):  # every spot probing cluster c against its cells
            rows, slot = np.nonzero(probe == c)
            if rows.size == 0 or cells.size == 0:
                continue
            cols, s = top_k(q[rows] @ self.cells[cells].T, k)
            idx[rows, slot, : cols.shape[1]] = cells[cols]
            sim[rows, slot, : cols.shape[1]] = s
        cols, best = top_k(sim.reshape(q.shape[0], -1), k)
        out = np.take_along_axis(idx.reshape(q.shape[0], -1), cols, 1)
        short = np.flatnonzero(~np.isfinite(best).all(1))
        if short.size:  # probed clusters hold fewer than k cells: the whole type
            out[short], best[short] = self._exact(q[short], t)
        return out, best

    def query(self, spots: np.ndarray) -> TypeNeighbours:
        """Nearest cells of every type for the rows of ``spots`` (unit-norm, same dimensions)."""
        q = np.ascontiguousarray(spots, np.float32)
        idx, sim = [], []
        for t in range(len(self.members)):
            if self.depth[t] == 0:
                continue
            i, s = self._exact(q, t) if self.clusters[t] is None else self._clustered(q, t)
            idx.append(i)
            sim.append(s)
        if not idx:
            raise ValueError("the reference has no cells")
        return TypeNeighbours(np.hstack(idx), np.hstack(sim), self.offsets)
