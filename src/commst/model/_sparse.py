"""Sparse × sparse products with dense results, rows in parallel (compiled).

Every prediction of the model is ``weights @ counts`` with both sparse (spots × cells weights,
cells × genes counts) and a dense result. scipy's CSR product is single-threaded and builds a
sparse result in two passes (its size, then its entries) that the model makes dense at once;
:func:`dense_product` accumulates each row of the result straight into a dense row instead,
rows in parallel.
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp


@numba.njit(cache=True, parallel=True, nogil=True)
def _rows_product(
    a_ptr: np.ndarray,
    a_idx: np.ndarray,
    a_val: np.ndarray,
    b_ptr: np.ndarray,
    b_idx: np.ndarray,
    b_val: np.ndarray,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    for r in numba.prange(out.shape[0]):
        row = out[r]
        row[:] = 0
        for p in range(a_ptr[r], a_ptr[r + 1]):
            c, w = a_idx[p], a_val[p]
            for q in range(b_ptr[c], b_ptr[c + 1]):
                row[b_idx[q]] += w * b_val[q]


def dense_product(a: sp.spmatrix, b: sp.spmatrix, dtype: type[np.floating] = np.float64) -> np.ndarray:
    """``(a @ b)`` as a dense array of ``dtype`` (accumulated in ``dtype``), for sparse ``a`` and ``b``.

    Equal to ``(a @ b).toarray()`` up to the rounding of ``dtype``. ``b`` is read as stored (a
    float32 ``b`` with int32 indices moves half the bytes of a float64 one: the product is
    bound by reading ``b``'s rows).
    """
    a, b = sp.csr_matrix(a), sp.csr_matrix(b)
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"shapes {a.shape} and {b.shape} do not multiply")
    out = np.empty((a.shape[0], b.shape[1]), dtype)
    if out.size:
        _rows_product(a.indptr, a.indices, a.data.astype(dtype, copy=False), b.indptr, b.indices, b.data, out)
    return out
