"""Preprocessing: gene symbol harmonisation, QC, normalisation, choice of gene sets."""

from ._genes import harmonise_genes
from ._prepare import DEFAULTS, counts_matrix, expressed_fraction, normalise, prepare, select_lr_targets

__all__ = [
    "DEFAULTS",
    "counts_matrix",
    "expressed_fraction",
    "harmonise_genes",
    "normalise",
    "prepare",
    "select_lr_targets",
]
