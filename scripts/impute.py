"""Impute the LR targets of one sample with the configured method (Snakemake script)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  (the workflow runs without installing commst)


import logging

import anndata as ad

from commst._utils import run_logged, write_h5ad, write_table
from commst.model import quality_table
from commst.pp import get_gene_sets
from commst.tl import build_imputed, fill_missing, get_meta, log_selection, with_heldout_check
from commst.validate import check_neighbours


def main(snakemake):
    spatial = ad.read_h5ad(snakemake.input.spatial)
    reference = ad.read_h5ad(snakemake.input.reference)
    genes = get_gene_sets(spatial)
    method = snakemake.params.method
    meta = get_meta(method)
    params = dict(snakemake.params.method_params)
    if meta.neighbours in params:  # e.g. knn's k
        key = f"{meta.config_section}.{meta.neighbours}"
        check_neighbours(params[meta.neighbours], reference.n_obs, key=key, path=snakemake.input.reference)
    logging.getLogger("commst").info("imputing %d LR targets with %s %s", len(genes.lr_targets), method, sorted(params))
    result = meta.function()(
        spatial,
        reference,
        targets=genes.lr_targets,
        input_genes=genes.input,
        seed=snakemake.params.seed,
        **params,
    )
    log_selection(result.extra)  # one line per candidate setting, then the kept one and why
    # a method without its own held-out check (all but commst) gets one: masked input genes, it and knn
    result = with_heldout_check(
        result,
        method,
        spatial,
        reference,
        input_genes=genes.input,
        seed=snakemake.params.seed,
        params=params,
        rounds=snakemake.params.heldout_rounds,
    )
    # a method without its own uncertainty or spot labels gets the kNN neighbours' (recorded in uns)
    result = fill_missing(result, spatial, reference, input_genes=list(genes.input), seed=snakemake.params.seed)
    provenance = snakemake.params.provenance
    imputed = build_imputed(
        spatial,
        result,
        method=method,
        params=provenance,
        resources={"lr_resource": provenance["lr_resource"]["name"], "lr_table": snakemake.input.lr},
        target_sum=provenance["preprocess"]["target_sum"],
    )
    write_h5ad(imputed, snakemake.output.imputed)
    # the run's built-in held-out check (masked input genes, the method and knn; header only when off)
    write_table(quality_table(result), snakemake.output.quality)


run_logged(snakemake.log[0], main, snakemake)  # noqa: F821
