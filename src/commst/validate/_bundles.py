"""Every check of spatial data, and of a reference, in one call each."""

from __future__ import annotations

import numpy as np
from anndata import AnnData

from .._constants import Keys
from ._cell_types import check_cell_types
from ._common import PathLike
from ._coords import check_coordinates
from ._counts import check_counts, check_not_empty
from ._names import check_unique_names
from ._symbols import check_gene_symbols


def validate_spatial(
    adata: AnnData,
    path: PathLike,
    *,
    species: str,
    allow_non_integer: bool = False,
) -> np.ndarray:
    """Run every check that applies to spatial data.

    Names, emptiness, counts, coordinates and gene symbols, in that order.

    Returns
    -------
    Boolean mask of spots with zero counts (see :func:`check_not_empty`).
    """
    check_unique_names(adata, path)
    empty = check_not_empty(adata, path)
    check_counts(adata, path, allow_non_integer=allow_non_integer)
    check_coordinates(adata, path)
    check_gene_symbols(adata, path, species)
    return empty


def validate_reference(
    adata: AnnData,
    path: PathLike,
    *,
    species: str,
    min_cells: int | None = None,
    cell_type_key: str = Keys.obs.cell_type,
    allow_non_integer: bool = False,
) -> np.ndarray:
    """Run every check that applies to a single-cell reference.

    Names, emptiness, counts, cell types and gene symbols, in that order. Rare cell types
    (``min_cells``) are only warned about; :func:`commst.pp.prepare` judges them after QC.

    Returns
    -------
    Boolean mask of cells with zero counts (see :func:`check_not_empty`).
    """
    check_unique_names(adata, path)
    empty = check_not_empty(adata, path)
    check_counts(adata, path, allow_non_integer=allow_non_integer)
    check_cell_types(adata, path, cell_type_key, min_cells)
    check_gene_symbols(adata, path, species)
    return empty
