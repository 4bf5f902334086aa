"""Preprocessing: QC, normalisation and the choice of LR target and input genes."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._constants import Keys
from ..validate import (
    MIN_SPOTS,
    CommstInputError,
    check_after_qc,
    check_cell_types,
    check_coordinates,
    check_shared_genes,
)
from ._genes import harmonise_genes
from ._genesets import GeneSets, set_gene_sets
from ._normalise import DEFAULT_TARGET_SUM, counts_matrix, normalise

logger = logging.getLogger(__name__)

#: Library defaults of :func:`prepare`; the workflow's config schema carries the same values
#: (``tests/test_config.py`` checks that they agree).
DEFAULTS: dict[str, float | int] = {
    "min_expr_frac": 0.05,
    "min_shared_genes": 50,
    "min_shared_genes_hard": 10,
    "min_cells_per_type": 10,
    "min_counts_spot": 10,
    "min_counts_cell": 10,
    "target_sum": DEFAULT_TARGET_SUM,
}


def expressed_fraction(
    reference: ad.AnnData, genes: Iterable[str], *, groupby: str = Keys.obs.cell_type
) -> pd.DataFrame:
    """Share of cells with a non-zero count, per cell type (rows) and gene (columns)."""
    genes = [g for g in genes if g in reference.var_names]
    counts = counts_matrix(reference[:, genes]) > 0
    labels = reference.obs[groupby].astype("category")
    onehot = sp.csr_matrix(pd.get_dummies(labels).to_numpy(dtype=np.float32))
    n_per_type = np.asarray(onehot.sum(axis=0)).ravel()
    frac = (onehot.T @ counts.astype(np.float32)).toarray() / n_per_type[:, None]
    return pd.DataFrame(frac, index=labels.cat.categories, columns=genes)


def select_lr_targets(
    reference: ad.AnnData,
    lr_genes: Iterable[str],
    *,
    min_expr_frac: float = DEFAULTS["min_expr_frac"],
    groupby: str = Keys.obs.cell_type,
) -> list[str]:
    """LR genes the reference expresses: share of expressing cells ≥ ``min_expr_frac`` in ≥ 1 cell type.

    Returns the genes in reference order.
    """
    frac = expressed_fraction(reference, lr_genes, groupby=groupby)
    keep = set(frac.columns[(frac >= min_expr_frac).any(axis=0)])
    return [g for g in reference.var_names if g in keep]


def _filter_low_counts(adata: ad.AnnData, min_counts: int, what: str) -> ad.AnnData:
    totals = np.asarray(counts_matrix(adata).sum(axis=1)).ravel()
    keep = totals >= min_counts
    if not keep.all():
        logger.info("removed %d of %d %s with fewer than %d counts", (~keep).sum(), len(keep), what, min_counts)
    return adata[keep].copy()


def _check_input_counts(adata: ad.AnnData, inputs: list[str], path: str, what: str) -> None:
    """The input genes must carry counts somewhere: all-zero input matches nothing to nothing."""
    total = float(counts_matrix(adata[:, inputs]).sum()) if inputs else 0.0
    if total == 0:
        raise CommstInputError(
            path,
            f"the {len(inputs)} input genes (measured in both datasets) have no counts in any of the "
            f"{adata.n_obs} {what} after QC",
            "check that the counts matrix is the intended one (raw counts of the whole panel) and that "
            "both files name genes the same way",
        )


def prepare(
    spatial: ad.AnnData,
    reference: ad.AnnData,
    lr_genes: tuple[Iterable[str], Iterable[str]],
    *,
    alias_map: Mapping[str, str] | None = None,
    min_expr_frac: float = DEFAULTS["min_expr_frac"],
    min_shared_genes: int = DEFAULTS["min_shared_genes"],
    min_shared_genes_hard: int = DEFAULTS["min_shared_genes_hard"],
    min_cells_per_type: int = DEFAULTS["min_cells_per_type"],
    min_counts_spot: int = DEFAULTS["min_counts_spot"],
    min_counts_cell: int = DEFAULTS["min_counts_cell"],
    target_sum: float = DEFAULTS["target_sum"],
) -> tuple[ad.AnnData, ad.AnnData]:
    """Harmonise, filter and normalise a spatial/reference pair and choose the gene sets.

    Parameters
    ----------
    spatial
        Spots × genes, raw counts, ``obsm['spatial']``.
    reference
        Cells × genes, raw counts, ``obs['cell_type']``.
    lr_genes
        ``(ligand genes, receptor genes)`` of the LR database, complex subunits split
        (:func:`commst.priors.lr_genes`).
    alias_map
        Alias → current symbol, applied to both datasets (:func:`harmonise_genes`).
    min_expr_frac
        An LR gene is a target when at least this share of cells of at least one cell type
        express it.
    min_shared_genes
        Fewer input genes (shared, non-target) than this give a warning (weaker imputation).
    min_shared_genes_hard
        Fewer input genes than this are an error (:class:`commst.validate.CommstInputError`
        naming both files): imputation from so few genes is meaningless.
    min_cells_per_type
        Reference cell types with fewer cells (after QC) give a warning naming them; their cells
        are kept (:func:`commst.validate.check_cell_types`).
    min_counts_spot, min_counts_cell
        Spots / cells with fewer total counts are removed.
    target_sum
        Library size for normalisation.

    Returns
    -------
    ``(spatial, reference)``, new objects. Both have ``layers['counts']``, log-normalised
    ``X``, ``obs['total_counts']`` and ``var`` flags ``is_ligand``, ``is_receptor``,
    ``is_lr_target``, ``is_input``; spatial also ``var['in_reference']`` and reference
    ``var['measured_in_spatial']``. The reference keeps the shared genes and the targets.
    ``spatial.uns['commst']['genes']`` (and the same in reference) holds the lists
    ``lr_targets`` (with its ``ligands`` and ``receptors``), ``input`` and ``shared`` and the harmonisation counts.

    Raises
    ------
    CommstInputError
        What QC leaves is checked again (:func:`commst.validate.check_after_qc`): fewer than
        :data:`commst.validate.MIN_SPOTS` spots or all at one position, fewer than two reference
        cell types, no LR target, fewer than ``min_shared_genes_hard`` input genes, or input
        genes without any count in the spots or the cells.
    """
    ligands, receptors = (set(g) for g in lr_genes)
    spatial_path = spatial.uns.get(Keys.uns.commst_input, {}).get("path", "spatial data")
    reference_path = reference.uns.get(Keys.uns.commst_input, {}).get("path", "reference")
    if Keys.obs.cell_type not in reference.obs:
        raise CommstInputError(
            reference_path,
            f"has no obs[{Keys.obs.cell_type!r}] (obs columns: {list(reference.obs.columns)[:20]})",
            "read it with commst.io.read_reference(path, cell_type_key=<your column>) or bring an AnnData in memory "
            "with commst.io.reference_from_anndata(adata, cell_type_key=<your column>); commst.tl.impute does both",
        )
    n_spots, n_cells = spatial.n_obs, reference.n_obs
    spatial = _filter_low_counts(harmonise_genes(spatial, alias_map), min_counts_spot, "spots")
    check_after_qc(
        spatial, spatial_path, n_before=n_spots, what="spots", minimum=MIN_SPOTS, qc_key="preprocess.min_counts_spot"
    )
    check_coordinates(spatial, spatial_path)
    reference = _filter_low_counts(harmonise_genes(reference, alias_map), min_counts_cell, "reference cells")
    check_after_qc(
        reference,
        reference_path,
        n_before=n_cells,
        what="reference cells",
        minimum=2,
        qc_key="preprocess.min_counts_cell",
    )
    reference.obs[Keys.obs.cell_type] = reference.obs[Keys.obs.cell_type].astype(str).astype("category")
    check_cell_types(
        reference,
        reference_path,
        Keys.obs.cell_type,
        min_cells_per_type,
        note=f" after QC ({n_cells - reference.n_obs} cells with fewer than preprocess.min_counts_cell counts removed)",
    )

    targets = select_lr_targets(reference, ligands | receptors, min_expr_frac=min_expr_frac)
    if not targets:
        raise CommstInputError(
            reference_path,
            f"no gene of the LR database is expressed in the reference (share of expressing cells "
            f">= {min_expr_frac} in any cell type; {len((ligands | receptors) & set(reference.var_names))} "
            "LR genes present at all)",
            "check the sample's species and the LR resource, or lower preprocess.min_expr_frac",
        )
    shared = [g for g in spatial.var_names if g in set(reference.var_names)]
    target_set = set(targets)
    inputs = [g for g in shared if g not in target_set]
    check_shared_genes(
        len(inputs),
        min_shared_genes_hard,
        spatial_path,
        reference_path,
        warn_below=min_shared_genes,
        spatial_genes=list(spatial.var_names),
        reference_genes=list(reference.var_names),
    )
    _check_input_counts(spatial, inputs, spatial_path, "spots")
    _check_input_counts(reference, inputs, reference_path, "reference cells")
    reference = reference[:, [g for g in reference.var_names if g in set(shared) | target_set]].copy()

    genes = GeneSets(
        lr_targets=targets,
        ligands=[g for g in targets if g in ligands],
        receptors=[g for g in targets if g in receptors],
        input=inputs,
        shared=shared,
        harmonised_spatial=dict(spatial.uns.pop(Keys.uns.genes_harmonised)),
        harmonised_reference=dict(reference.uns.pop(Keys.uns.genes_harmonised)),
    )
    for adata in (spatial, reference):
        normalise(adata, target_sum=target_sum)
        names = adata.var_names
        adata.var[Keys.var.is_ligand] = names.isin(list(ligands))
        adata.var[Keys.var.is_receptor] = names.isin(list(receptors))
        adata.var[Keys.var.is_lr_target] = names.isin(targets)
        adata.var[Keys.var.is_input] = names.isin(inputs)
        adata.uns[Keys.uns.commst] = {Keys.uns.target_sum: float(target_sum)}
        set_gene_sets(adata, genes)
    spatial.var[Keys.var.in_reference] = spatial.var_names.isin(reference.var_names)
    reference.var[Keys.var.measured_in_spatial] = reference.var_names.isin(spatial.var_names)
    logger.info(
        "%d spots, %d reference cells in %d types; %d LR targets (%d measured in spatial), %d input genes",
        spatial.n_obs,
        reference.n_obs,
        reference.obs[Keys.obs.cell_type].nunique(),
        len(targets),
        int(reference.var.loc[targets, Keys.var.measured_in_spatial].sum()),
        len(inputs),
    )
    return spatial, reference
