"""Biological priors: LR databases, STRING PPI and NicheNet-style ligand → target regulation.

Bundled tables live in ``resources/priors/bundled`` (provenance in ``resources/priors/README.md``).
"""

from __future__ import annotations

from ._genes import harmonise_symbols, load_alias_map, load_orthologs, ortholog_map
from ._lr import available_resources, complex_subunits, load_lr_resource, lr_genes
from ._paths import CommstPriorsError, bundled_dir

__all__ = [
    "CommstPriorsError",
    "available_resources",
    "bundled_dir",
    "complex_subunits",
    "harmonise_symbols",
    "load_alias_map",
    "load_lr_resource",
    "load_orthologs",
    "lr_genes",
    "ortholog_map",
]
