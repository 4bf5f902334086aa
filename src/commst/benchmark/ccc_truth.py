"""The truth of the communication-recovery scenario: LIANA+ on the unthinned data and the reference.

:func:`ccc_truth` runs once per benchmark sample (rule ``benchmark_ccc_truth``): the real LR
pairs among the measured targets, decoy, cross-decoy and absent-ligand pairs, one label per
spot, and LIANA+ bivariate scores (tested under each null of :func:`commst.ccc.lr_significance`)
and rank_aggregate results on the truth and on the reference, which every method's
:func:`commst.benchmark.jobs.ccc_job` is compared with. :func:`impute_ccc_genes` and
:func:`liana_tables` are what that job shares with the truth: the method's output is tested
exactly as the truth was.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from commst._constants import Keys, subunits
from commst.benchmark.ccc_recovery import absent_ligand_pairs, decoy_pairs
from commst.benchmark.data import thin_counts
from commst.benchmark.spec import MethodSpec
from commst.pp import counts_matrix, get_gene_sets, library_size, lognorm, target_sum_of


def _single_gene_pairs(lr: pd.DataFrame, genes: set[str]) -> pd.DataFrame:
    """LR pairs whose every subunit is in ``genes``."""

    def inside(x: str) -> bool:
        return all(g in genes for g in subunits(x))

    keep = lr["ligand"].map(inside) & lr["receptor"].map(inside)
    return lr.loc[keep, ["ligand", "receptor"]].drop_duplicates().reset_index(drop=True)


def ccc_genes_and_pairs(
    spatial: ad.AnnData, lr: pd.DataFrame, *, seed: int = 0, n_cross: int | None = 400
) -> tuple[list[str], pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Genes imputed for the CCC scenario and the pairs tested on them.

    Returns
    -------
    ``(genes, real, decoys, absent, cross)``: the measured LR targets plus the decoy genes;
    the real LR pairs among the measured targets; decoy pairs (:func:`decoy_pairs`, matched on
    mean and sparsity in the truth); real pairs whose ligand the truth does not express; cross
    decoys (:func:`commst.ccc.cross_decoys`: ligand × receptor genes of the measured targets
    that are partners in no pair of ``lr``, at most ``n_cross``).
    """
    from commst.ccc import cross_decoys

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
    cross = cross_decoys(lr, targets, max_n=n_cross, seed=seed)
    genes = list(dict.fromkeys([*targets, *decoys["ligand"], *decoys["receptor"]]))
    return genes, real, decoys.reset_index(drop=True), absent, cross


def lognorm_adata(
    template: ad.AnnData,
    values: np.ndarray,
    genes: Sequence[str],
    labels: pd.Series,
    null_labels: pd.Series | np.ndarray,
    uncertainty: np.ndarray | None = None,
) -> ad.AnnData:
    """Spots × ``genes`` of log-normalised ``values`` with the template's spots and coordinates.

    ``obs['label']`` holds ``labels`` (rank_aggregate's groups), ``obs['matched_cell_type']``
    the ``null_labels`` (the label nulls' groups) and ``layers['uncertainty']`` the sd of the
    values (the draw nulls'), when given.
    """
    out = ad.AnnData(
        X=np.asarray(values, dtype=np.float32),
        obs=pd.DataFrame(
            {
                "label": pd.Categorical(labels.reindex(template.obs_names).astype(str)),
                Keys.obs.matched_cell_type: pd.Categorical(np.asarray(null_labels).astype(str)),
            },
            index=template.obs_names.copy(),
        ),
        var=pd.DataFrame(index=pd.Index(list(genes))),
    )
    out.obsm[Keys.obsm.spatial] = np.asarray(template.obsm[Keys.obsm.spatial], dtype=float)
    if uncertainty is not None:
        out.layers[Keys.layers.uncertainty] = np.asarray(uncertainty, dtype=np.float32)
    return out


def _celltype_options(options: Mapping[str, Any], seed: int) -> dict[str, Any]:
    return {
        "expr_prop": options.get("expr_prop", 0.1),
        "min_cells": options.get("min_cells", 5),
        "n_perms": options.get("n_perms", 100),
        "seed": seed,
    }


