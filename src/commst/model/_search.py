"""Each spot's nearest reference cells of every cell type, in one search (exact, or clustered past a size).

The mixture needs each spot's ``k_within`` nearest cells *of each type* and the PV-kNN its
``k_knn`` nearest cells overall; both come from one per-type search: every type's ``depth``
nearest cells of the spot (cosine, the space's rows are unit-norm), from which the global
nearest cells are the best of the union (exact: a global neighbour is among its type's
``depth`` nearest whenever ``depth >= k``).

- ``exact``: every spot against every cell, in chunks of spots (similarities by one matrix
  product per chunk; the top cells of each type by one compiled pass per row keeping a heap of
  the best, not a sort or partition of the row);
- ``clustered``: the cells of each type larger than ``n_probe × cluster_cells`` are split into
  k-means clusters of about ``cluster_cells`` cells (scikit-learn's MiniBatchKMeans on the unit
  vectors); a spot is compared with the cells of its own ``n_probe`` nearest clusters of that
  type only (an inverted-file search, as FAISS' IVF: compiled, cluster by cluster so that its
  cells stay in cache, the spots probing it in parallel, one heap of the best per spot).
  Smaller types are searched exactly.
  Measured recall of the exact neighbours: see the tests and the README.

``auto`` (the default) is exact while spots × cells is at most ``exact_pairs``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from sklearn.cluster import MiniBatchKMeans
from sklearn.preprocessing import normalize

#: Similarities computed per block of an exact search (bounds its memory: 4 bytes each).
_BLOCK = 1 << 24


@numba.njit(inline="always")
def _better(v1: float, i1: int, v2: float, i2: int) -> bool:  # pragma: no cover - compiled
    """``(v1, i1)`` ranks before ``(v2, i2)``: larger value, then lower index."""
    return v1 > v2 or (v1 == v2 and i1 < i2)


@numba.njit(inline="always")
def _push(hv: np.ndarray, hi: np.ndarray, size: int, v: float, i: int) -> int:  # pragma: no cover - compiled
    """Offer ``(v, i)`` to the heap ``hv, hi`` of the best ``len(hv)`` so far (its root the worst); new size."""
    k = hv.size
    if size < k:  # not full: sift the new entry up
        pos = size
        while pos > 0:
            par = (pos - 1) >> 1
            if _better(hv[par], hi[par], v, i):
                hv[pos], hi[pos] = hv[par], hi[par]
                pos = par
            else:
                break
        hv[pos], hi[pos] = v, i
        return size + 1
    if not _better(v, i, hv[0], hi[0]):
        return size
    pos = 0  # replace the worst and sift it down
    while True:
        child = 2 * pos + 1
        if child >= k:
            break
        if child + 1 < k and _better(hv[child], hi[child], hv[child + 1], hi[child + 1]):
            child += 1  # the worse child
        if _better(v, i, hv[child], hi[child]):
            hv[pos], hi[pos] = hv[child], hi[child]
            pos = child
        else:
            break
    hv[pos], hi[pos] = v, i
    return size


@numba.njit(inline="always")
def _sort_heap(hv: np.ndarray, hi: np.ndarray, size: int) -> None:  # pragma: no cover - compiled
    """Sort the first ``size`` entries best first (insertion sort: ``size`` is a few dozen)."""
    for a in range(1, size):
        v, i = hv[a], hi[a]
        b = a - 1
        while b >= 0 and _better(v, i, hv[b], hi[b]):
            hv[b + 1], hi[b + 1] = hv[b], hi[b]
            b -= 1
        hv[b + 1], hi[b + 1] = v, i


@numba.njit(cache=True, parallel=True, nogil=True)
def _top_k_rows(sim: np.ndarray, k: int, vals: np.ndarray, cols: np.ndarray) -> None:  # pragma: no cover
    for r in numba.prange(sim.shape[0]):
        hv, hi = vals[r], cols[r]
        size = 0
        for j in range(sim.shape[1]):
            size = _push(hv, hi, size, sim[r, j], j)
        _sort_heap(hv, hi, size)


def top_k(sim: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of each row's ``k`` largest entries, largest first.

    One pass per row with a heap of the ``k`` best (compiled, rows in parallel): no sort or
    partition of the whole row. Ties are broken by the lower column index.
    """
    sim = np.ascontiguousarray(sim)
    n, m = sim.shape
    k = int(min(k, m))
    vals = np.empty((n, k), sim.dtype)
    cols = np.empty((n, k), np.int64)
    if k > 0 and n > 0:
        _top_k_rows(sim, k, vals, cols)
    return cols, vals


