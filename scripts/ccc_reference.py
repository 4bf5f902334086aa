"""The same cell-type-level LIANA+ analysis on the scRNA-seq reference (Snakemake script)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  (the workflow runs without installing commst)


import anndata as ad
import pandas as pd

from commst._utils import run_logged, write_table
from commst.ccc import celltype_tables


def main(snakemake):
    options = snakemake.params.ccc
    reference = ad.read_h5ad(snakemake.input.reference)
    lr = pd.read_csv(snakemake.input.lr, sep="\t")
    tables = celltype_tables(
        reference, lr, groupby="cell_type", methods=snakemake.params.methods, options=options, seed=snakemake.params.seed
    )
    for path, table in zip(snakemake.output, tables.values()):
        write_table(table, path)


run_logged(snakemake.log[0], main, snakemake)  # noqa: F821
