"""Input validation: stop early on bad input with a message naming file, problem and fix.

Every check takes the :class:`~anndata.AnnData` plus the path it was read from, and raises
:class:`CommstInputError` when the input cannot be used. Checks that find something odd but
usable log a warning instead. Preprocessing calls :func:`validate_spatial` and
:func:`validate_reference` (or the single checks) right after reading.

The checks live in one module per concern: counts (``_counts``), names (``_names``),
coordinates (``_coords``), cell types (``_cell_types``), gene symbols (``_symbols``), the
spatial/reference pair (``_pair``), input sizes and memory (``_size``, ``_memory``) and the
prior artefacts (``_priors``).

Examples
--------
>>> from commst.io import read_spatial
>>> from commst import validate
>>> sp = read_spatial("outs/", "visium")  # doctest: +SKIP
>>> validate.validate_spatial(sp, "outs/", species="human")  # doctest: +SKIP
"""

from __future__ import annotations

from .._errors import CommstInputError
from ._bundles import validate_reference, validate_spatial
from ._cell_types import check_cell_types
from ._coords import check_coordinates
from ._counts import check_counts, check_not_empty
from ._memory import (
    MemoryEstimate,
    MemoryLimit,
    available_memory,
    check_memory,
    estimate_memory,
    memory_limit,
    preflight_memory,
)
from ._names import check_unique_names
from ._pair import MIN_SPOTS, check_after_qc, check_neighbours, check_shared_genes, neighbour_setting
from ._priors import check_prior_file, read_lr_table
from ._size import DataSize, peek_size
from ._symbols import MIN_KNOWN_SYMBOLS, SPECIES, check_gene_symbols

__all__ = [
    "MIN_KNOWN_SYMBOLS",
    "MIN_SPOTS",
    "SPECIES",
    "CommstInputError",
    "DataSize",
    "MemoryEstimate",
    "MemoryLimit",
    "available_memory",
    "check_after_qc",
    "check_cell_types",
    "check_coordinates",
    "check_counts",
    "check_gene_symbols",
    "check_memory",
    "check_neighbours",
    "check_not_empty",
    "check_prior_file",
    "check_shared_genes",
    "check_unique_names",
    "estimate_memory",
    "memory_limit",
    "neighbour_setting",
    "peek_size",
    "preflight_memory",
    "read_lr_table",
    "validate_reference",
    "validate_spatial",
]
