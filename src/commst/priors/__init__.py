"""Biological priors: LR databases, STRING PPI and NicheNet-style ligand → target regulation.

Bundled tables live in ``resources/priors/bundled`` (provenance in ``resources/priors/README.md``);
built per-species artefacts in ``resources/priors/{species}/`` (``$COMMST_PRIORS_DIR`` overrides).

Model-facing API
----------------
:func:`load_lr_resource`, :func:`lr_genes`, :func:`load_alias_map` (used by preprocess),
:func:`ppi_graph` (gene × gene sparse graph), :func:`ligand_target_matrix` (dense targets ×
ligands DataFrame) and :func:`load_ligand_target` (sparse :class:`LigandTargetMatrix`).

Validation
----------
:func:`load_validation` (textbook ligand → response-gene pairs, tuning / held-out halves),
:func:`ligand_specificity` (own column vs ligand-agnostic row mean vs other ligands, AUROC),
:func:`mask_validation_pairs` (builder networks without the validation pairs' own edges).
"""

from __future__ import annotations

from ._artefacts import (
    ARTEFACT_NAMES,
    artefact_dir,
    build_priors,
    ligand_target_matrix,
    load_ligand_target,
    write_ligand_target_artefact,
    write_lr_artefact,
    write_manifest,
    write_ppi_artefact,
)
from ._genes import harmonise_symbols, known_symbols, load_alias_map, load_orthologs, ortholog_map
from ._ligand_target import LigandTargetMatrix, read_nichenet_rds
from ._lr import available_resources, complex_subunits, load_lr_resource, lr_genes
from ._networks import load_networks
from ._nichenet import DEFAULT_PARAMS, build_ligand_target, personalized_pagerank, weighted_networks
from ._paths import CommstPriorsError, bundled_dir
from ._ppi import ppi_graph, read_string_official, string_edges
from ._validation import (
    auroc,
    ligand_specificity,
    load_validation,
    mask_validation_pairs,
    summarise_specificity,
    validation_dir,
)

__all__ = [
    "ARTEFACT_NAMES",
    "DEFAULT_PARAMS",
    "CommstPriorsError",
    "LigandTargetMatrix",
    "artefact_dir",
    "auroc",
    "available_resources",
    "build_ligand_target",
    "build_priors",
    "bundled_dir",
    "complex_subunits",
    "harmonise_symbols",
    "known_symbols",
    "ligand_specificity",
    "ligand_target_matrix",
    "load_alias_map",
    "load_ligand_target",
    "load_lr_resource",
    "load_networks",
    "load_orthologs",
    "load_validation",
    "lr_genes",
    "mask_validation_pairs",
    "ortholog_map",
    "personalized_pagerank",
    "ppi_graph",
    "read_nichenet_rds",
    "read_string_official",
    "string_edges",
    "summarise_specificity",
    "validation_dir",
    "weighted_networks",
    "write_ligand_target_artefact",
    "write_lr_artefact",
    "write_manifest",
    "write_ppi_artefact",
]
