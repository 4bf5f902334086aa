"""Preprocessing: gene symbol harmonisation, QC, normalisation, choice of gene sets."""

from ._genes import harmonise_genes
from ._genesets import GeneSets, get_gene_sets, set_gene_sets
from ._normalise import (
    DEFAULT_TARGET_SUM,
    counts_from_lognorm,
    counts_matrix,
    library_size,
    lognorm,
    normalise,
    target_sum_of,
)
from ._prepare import DEFAULTS, expressed_fraction, prepare, select_lr_targets

__all__ = [
    "DEFAULTS",
    "DEFAULT_TARGET_SUM",
    "GeneSets",
    "counts_from_lognorm",
    "counts_matrix",
    "expressed_fraction",
    "get_gene_sets",
    "harmonise_genes",
    "library_size",
    "lognorm",
    "normalise",
    "prepare",
    "select_lr_targets",
    "set_gene_sets",
    "target_sum_of",
]
