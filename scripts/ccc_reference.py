"""The same cell-type-level LIANA+ analysis on the scRNA-seq reference (Snakemake script)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  (the workflow runs without installing commst)


import anndata as ad
import pandas as pd

from commst._utils import collect_warnings, run_logged, write_table, write_warnings
from commst.ccc import celltype_tables


def main(snakemake):
    options = snakemake.params.ccc
    with collect_warnings() as warnings:
        reference = ad.read_h5ad(snakemake.input.reference)
        lr = pd.read_csv(snakemake.input.lr, sep="\t")
        tables = celltype_tables(
            reference,
            lr,
            groupby="cell_type",
            methods=snakemake.params.methods,
            options=options,
            seed=snakemake.params.seed,
            sample=snakemake.wildcards.sample,
            step="ccc_reference",
            path=snakemake.input.reference,
        )
    for path, table in zip(snakemake.output.tables, tables.values()):
        write_table(table, path)
    write_warnings(warnings, snakemake.output.warnings, step="ccc_reference")


run_logged(snakemake.log[0], main, snakemake)  # noqa: F821
