"""LIANA+ on the imputed spots: bivariate spatial scores and cell-type-level methods (Snakemake script)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  (the workflow runs without installing commst)


import anndata as ad
import pandas as pd

from commst._utils import run_logged, write_table
from commst.ccc import celltype_communication, spatial_bivariate


def main(snakemake):
    options = snakemake.params.ccc
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
    )
    write_table(table, snakemake.output.bivariate)
    for method, path in zip(snakemake.params.methods, snakemake.output.celltype):
        result = celltype_communication(
            imputed,
            lr,
            groupby="matched_cell_type",
            method=method,
            expr_prop=options["expr_prop"],
            min_cells=options["min_cells"],
            n_perms=options["n_perms"],
            seed=snakemake.params.seed,
        )
        write_table(result, path)


run_logged(snakemake.log[0], main, snakemake)  # noqa: F821
