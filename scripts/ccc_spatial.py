"""LIANA+ on the imputed spots: bivariate spatial scores and cell-type-level methods (Snakemake script)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  (the workflow runs without installing commst)


import logging

import anndata as ad
import pandas as pd

from commst._constants import Keys
from commst._utils import collect_warnings, run_logged, write_table, write_warnings
from commst.ccc import celltype_tables, spatial_bivariate


def main(snakemake):
    options = snakemake.params.ccc
    sample = snakemake.wildcards.sample
    with collect_warnings() as warnings:
        imputed = ad.read_h5ad(snakemake.input.imputed)
        lr = pd.read_csv(snakemake.input.lr, sep="\t")
        _, table = spatial_bivariate(
            imputed,
            lr,
            bandwidth=options["bandwidth"],
            cutoff=options["cutoff"],
            local_name=options["local_metric"],
            global_name=options["global_metric"],
            n_perms=options["n_perms"],
            seed=snakemake.params.seed,
            sample=sample,
            path=snakemake.input.imputed,
        )
        groupby = Keys.obs.matched_cell_type
        if groupby not in imputed.obs:  # raw, gimvi, hvg_ae: the method labels no spot
            logging.getLogger("commst").warning(
                "%s: the imputation method labels no spot with a cell type (no obs[%r]); the label-level "
                "CCC tables (%s) are empty",
                snakemake.input.imputed,
                groupby,
                ", ".join(snakemake.params.methods),
            )
            imputed.obs[groupby] = pd.Categorical(["unlabelled"] * imputed.n_obs)  # one group: empty tables
        tables = celltype_tables(
            imputed,
            lr,
            groupby=groupby,
            methods=snakemake.params.methods,
            options=options,
            seed=snakemake.params.seed,
            sample=sample,
            step="ccc_spatial",
            path=snakemake.input.imputed,
        )
    write_table(table, snakemake.output.bivariate)
    for path, celltype in zip(snakemake.output.celltype, tables.values()):
        write_table(celltype, path)
    write_warnings(warnings, snakemake.output.warnings, step="ccc_spatial")


run_logged(snakemake.log[0], main, snakemake)  # noqa: F821
