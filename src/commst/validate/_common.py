"""Helpers shared by the input checks: message fragments, matrix access, docstrings."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

from .._constants import Keys
from .._errors import CommstInputError, PathLike

__all__ = ["CommstInputError", "PathLike", "examples", "matrix", "row_sums", "shared_doc", "stored_values"]

_F = TypeVar("_F", bound=Callable[..., Any])

_COMMON_PARAMS = """adata
        Data to check.
    path
        File ``adata`` was read from (named in the error message)."""


def shared_doc(func: _F) -> _F:
    """Fill the shared ``adata``/``path`` parameter text into ``func``'s docstring."""
    func.__doc__ = func.__doc__.replace("{common}", _COMMON_PARAMS)
    return func


def matrix(adata: AnnData, layer: str | None) -> np.ndarray | sparse.spmatrix:
    """``X`` (``layer=None``) or ``layers[layer]``."""
    if layer is None:
        return adata.X
    return adata.layers[layer]


def stored_values(mat: np.ndarray | sparse.spmatrix) -> np.ndarray:
    """Stored values: the nonzeros of a sparse matrix, all entries of a dense one."""
    if sparse.issparse(mat):
        return np.asarray(mat.data)
    return np.asarray(mat).ravel()


def examples(items: Sequence[object] | pd.Index, n: int = 5) -> str:
    """The first ``n`` items quoted, and how many more there are."""
    items = list(items)
    shown = ", ".join(repr(str(x)) for x in items[:n])
    return shown + (f" … (+{len(items) - n} more)" if len(items) > n else "")


def row_sums(mat: np.ndarray | sparse.spmatrix) -> np.ndarray:
    """Row sums of a dense or sparse matrix as a flat array."""
    return np.asarray(mat.sum(axis=1)).ravel()


def shown_key(adata: AnnData, key: str) -> str:
    """The user's name of the label column (the reader copies obs[cell_type_key] to obs['cell_type'])."""
    if key != Keys.obs.cell_type:
        return key
    return adata.uns.get(Keys.uns.commst_input, {}).get("cell_type_key", key)
