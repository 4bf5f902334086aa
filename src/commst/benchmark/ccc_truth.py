"""The truth of the communication-recovery scenario: LIANA+ on the unthinned data and the reference.

:func:`ccc_truth` runs once per benchmark sample (rule ``benchmark_ccc_truth``): the real LR
pairs among the measured targets, decoy and absent-ligand pairs, one label per spot, and
LIANA+ bivariate and rank_aggregate results on the truth and on the reference, which every
method's :func:`commst.benchmark.jobs.ccc_job` is compared with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from commst._constants import Keys, subunits
from commst.benchmark.ccc_recovery import absent_ligand_pairs, decoy_pairs
from commst.pp import counts_matrix, get_gene_sets, library_size, lognorm, target_sum_of


def _single_gene_pairs(lr: pd.DataFrame, genes: set[str]) -> pd.DataFrame:
    """LR pairs whose every subunit is in ``genes``."""

    def inside(x: str) -> bool:
        return all(g in genes for g in subunits(x))

    keep = lr["ligand"].map(inside) & lr["receptor"].map(inside)
    return lr.loc[keep, ["ligand", "receptor"]].drop_duplicates().reset_index(drop=True)


def ccc_genes_and_pairs(
    spatial: ad.AnnData, lr: pd.DataFrame, *, seed: int = 0
) -> tuple[list[str], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Genes imputed for the CCC scenario and the pairs LIANA scores on them.

    Returns
    -------
    ``(genes, real, decoys, absent)``: the measured LR targets plus the decoy genes; the real
    LR pairs among the measured targets; decoy pairs (:func:`decoy_pairs`, matched on mean and
    sparsity in the truth); real pairs whose ligand the truth does not express.
    """
    info = get_gene_sets(spatial)
    targets = [g for g in info.lr_targets if g in spatial.var_names]
    real = _single_gene_pairs(lr, set(targets))
    if real.empty:
        raise ValueError(
            "no LR pair of the LR database has all its genes among the sample's measured LR targets; "
            "communication recovery needs at least one pair (check lr_resource and preprocess.min_expr_frac)"
        )
    decoys = decoy_pairs(spatial, real, seed=seed)
    decoys = decoys[decoys["ligand"].isin(info.input) & decoys["receptor"].isin(info.input)]
    absent = absent_ligand_pairs(spatial, real)
    genes = list(dict.fromkeys([*targets, *decoys["ligand"], *decoys["receptor"]]))
    return genes, real, decoys.reset_index(drop=True), absent


def lognorm_adata(template: ad.AnnData, values: np.ndarray, genes: Sequence[str], labels: pd.Series) -> ad.AnnData:
    """Spots × ``genes`` of log-normalised ``values`` with the template's spots, coordinates and ``labels``."""
    out = ad.AnnData(
        X=np.asarray(values, dtype=np.float32),
        obs=pd.DataFrame(
            {"label": pd.Categorical(labels.reindex(template.obs_names).astype(str))}, index=template.obs_names.copy()
        ),
        var=pd.DataFrame(index=pd.Index(list(genes))),
    )
    out.obsm[Keys.obsm.spatial] = np.asarray(template.obsm[Keys.obsm.spatial], dtype=float)
    return out


def _celltype_options(options: Mapping[str, Any], seed: int) -> dict[str, Any]:
    return {
        "expr_prop": options.get("expr_prop", 0.1),
        "min_cells": options.get("min_cells", 5),
        "n_perms": options.get("n_perms", 100),
        "seed": seed,
    }