@numba.njit(cache=True, parallel=True, nogil=True, fastmath=True)
def _probe_clusters(
    q: np.ndarray,
    cells: np.ndarray,
    ids: np.ndarray,
    starts: np.ndarray,
    order: np.ndarray,
    bounds: np.ndarray,
    n_probe: int,
    vals: np.ndarray,
    idx: np.ndarray,
    sizes: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Cluster by cluster (its cells stay in cache), every spot probing it offers its cells to its heap.

    The spots probing cluster ``c`` are ``order[bounds[c]:bounds[c + 1]] // n_probe`` (each once:
    parallel-safe); the cluster's cells are ``cells[starts[c]:starts[c + 1]]``, ids ``ids[...]``.
    """
    d = q.shape[1]
    for c in range(starts.size - 1):
        lo, hi = starts[c], starts[c + 1]
        b0, b1 = bounds[c], bounds[c + 1]
        for r in numba.prange(b1 - b0):
            s = order[b0 + r] // n_probe
            hv, hx = vals[s], idx[s]
            size = sizes[s]
            j = lo
            while j + 4 <= hi:  # four cells at a time: four independent sums (not one latency chain)
                a0 = a1 = a2 = a3 = np.float32(0.0)
                for a in range(d):
                    x = q[s, a]
                    a0 += x * cells[j, a]
                    a1 += x * cells[j + 1, a]
                    a2 += x * cells[j + 2, a]
                    a3 += x * cells[j + 3, a]
                size = _push(hv, hx, size, a0, ids[j])
                size = _push(hv, hx, size, a1, ids[j + 1])
                size = _push(hv, hx, size, a2, ids[j + 2])
                size = _push(hv, hx, size, a3, ids[j + 3])
                j += 4
            while j < hi:
                a0 = np.float32(0.0)
                for a in range(d):
                    a0 += q[s, a] * cells[j, a]
                size = _push(hv, hx, size, a0, ids[j])
                j += 1
            sizes[s] = size


@numba.njit(cache=True, parallel=True, nogil=True)
def _sort_heaps(vals: np.ndarray, idx: np.ndarray, sizes: np.ndarray) -> None:  # pragma: no cover - compiled
    for s in numba.prange(vals.shape[0]):
        _sort_heap(vals[s], idx[s], sizes[s])


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
        cells = np.ascontiguousarray(cells, np.float32)
        self.members = [np.flatnonzero(codes == t) for t in range(n_types)]
        self.depth = np.array([min(int(depth), m.size) for m in self.members])
        self.offsets = np.concatenate([[0], np.cumsum(self.depth)])
        self.n_probe = int(n_probe)
        #: per type its cells' coordinates and ids, the one copy the index keeps (an exactly searched
        #: type's in cell order, a clustered type's cluster by cluster)
        self.type_cells: list[tuple[np.ndarray, np.ndarray]] = []
        #: per type ``None`` (searched exactly) or ``(centres, cluster starts)`` into its ``type_cells``
        self.clusters: list[tuple[np.ndarray, np.ndarray] | None] = []
        if exact_type_cells is None:
            exact_type_cells = self.n_probe * cluster_cells
        for t, m in enumerate(self.members):
            if method == "exact" or m.size <= max(exact_type_cells, self.depth[t]):
                self.type_cells.append((cells[m], m))
                self.clusters.append(None)
                continue
            n_c = int(max(2, round(m.size / cluster_cells)))
            km = MiniBatchKMeans(n_c, init="random", random_state=seed + t, n_init=1, batch_size=4096, max_iter=20)
            labels = km.fit_predict(cells[m])
            centres = normalize(km.cluster_centers_).astype(np.float32)
            order = np.argsort(labels, kind="stable")  # the type's cells cluster by cluster
            starts = np.concatenate([[0], np.cumsum(np.bincount(labels, minlength=n_c))]).astype(np.int64)
            ids = m[order].astype(np.int64)
            self.type_cells.append((np.ascontiguousarray(cells[ids]), ids))
            self.clusters.append((centres, starts))

    def _exact(self, q: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
        cells, ids = self.type_cells[t]
        rows = max(1, _BLOCK // max(1, ids.size))
        idx, sim = [], []
        for start in range(0, q.shape[0], rows):
            cols, s = top_k(q[start : start + rows] @ cells.T, self.depth[t])
            idx.append(ids[cols])
            sim.append(s)
        return np.vstack(idx), np.vstack(sim)

    def _clustered(self, q: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
        (centres, starts), (cells, ids) = self.clusters[t], self.type_cells[t]
        n, n_probe = q.shape[0], min(self.n_probe, centres.shape[0])
        probe = top_k(q @ centres.T, n_probe)[0].ravel()  # each spot's nearest clusters of the type
        order = np.argsort(probe, kind="stable")  # the spots probing each cluster, cluster by cluster
        bounds = np.searchsorted(probe[order], np.arange(centres.shape[0] + 1))
        k = int(self.depth[t])
        sim = np.empty((n, k), np.float32)
        idx = np.empty((n, k), np.int64)
        sizes = np.zeros(n, np.int64)
        _probe_clusters(q, cells, ids, starts, order, bounds, n_probe, sim, idx, sizes)
        _sort_heaps(sim, idx, sizes)
        short = np.flatnonzero(sizes < k)
        if short.size:  # probed clusters hold fewer than k cells: the whole type
            idx[short], sim[short] = self._exact(q[short], t)
        return idx, sim

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