def liana_tables(
    adata: ad.AnnData,
    resource: pd.DataFrame,
    real: pd.DataFrame,
    nulls: Sequence[str],
    *,
    options: Mapping[str, Any],
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """LIANA+ bivariate scores over ``resource`` tested under each null, and rank_aggregate of ``real``.

    Returns
    -------
    ``(bivariate, rank)``: one block of bivariate rows per null (column ``null``, p-values of
    :func:`commst.ccc.lr_significance` over ``obs['matched_cell_type']`` and
    ``layers['uncertainty']``); rank_aggregate of the ``real`` pairs over ``obs['label']``.
    """
    from commst.ccc import celltype_communication, lr_significance, spatial_bivariate

    global_name = options.get("global_metric", "morans")
    _, scores = spatial_bivariate(
        adata,
        resource,
        bandwidth=options.get("bandwidth"),
        cutoff=options.get("cutoff", 0.1),
        local_name=options.get("local_metric", "cosine"),
        global_name=global_name,
        null="spots",
        n_perms=0,  # scores only: each null is tested below
        seed=seed,
    )
    blocks = []
    for null in nulls:
        if scores.empty:
            blocks.append(scores.assign(null=null))
            continue
        tested = lr_significance(
            adata,
            scores,
            null=null,
            global_name=global_name,
            n_perms=options.get("n_perms", 199),
            n_draws=options.get("n_draws", 10),
            seed=seed,
        )
        untested = scores.drop(columns=["pvalue", "qvalue", "significant", "null"])
        blocks.append(untested.assign(pvalue=tested["pvalue"].to_numpy(), null=null))
    rank = celltype_communication(adata, real, groupby="label", **_celltype_options(options, seed))
    return pd.concat(blocks, ignore_index=True), rank


def null_labels(spatial: ad.AnnData, reference: ad.AnnData, inputs: Sequence[str], *, seed: int) -> pd.Series:
    """kNN label transfer: the dominant cell type of each spot's matched reference cells (the label nulls' groups)."""
    from commst.tl.methods.knn import impute_knn

    res = impute_knn(spatial, reference, targets=list(inputs)[:1], input_genes=list(inputs), seed=seed)
    return pd.Series(np.asarray(res.labels).astype(str), index=spatial.obs_names, name=Keys.obs.matched_cell_type)


def spot_labels(spatial: ad.AnnData, reference: ad.AnnData, *, seed: int = 0) -> pd.Series:
    """One cell-type label per spot used by every method's rank_aggregate.

    The spatial data's own ``obs['cell_type']`` when it has one (e.g. the STARmap split),
    otherwise the dominant cell type of the spot's matched reference cells by kNN on the
    unthinned truth (:func:`commst.tl.impute_knn`).
    """
    if Keys.obs.cell_type in spatial.obs:
        return spatial.obs[Keys.obs.cell_type].astype(str).rename("label")
    inputs = [g for g in get_gene_sets(spatial).input if g in reference.var_names]
    return null_labels(spatial, reference, inputs, seed=seed).rename("label")


def ccc_truth(
    spatial: ad.AnnData,
    reference: ad.AnnData,
    lr: pd.DataFrame,
    *,
    options: Mapping[str, Any],
    nulls: Sequence[str] = ("uncertainty_labels",),
    n_cross: int | None = 400,
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
        ``n_perms``, ``n_draws``, ``expr_prop``, ``min_cells``.
    nulls
        Nulls of the bivariate test (:data:`commst.ccc.NULLS`); the truth is measured data, so
        the draw nulls test it without draws.
    n_cross
        Most cross decoys (:func:`ccc_genes_and_pairs`).
    seed
        Seed of decoys, labels and permutations.

    Returns
    -------
    Dict of tables: ``pairs`` (ligand, receptor, kind in {real, decoy, absent, cross}),
    ``labels`` (spot, label of rank_aggregate, ``matched_cell_type``: kNN label transfer on the
    truth, the labels of the significance null), ``bivariate`` (truth, one block per null,
    column ``null``), ``rank_aggregate`` (truth on the spot labels), ``reference_rank_aggregate``
    (reference over its cell types).
    """
    from commst.ccc import celltype_communication

    genes, real, decoys, absent, cross = ccc_genes_and_pairs(spatial, lr, seed=seed, n_cross=n_cross)
    labels = spot_labels(spatial, reference, seed=seed)
    inputs = [g for g in get_gene_sets(spatial).input if g not in set(genes) and g in reference.var_names]
    groups = null_labels(spatial, reference, inputs, seed=seed)
    values = lognorm(
        counts_matrix(spatial[:, genes]).toarray(), library_size(spatial), target_sum=target_sum_of(spatial)
    )
    truth = lognorm_adata(spatial, values, genes, labels, groups.to_numpy())
    resource = pd.concat([real, decoys[["ligand", "receptor"]], cross], ignore_index=True).drop_duplicates()
    biv, rank = liana_tables(truth, resource, real, nulls, options=options, seed=seed)
    ref = reference[:, [g for g in genes if g in reference.var_names]].copy()
    ref_rank = celltype_communication(ref, real, groupby=Keys.obs.cell_type, **_celltype_options(options, seed))
    pairs = pd.concat(
        [
            real.assign(kind="real"),
            decoys[["ligand", "receptor"]].assign(kind="decoy"),
            absent[["ligand", "receptor"]].assign(kind="absent"),
            cross.assign(kind="cross"),
        ],
        ignore_index=True,
    )
    return {
        "pairs": pairs,
        "labels": pd.DataFrame(
            {"spot": spatial.obs_names, "label": labels.to_numpy(), Keys.obs.matched_cell_type: groups.to_numpy()}
        ),
        "bivariate": biv,
        "rank_aggregate": rank,
        "reference_rank_aggregate": ref_rank,
    }


def pair_keys(pairs: pd.DataFrame, kind: str) -> list[str]:
    """``ligand^receptor`` of the pairs of one ``kind`` (real, decoy, absent, cross)."""
    sub = pairs[pairs["kind"] == kind]
    return (sub["ligand"].astype(str) + "^" + sub["receptor"].astype(str)).tolist()


def negative_keys(pairs: pd.DataFrame) -> dict[str, list[str]]:
    """The negatives of :func:`commst.benchmark.ccc_recovery.bivariate_recovery` by kind."""
    return {
        "decoys": pair_keys(pairs, "decoy"),
        "absent": pair_keys(pairs, "absent"),
        "cross": pair_keys(pairs, "cross"),
    }


def impute_ccc_genes(
    spatial: ad.AnnData,
    reference: ad.AnnData,
    spec: MethodSpec,
    *,
    genes: Sequence[str],
    inputs: Sequence[str],
    labels: pd.Series,
    p: float,
    seed: int,
    scenario: str,
) -> tuple[ad.AnnData, float]:
    """Thin the spatial counts, impute the CCC ``genes`` with the method, log-normalise them.

    With ``scenario = "removed"`` the genes are removed from the thinned data first. A method
    without its own uncertainty or spot labels gets the kNN neighbours'
    (:func:`commst.tl.fill_missing`), so that every output carries what the nulls need.

    Returns
    -------
    ``(imputed, runtime_s)``: :func:`lognorm_adata` of the imputed values with ``labels``,
    the method's labels as the nulls' groups, ``layers['uncertainty']`` (sd of the
    log-normalised values, :func:`commst.tl.log_scale_sd`) and ``uns['sources']``; the
    seconds the method took.
    """
    from commst.tl import fill_missing, log_scale_sd

    start = time.perf_counter()
    thinned = thin_counts(spatial, p, seed=seed)
    lib, target_sum = library_size(thinned), target_sum_of(spatial)
    data = thinned
    if scenario == "removed":
        data = thinned[:, [g for g in thinned.var_names if g not in set(genes)]].copy()
    res = spec.func(data, reference, targets=list(genes), input_genes=list(inputs), seed=seed, **spec.params)
    runtime = time.perf_counter() - start
    res = fill_missing(res, data, reference, input_genes=inputs, seed=seed)
    order = [res.targets.index(g) for g in genes]
    pred = res.counts[:, order]
    sd = log_scale_sd(pred, np.asarray(res.uncertainty)[:, order], lib, target_sum=target_sum)
    groups = res.labels.reindex(spatial.obs_names).astype(str).to_numpy()
    values = lognorm(pred, lib, target_sum=target_sum)
    imputed = lognorm_adata(spatial, values, genes, labels, groups, sd)
    imputed.uns["sources"] = {k: res.extra[k] for k in ("uncertainty_source", "labels_source")}
    return imputed, runtime