def liana_tables(
    adata: ad.AnnData, resource: pd.DataFrame, real: pd.DataFrame, *, options: Mapping[str, Any], seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """LIANA+ bivariate scores over ``resource`` and rank_aggregate of the ``real`` pairs over ``obs['label']``."""
    from commst.ccc import celltype_communication, spatial_bivariate

    _, biv = spatial_bivariate(
        adata,
        resource,
        bandwidth=options.get("bandwidth"),
        cutoff=options.get("cutoff", 0.1),
        local_name=options.get("local_metric", "cosine"),
        global_name=options.get("global_metric", "morans"),
        n_perms=options.get("n_perms", 100),
        seed=seed,
    )
    rank = celltype_communication(adata, real, groupby="label", **_celltype_options(options, seed))
    return biv, rank


def spot_labels(spatial: ad.AnnData, reference: ad.AnnData, *, seed: int = 0) -> pd.Series:
    """One cell-type label per spot used by every method's rank_aggregate.

    The spatial data's own ``obs['cell_type']`` when it has one (e.g. the STARmap split),
    otherwise the dominant cell type of the spot's matched reference cells by kNN on the
    unthinned truth (:func:`commst.tl.impute_knn`).
    """
    if Keys.obs.cell_type in spatial.obs:
        return spatial.obs[Keys.obs.cell_type].astype(str).rename("label")
    from commst.tl.methods.knn import impute_knn

    inputs = [g for g in get_gene_sets(spatial).input if g in reference.var_names]
    res = impute_knn(spatial, reference, targets=inputs[:1], input_genes=inputs, seed=seed)
    return pd.Series(np.asarray(res.labels).astype(str), index=spatial.obs_names, name="label")


def ccc_truth(
    spatial: ad.AnnData,
    reference: ad.AnnData,
    lr: pd.DataFrame,
    *,
    options: Mapping[str, Any],
    seed: int = 0,
) -> dict[str, pd.DataFrame]:
    """LIANA+ results on the truth and on the reference, with the pairs and labels of the CCC scenario.

    Parameters
    ----------
    spatial, reference
        Prepared pair; the spatial data are the (unthinned) truth.
    lr
        LR table (``ligand``, ``receptor``).
    options
        ``ccc`` options: ``bandwidth``, ``cutoff``, ``local_metric``, ``global_metric``,
        ``n_perms``, ``expr_prop``, ``min_cells``.
    seed
        Seed of decoys, labels and permutations.

    Returns
    -------
    Dict of tables: ``pairs`` (ligand, receptor, kind in {real, decoy, absent}),
    ``labels`` (spot, label), ``bivariate`` (truth), ``rank_aggregate`` (truth on the spot
    labels), ``reference_rank_aggregate`` (reference over its cell types).
    """
    from commst.ccc import celltype_communication

    genes, real, decoys, absent = ccc_genes_and_pairs(spatial, lr, seed=seed)
    labels = spot_labels(spatial, reference, seed=seed)
    values = lognorm(
        counts_matrix(spatial[:, genes]).toarray(), library_size(spatial), target_sum=target_sum_of(spatial)
    )
    truth = lognorm_adata(spatial, values, genes, labels)
    resource = pd.concat([real, decoys[["ligand", "receptor"]]], ignore_index=True).drop_duplicates()
    biv, rank = liana_tables(truth, resource, real, options=options, seed=seed)
    ref = reference[:, [g for g in genes if g in reference.var_names]].copy()
    ref_rank = celltype_communication(ref, real, groupby=Keys.obs.cell_type, **_celltype_options(options, seed))
    pairs = pd.concat(
        [
            real.assign(kind="real"),
            decoys[["ligand", "receptor"]].assign(kind="decoy"),
            absent[["ligand", "receptor"]].assign(kind="absent"),
        ],
        ignore_index=True,
    )
    return {
        "pairs": pairs,
        "labels": labels.rename_axis("spot").reset_index(),
        "bivariate": biv,
        "rank_aggregate": rank,
        "reference_rank_aggregate": ref_rank,
    }


def pair_keys(pairs: pd.DataFrame, kind: str) -> list[str]:
    """``ligand^receptor`` of the pairs of one ``kind`` (real, decoy, absent)."""
    sub = pairs[pairs["kind"] == kind]
    return (sub["ligand"].astype(str) + "^" + sub["receptor"].astype(str)).tolist()
